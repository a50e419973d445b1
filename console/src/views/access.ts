/**
 * Access requests (the lockbox): the requests this token may see — its own, its jurisdictions'
 * as a steward, all as an auditor — and, for pending ones, approve or deny. The server decides
 * who may approve (a steward of the jurisdiction located there, never the requester); the
 * console only asks.
 */
import { callJson, segment } from '../api.js';
import { type Child, el, h, replace, table, time } from '../dom.js';
import { button, errorBox, heading, loader, notice } from '../ui.js';

interface AccessRequestView {
  readonly id: string;
  readonly requester: string;
  readonly jurisdiction: string;
  readonly class: string;
  readonly subjects: readonly string[] | 'all';
  readonly actions: readonly string[];
  readonly purpose: string;
  readonly durationSeconds: number;
  readonly breakGlass: boolean;
  readonly status: string;
  readonly createdAt: string;
  readonly pendingExpiresAt: string;
  readonly decidedBy: string | null;
  readonly grantExpiresAt: string | null;
}

const STATUSES = ['pending', 'approved', 'denied', 'expired', 'revoked'] as const;

function duration(seconds: number): string {
  if (seconds % 3600 === 0) return `${seconds / 3600} h`;
  if (seconds % 60 === 0) return `${seconds / 60} min`;
  return `${seconds} s`;
}

/** The access requests view. */
export function accessView(): HTMLElement {
  const outcome = el('div');
  const filter = el(
    'select',
    { id: 'access-status', name: 'status' },
    {},
    el('option', { value: '' }, {}, 'all'),
    ...STATUSES.map((s) => el('option', { value: s, selected: s === 'pending' }, {}, s)),
  );

  const step = async (request: AccessRequestView, verb: 'approve' | 'deny'): Promise<void> => {
    try {
      const after = await callJson<AccessRequestView>(`/v1/access-requests/${segment(request.id)}/${verb}`, {
        method: 'POST',
      });
      replace(
        outcome,
        notice(
          after.status === 'approved'
            ? h('span', `Approved ${after.id}: a grant until `, time(after.grantExpiresAt))
            : `${verb === 'deny' ? 'Denied' : after.status} ${after.id}`,
        ),
      );
    } catch (error) {
      replace(outcome, errorBox(error));
    }
    await list.reload();
  };

  const list = loader('Access requests', async (): Promise<Child> => {
    const query = filter.value === '' ? '' : `?status=${encodeURIComponent(filter.value)}`;
    const { accessRequests } = await callJson<{ accessRequests: readonly AccessRequestView[] }>(
      `/v1/access-requests${query}`,
    );
    if (accessRequests.length === 0) {
      const which = filter.value === '' ? '' : `${filter.value} `;
      return el('p', { class: 'muted' }, {}, `No ${which}access requests that this token may see.`);
    }
    return table(
      null,
      ['Request', 'Status', 'Scope', 'Subjects', 'Purpose', 'Requested by', 'Created', 'Grant until', ''],
      accessRequests.map((r) => [
        el('code', {}, {}, r.id),
        el(
          'td',
          { class: `status-${r.status}`, 'data-status': r.status },
          {},
          r.status,
          r.breakGlass ? ' (break-glass)' : '',
        ),
        `${r.jurisdiction} ${r.class}: ${r.actions.join(', ')} for ${duration(r.durationSeconds)}`,
        r.subjects === 'all' ? 'all subjects' : r.subjects.join(', '),
        r.purpose,
        r.requester,
        time(r.createdAt),
        time(r.grantExpiresAt),
        r.status === 'pending'
          ? h(
              'span',
              button('Approve', () => step(r, 'approve'), { 'aria-label': `Approve ${r.id}` }),
              ' ',
              button('Deny', () => step(r, 'deny'), { 'aria-label': `Deny ${r.id}`, class: 'secondary' }),
            )
          : null,
      ]),
      { class: 'access-requests' },
    );
  });
  filter.addEventListener('change', () => void list.reload());
  void list.reload();

  return h(
    'section',
    heading('Access requests', button('Refresh', list.reload)),
    el(
      'p',
      { class: 'muted' },
      {},
      'Time-bound, scoped access to protected data. Approving takes a steward of the jurisdiction, located there, who did not ask.',
    ),
    el('p', { class: 'filter' }, {}, el('label', { for: 'access-status' }, {}, 'Status '), filter),
    outcome,
    list.node,
  );
}
