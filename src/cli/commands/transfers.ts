/** `domicile transfers report`: volumes moved per jurisdiction, destination and class, from the logs. */
import type { Command } from 'commander';
import type { JurisdictionTransferReport } from '../../services/transfer/report.js';
import { action, callApi, clientOptions, globalOptions, output } from '../common.js';

function format(reports: readonly JurisdictionTransferReport[]): string {
  const out: string[] = [];
  for (const r of reports) {
    out.push(`${r.jurisdiction} (log size ${r.logSize})`);
    out.push(`  protected plaintext records that left the jurisdiction: ${r.protectedPlaintextLeft}`);
    out.push(`  keys that left the jurisdiction: ${r.keyMaterialLeft}`);
    if (r.relocatedOut > 0) out.push(`  records that left with a relocated subject: ${r.relocatedOut}`);
    for (const [title, lines] of [
      ['allowed', r.allowed],
      ['refused', r.refused],
    ] as const) {
      if (lines.length === 0) continue;
      out.push(`  ${title}:`);
      for (const l of lines) {
        out.push(
          `    ${l.kind}\t→ ${l.destinationRegion} (${l.destinationCountry ?? '?'})\t${l.classId}\t${l.form}\t${l.category}\t${l.transfers} transfers\t${l.records} records\t${l.bytes} bytes`,
        );
      }
    }
  }
  return out.join('\n');
}

export function register(program: Command): void {
  const transfers = program.command('transfers').description('cross-region transfers (T1)');
  transfers
    .command('report')
    .description('volumes moved, computed from the transparency logs')
    .option('--jurisdiction <id>', 'one jurisdiction only')
    .action(
      action(async (opts: { jurisdiction?: string }, command: Command) => {
        const q = opts.jurisdiction ? `?jurisdiction=${encodeURIComponent(opts.jurisdiction)}` : '';
        const result = (await callApi(clientOptions(command), 'GET', `/v1/reports/transfers${q}`)) as {
          jurisdictions: JurisdictionTransferReport[];
        };
        output(globalOptions(command), result, () => format(result.jurisdictions));
      }),
    );
}
