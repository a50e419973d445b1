/** `domicile gateway`: a stateless gateway in front of region nodes running as their own processes. */
import type { Command } from 'commander';
import { loadConfigFile } from '../../server/deployment.js';
import { openGatewayProcess } from '../../server/gateway-process.js';
import { action, globalOptions } from '../common.js';
import { parseListen, runUntilSignal } from '../serve.js';

export function register(program: Command): void {
  program
    .command('gateway')
    .description(
      'run a gateway: the public API, forwarding to region nodes over mutual TLS; holds no keys, stores nothing',
    )
    .option('--name <name>', 'the gateway’s certificate name (pki/gateways/<name>.pem)', 'gateway-1')
    .option(
      '--control <store>',
      'the shared control store: `sqlite` or a postgres:// URL (default: $DOMICILE_CONTROL_STORE, else sqlite)',
    )
    .option('--listen <host:port>', 'address to listen on (default: $PORT, else the configuration’s server)')
    .action(
      action(async (opts: { name: string; control?: string; listen?: string }, command: Command) => {
        const options = globalOptions(command);
        const config = await loadConfigFile(options.config);
        const listen =
          opts.listen !== undefined
            ? parseListen(opts.listen)
            : { host: config.server.host, port: Number(process.env.PORT ?? config.server.port) };
        const gateway = await openGatewayProcess({
          config,
          dataDir: options.data,
          env: process.env,
          name: opts.name,
          ...(opts.control === undefined ? {} : { control: opts.control }),
          listen,
          logger: { level: process.env.DOMICILE_LOG_LEVEL ?? 'info' },
        });
        process.stdout.write(`gateway ${opts.name} is up at ${gateway.url}\n`);
        runUntilSignal(() => gateway.close());
      }),
    );
}
