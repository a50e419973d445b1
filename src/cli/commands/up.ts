/** `domicile up` (= `npm start`): the gateway and every region node in one process. */
import { relative } from 'node:path';
import type { Command } from 'commander';
import { loadLogKeys } from '../../server/audit-logs.js';
import {
  initDeployment,
  loadConfigFile,
  loadIssuerPrivateKey,
  openEmbedded,
} from '../../server/deployment.js';
import { issueToken } from '../../services/access/tokens.js';
import { action, globalOptions } from '../common.js';
import { runUntilSignal } from '../serve.js';

export function register(program: Command): void {
  program
    .command('up')
    .description('run the gateway and every region node in one process on the embedded SQLite stores')
    .option('--port <port>', 'port to listen on (default: $PORT, else the configuration, else 8080)')
    .option('--host <host>', 'address to listen on (default: the configuration, else 127.0.0.1)')
    .action(
      action(async (opts: { port?: string; host?: string }, command: Command) => {
        const options = globalOptions(command);
        const config = await loadConfigFile(options.config);
        const init = await initDeployment({ config, dataDir: options.data, env: process.env });
        if (init.masterKey.generated) {
          process.stderr.write(
            `warning: generated a new master key in ${options.data}/master.key (mode 0600); set DOMICILE_MASTER_KEY in production\n`,
          );
        }
        const embedded = await openEmbedded({
          config,
          dataDir: options.data,
          env: process.env,
          logger: { level: process.env.DOMICILE_LOG_LEVEL ?? 'info' },
        });
        const port = Number(opts.port ?? process.env.PORT ?? config.server.port);
        const host = opts.host ?? config.server.host;
        const address = await embedded.app.listen({ port, host });
        const url = address.replace('[::1]', 'localhost');
        const token = await issueToken({
          privateKey: await loadIssuerPrivateKey(options.data),
          issuer: config.auth.issuer,
          audience: config.auth.audience,
          ttlSeconds: 8 * 3600,
          claims: { sub: 'demo-steward', type: 'employee', dept: 'us-data-security', loc: 'US' },
        });
        const regions = [...embedded.nodes.keys()].join(', ');
        // how to call this same command again: `domicile` when installed, the script in a checkout
        const script = relative(process.cwd(), process.argv[1] ?? '');
        const self = script.endsWith('dist/src/cli/bin.js') ? `node ${script}` : 'domicile';
        process.stdout.write(
          [
            `Domicile is up at ${url}`,
            `  regions: ${regions}`,
            `  jurisdictions: ${[...config.jurisdictions.keys()].join(', ')}`,
            `  data: ${options.data}`,
            `  console: ${embedded.console.available ? `${url}/console/` : 'not built (run `npm run build`)'}`,
            '',
            'Try it (a demo token for a US data-security steward, valid 8 h):',
            `  export TOKEN=${token}`,
            `  curl -s -X PUT ${url}/v1/subjects/user-1 -H "authorization: Bearer $TOKEN" -H 'content-type: application/json' -d '{"jurisdiction":"US"}'`,
            `  curl -s -X PUT ${url}/v1/subjects/user-1/records/email -H "authorization: Bearer $TOKEN" -H 'content-type: application/json' -d '{"class":"protected","value":"ada@example.com"}'`,
            `  curl -s ${url}/v1/subjects/user-1/records/email -H "authorization: Bearer $TOKEN"`,
            '',
            ...(embedded.console.available
              ? [
                  // a fragment never reaches the server; the console moves the token into the
                  // tab's session storage and strips it from the address bar at once
                  'Or open the console, signed in with the same token:',
                  `  ${url}/console/#token=${token}`,
                  '',
                ]
              : []),
            'Audit it as an outsider would (every access is in the jurisdiction’s transparency log):',
            ...(await Promise.all(
              [...config.jurisdictions.values()].map(
                async (j) =>
                  `  ${self} audit verify --url ${url}/v1/logs/${j.id} --key ${(await loadLogKeys(options.data, j)).verifierKey}`,
              ),
            )),
            '',
          ].join('\n'),
        );
        runUntilSignal(() => embedded.close());
      }),
    );
}
