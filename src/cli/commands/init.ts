/**
 * `domicile init`: creates the master key, the token issuer key and the jurisdictions' keys; with
 * `--pki`, the deployment CA and the certificates of region nodes and gateways too.
 */
import type { Command } from 'commander';
import type { RegionId } from '../../domain/ids.js';
import { initDeployment, loadConfigFile } from '../../server/deployment.js';
import { type EnsurePkiReport, ensurePki } from '../../server/pki.js';
import { action, globalOptions, output } from '../common.js';

export function register(program: Command): void {
  program
    .command('init')
    .description(
      'create the keys of a deployment (idempotent): master key, token issuer, one KEK per jurisdiction',
    )
    .option(
      '--pki',
      'also create the deployment CA, a certificate per region node and gateway client certificates (under <data>/pki)',
    )
    .option('--gateways <names>', 'gateway certificates to issue with --pki, comma-separated', 'gateway-1')
    .option('--ca-name <name>', 'name of a new deployment CA', 'domicile deployment CA')
    .action(
      action(async (opts: { pki?: boolean; gateways: string; caName: string }, command: Command) => {
        const options = globalOptions(command);
        const config = await loadConfigFile(options.config);
        const init = await initDeployment({ config, dataDir: options.data, env: process.env });
        let pki: EnsurePkiReport | undefined;
        if (opts.pki) {
          const regions = [...config.regions.values()].filter((r) => r.status !== 'retired');
          pki = await ensurePki({
            dataDir: options.data,
            caName: opts.caName,
            regions: regions.map((r) => r.id),
            countries: new Map<RegionId, string>(regions.map((r) => [r.id, r.country])),
            gateways: opts.gateways
              .split(',')
              .map((g) => g.trim())
              .filter((g) => g !== ''),
          });
        }
        const report = { ...init, ...(pki ? { pki } : {}) };
        if (report.masterKey.generated) {
          process.stderr.write(
            `warning: generated a new master key in ${options.data}/master.key (mode 0600); set DOMICILE_MASTER_KEY in production\n`,
          );
        }
        output(options, report, () => {
          const lines = [`initialised ${options.data}`];
          lines.push(report.issuerCreated ? '  token issuer key: created' : '  token issuer key: present');
          for (const k of report.kekInstalled)
            lines.push(`  key of jurisdiction ${k.jurisdiction}: installed in ${k.region}`);
          for (const k of report.kekMissing) {
            lines.push(
              `  key of jurisdiction ${k.jurisdiction}: missing in ${k.region} (restore it with \`domicile backup restore-keys\`)`,
            );
          }
          for (const l of report.logs) {
            lines.push(
              `  log of jurisdiction ${l.jurisdiction}${l.created ? ' (created)' : ''}: verifier key ${l.verifierKey}`,
            );
          }
          if (pki) {
            lines.push(
              `  deployment CA: ${pki.caCreated ? 'created' : 'present'} (${options.data}/pki/ca.pem)`,
            );
            for (const r of pki.regionsIssued) lines.push(`  certificate of region ${r}: issued`);
            for (const g of pki.gatewaysIssued) lines.push(`  certificate of gateway ${g}: issued`);
            lines.push(
              `  keep ${options.data}/pki/ca.key off the nodes: it is needed only to issue certificates`,
            );
          }
          return lines.join('\n');
        });
      }),
    );
}
