#!/usr/bin/env node
/** The `domicile` command. Each subcommand lives in `commands/<verb>.ts`; this file only wires them. */
import { Command } from 'commander';
import * as access from './commands/access.js';
import * as audit from './commands/audit.js';
import * as backup from './commands/backup.js';
import * as gateway from './commands/gateway.js';
import * as init from './commands/init.js';
import * as migrate from './commands/migrate.js';
import * as policy from './commands/policy.js';
import * as records from './commands/records.js';
import * as region from './commands/region.js';
import * as routing from './commands/routing.js';
import * as spool from './commands/spool.js';
import * as subjects from './commands/subjects.js';
import * as token from './commands/token.js';
import * as transfers from './commands/transfers.js';
import * as up from './commands/up.js';
import * as wipe from './commands/wipe.js';
import * as witness from './commands/witness.js';
import { EXIT } from './common.js';

const program = new Command('domicile')
  .description('Keeps every user’s personal data in its home jurisdiction and proves it')
  .option('-c, --config <file>', 'configuration file (default: $DOMICILE_CONFIG or ./domicile.yaml)')
  .option('-d, --data <dir>', 'data folder (default: $DOMICILE_DATA or ./data)')
  .option('--gateway <url>', 'gateway URL for API commands (default: $DOMICILE_URL or http://127.0.0.1:8080)')
  .option('--token <jwt>', 'bearer token for API commands (default: $DOMICILE_TOKEN)')
  .option('--json', 'machine-readable output', false)
  .showHelpAfterError()
  .exitOverride((err) => {
    process.exit(err.exitCode === 0 ? EXIT.ok : EXIT.failure);
  });

for (const command of [
  init,
  up,
  region,
  gateway,
  token,
  subjects,
  records,
  access,
  policy,
  audit,
  witness,
  migrate,
  wipe,
  routing,
  spool,
  backup,
  transfers,
]) {
  command.register(program);
}

await program.parseAsync(process.argv);
