/** `domicile region`: one region node as its own process, serving its internal API over mutual TLS. */
import type { Command } from 'commander';
import { DomicileError } from '../../domain/errors.js';
import { loadConfigFile } from '../../server/deployment.js';
import { openRegionProcess } from '../../server/region-process.js';
import { action, globalOptions } from '../common.js';
import { parseListen, runUntilSignal } from '../serve.js';

export function register(program: Command): void {
  program
    .command('region')
    .description('run one region node: its store, keyring and logs, reached by gateways over mutual TLS')
    .requiredOption('--region <id>', 'the region this node serves')
    .option(
      '--store <store>',
      '`sqlite` or a postgres:// URL (default: $DOMICILE_REGION_STORE, else the configuration)',
    )
    .option(
      '--control <store>',
      'the shared control store: `sqlite` or a postgres:// URL (default: $DOMICILE_CONTROL_STORE, else sqlite)',
    )
    .option(
      '--listen <host:port>',
      'address to listen on (default: the region’s endpoint in the configuration)',
    )
    .action(
      action(
        async (
          opts: { region: string; store?: string; control?: string; listen?: string },
          command: Command,
        ) => {
          const options = globalOptions(command);
          const config = await loadConfigFile(options.config);
          const store = opts.store ?? process.env.DOMICILE_REGION_STORE;
          if (store !== undefined && store !== 'sqlite' && !/^postgres(ql)?:\/\//.test(store)) {
            throw new DomicileError('DOMICILE_ERR_USAGE', '--store is `sqlite` or a postgres:// URL');
          }
          const node = await openRegionProcess({
            config,
            dataDir: options.data,
            env: process.env,
            regionId: opts.region,
            ...(store === undefined ? {} : { store }),
            ...(opts.control === undefined ? {} : { control: opts.control }),
            ...(opts.listen === undefined ? {} : { listen: parseListen(opts.listen) }),
            logger: { level: process.env.DOMICILE_LOG_LEVEL ?? 'info' },
          });
          process.stdout.write(`region ${node.regionId} is up at ${node.url}\n`);
          runUntilSignal(() => node.close());
        },
      ),
    );
}
