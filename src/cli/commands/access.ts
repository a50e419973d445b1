/** `domicile access request|approve|deny|revoke|review|list`: the lockbox, through the HTTP API. */
import type { Command } from 'commander';
import { DomicileError } from '../../domain/errors.js';
import type { AccessRequestView } from '../../services/access/lockbox.js';
import { action, callApi, clientOptions, globalOptions, output } from '../common.js';
import { parseDuration } from './token.js';

/** One line per request: id, status, scope. */
function describe(r: AccessRequestView): string {
  const subjects = r.subjects === 'all' ? 'all subjects' : `${r.subjects.length} subject(s)`;
  const until = r.grantExpiresAt ? ` until ${r.grantExpiresAt}` : '';
  const review = r.review
    ? r.review.reviewedAt
      ? ` reviewed ${r.review.outcome}`
      : r.review.overdue
        ? ' REVIEW OVERDUE'
        : ` review due ${r.review.dueAt}`
    : '';
  return `${r.id}\t${r.status}${r.breakGlass ? ' (break-glass)' : ''}\t${r.jurisdiction} ${r.class} ${r.actions.join(',')} on ${subjects}\tby ${r.requester}${until}${review}`;
}

export function register(program: Command): void {
  const access = program
    .command('access')
    .description('ask for, approve, deny, revoke and list lockbox access');
  access
    .command('request')
    .description(
      'ask for time-bound access to a jurisdiction’s data (pending until an eligible approver acts)',
    )
    .requiredOption('--jurisdiction <id>', 'jurisdiction, e.g. US')
    .option('--class <class>', 'data class: protected, interoperable or deidentified', 'protected')
    .option('--subjects <ids>', 'comma-separated subject ids')
    .option('--all-subjects', 'every subject of the jurisdiction', false)
    .requiredOption('--actions <actions>', 'comma-separated: read, write, list, delete')
    .requiredOption('--purpose <text>', 'why (kept in the control store; the log keeps its hash)')
    .option(
      '--duration <duration>',
      'how long once approved, e.g. 30m, 2h (at most the configured maximum)',
      '1h',
    )
    .option(
      '--break-glass',
      'take effect at once (needs MFA; short maximum; raises an alert; reviewed later)',
      false,
    )
    .action(
      action(
        async (
          opts: {
            jurisdiction: string;
            class: string;
            subjects?: string;
            allSubjects: boolean;
            actions: string;
            purpose: string;
            duration: string;
            breakGlass: boolean;
          },
          command: Command,
        ) => {
          if (opts.allSubjects === (opts.subjects !== undefined)) {
            throw new DomicileError(
              'DOMICILE_ERR_USAGE',
              'give exactly one of --subjects and --all-subjects',
            );
          }
          const result = (await callApi(clientOptions(command), 'POST', '/v1/access-requests', {
            jurisdiction: opts.jurisdiction,
            class: opts.class,
            subjects: opts.allSubjects ? 'all' : (opts.subjects ?? '').split(',').filter((s) => s !== ''),
            actions: opts.actions.split(',').filter((a) => a !== ''),
            purpose: opts.purpose,
            durationSeconds: parseDuration(opts.duration),
            ...(opts.breakGlass ? { breakGlass: true } : {}),
          })) as AccessRequestView;
          output(globalOptions(command), result, () => describe(result));
        },
      ),
    );
  for (const verb of ['approve', 'deny', 'revoke'] as const) {
    access
      .command(`${verb} <id>`)
      .description(
        verb === 'revoke'
          ? 'revoke a pending request or an active grant'
          : `${verb} a pending request (an eligible approver, never the requester)`,
      )
      .action(
        action(async (id: string, _opts: unknown, command: Command) => {
          const result = (await callApi(
            clientOptions(command),
            'POST',
            `/v1/access-requests/${encodeURIComponent(id)}/${verb}`,
          )) as AccessRequestView;
          output(globalOptions(command), result, () => describe(result));
        }),
      );
  }
  access
    .command('review <id>')
    .description('review a break-glass grant after the fact; rejected revokes it if still active')
    .requiredOption('--outcome <outcome>', 'accepted or rejected')
    .action(
      action(async (id: string, opts: { outcome: string }, command: Command) => {
        if (opts.outcome !== 'accepted' && opts.outcome !== 'rejected') {
          throw new DomicileError(
            'DOMICILE_ERR_USAGE',
            `invalid --outcome \`${opts.outcome}\`: expected accepted or rejected`,
          );
        }
        const result = (await callApi(
          clientOptions(command),
          'POST',
          `/v1/access-requests/${encodeURIComponent(id)}/review`,
          { outcome: opts.outcome },
        )) as AccessRequestView;
        output(globalOptions(command), result, () => describe(result));
      }),
    );
  access
    .command('list')
    .description('list the access requests you may see (own; your jurisdictions as steward; all as auditor)')
    .option('--status <status>', 'pending, approved, denied, expired or revoked')
    .option('--jurisdiction <id>', 'only this jurisdiction')
    .option('--overdue', 'only break-glass grants whose review is overdue', false)
    .action(
      action(async (opts: { status?: string; jurisdiction?: string; overdue: boolean }, command: Command) => {
        const query = new URLSearchParams();
        if (opts.status !== undefined) query.set('status', opts.status);
        if (opts.jurisdiction !== undefined) query.set('jurisdiction', opts.jurisdiction);
        if (opts.overdue) query.set('reviewOverdue', 'true');
        const qs = query.toString();
        const result = (await callApi(
          clientOptions(command),
          'GET',
          `/v1/access-requests${qs === '' ? '' : `?${qs}`}`,
        )) as { accessRequests: AccessRequestView[] };
        output(globalOptions(command), result, () =>
          result.accessRequests.length === 0
            ? 'no access requests'
            : result.accessRequests.map(describe).join('\n'),
        );
      }),
    );
}
