/** `domicile token`: prints a bearer token signed by the deployment's issuer key. */
import type { Command } from 'commander';
import { DomicileError } from '../../domain/errors.js';
import { loadConfigFile, loadIssuerPrivateKey } from '../../server/deployment.js';
import { issueToken } from '../../services/access/tokens.js';
import { action, globalOptions, output } from '../common.js';

/** Parses `90s`, `15m`, `1h`, `7d` into seconds. */
export function parseDuration(text: string): number {
  const match = /^(\d{1,6})([smhd])$/.exec(text);
  if (!match?.[1] || !match[2]) {
    throw new DomicileError(
      'DOMICILE_ERR_USAGE',
      `invalid duration \`${text}\`: expected e.g. 90s, 15m, 1h, 7d`,
    );
  }
  const unit = { s: 1, m: 60, h: 3600, d: 86400 }[match[2] as 's' | 'm' | 'h' | 'd'];
  return Number(match[1]) * unit;
}

export function register(program: Command): void {
  program
    .command('token')
    .description('print a bearer token for a principal')
    .requiredOption('--sub <id>', 'principal id')
    .option('--type <type>', 'employee or service', 'employee')
    .option('--dept <department>', 'department, e.g. us-data-security')
    .option('--loc <country>', 'ISO country the principal is located in, e.g. US')
    .option('--roles <roles>', 'comma-separated roles, e.g. app,auditor', '')
    .option('--mfa', 'the principal authenticated with MFA', false)
    .option('--jurisdiction <id>', 'a service’s home jurisdiction, e.g. US')
    .option('--ttl <duration>', 'lifetime, e.g. 15m, 1h, 7d', '1h')
    .action(
      action(
        async (
          opts: {
            sub: string;
            type: string;
            dept?: string;
            loc?: string;
            roles: string;
            mfa: boolean;
            jurisdiction?: string;
            ttl: string;
          },
          command: Command,
        ) => {
          const options = globalOptions(command);
          if (opts.type !== 'employee' && opts.type !== 'service') {
            throw new DomicileError(
              'DOMICILE_ERR_USAGE',
              `invalid --type \`${opts.type}\`: expected employee or service`,
            );
          }
          const config = await loadConfigFile(options.config);
          const token = await issueToken({
            privateKey: await loadIssuerPrivateKey(options.data),
            issuer: config.auth.issuer,
            audience: config.auth.audience,
            ttlSeconds: parseDuration(opts.ttl),
            claims: {
              sub: opts.sub,
              type: opts.type,
              ...(opts.dept === undefined ? {} : { dept: opts.dept }),
              ...(opts.loc === undefined ? {} : { loc: opts.loc }),
              roles: opts.roles.split(',').filter((r) => r !== ''),
              mfa: opts.mfa,
              ...(opts.jurisdiction === undefined ? {} : { jur: opts.jurisdiction }),
            },
          });
          output(options, { token }, () => token);
        },
      ),
    );
}
