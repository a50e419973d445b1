/** `domicile init`: creates the master key, the token issuer key and the jurisdictions' keys. */
import type { Command } from 'commander';
import { initDeployment, loadConfigFile } from '../../server/deployment.js';
import { action, globalOptions, output } from '../common.js';

export function register(program: Command): void {
  program
    .command('init')
    .description(
      'create the keys of a deployment (idempotent): master key, token issuer, one KEK per jurisdiction',
    )
    .action(
      action(async (_opts: unknown, command: Command) => {
        const options = globalOptions(command);
        const config = await loadConfigFile(options.config);
        const report = await initDeployment({ config, dataDir: options.data, env: process.env });
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
          return lines.join('\n');
        });
      }),
    );
}
