/**
 * Subject: where a subject lives, its records, one record's value on request, and its access log
 * ("who touched my data, when and why") with every entry's inclusion proof checked here, in the
 * browser. The subject id stays in this view's memory: never in the address, the title or the
 * browser console.
 */
import { ApiError, callJson, segment } from '../api.js';
import { type AccessLog, type AccessLogChecks, checkAccessLog, type SignatureCheck } from '../checks.js';
import { type Child, el, h, replace, table, time } from '../dom.js';
import { encodeBase64 } from '../tlog.js';
import { button, errorBox, heading, loader } from '../ui.js';

const ID = /^[A-Za-z0-9._:-]{1,128}$/;

interface SubjectAnswer {
  readonly subjectId: string;
  readonly jurisdiction: string;
  readonly homeRegion: string;
  readonly records: number;
}

interface RecordsAnswer {
  readonly region?: string;
  readonly records: readonly { key: string; class: string; version: number; updatedAt: string }[];
}

interface RecordAnswer {
  readonly key: string;
  readonly class: string;
  readonly version: number;
  readonly region: string;
  readonly value: unknown;
}

/** A logged entry's fields as the table shows them (the entry itself is untrusted JSON). */
interface EntryView {
  readonly time?: unknown;
  readonly type?: unknown;
  readonly decision?: unknown;
  readonly reason?: unknown;
  readonly region?: unknown;
  readonly principal?: { id?: unknown; type?: unknown; department?: unknown; country?: unknown } | null;
}

const text = (v: unknown): string => (typeof v === 'string' && v !== '' ? v : '—');

function principalOf(entry: EntryView): string {
  const p = entry.principal;
  if (p === null || p === undefined || typeof p !== 'object') return 'the system';
  const where = [p.department, p.country].filter((x) => typeof x === 'string').join(', ');
  return `${text(p.id)} (${[text(p.type), where].filter((x) => x !== '' && x !== '—').join('; ')})`;
}

function signatureLine(signature: SignatureCheck): HTMLElement {
  switch (signature.state) {
    case 'verified':
      return el(
        'span',
        { class: 'good', 'data-signature': 'verified' },
        {},
        `signature verified with ${signature.key}`,
      );
    case 'failed':
      return el(
        'span',
        { class: 'bad', 'data-signature': 'failed' },
        {},
        `signature FAILED: ${signature.reason}`,
      );
    default:
      return el(
        'span',
        { class: 'warn', 'data-signature': 'unchecked' },
        {},
        `signature not checked: ${signature.reason}`,
      );
  }
}

function renderAccessLog(log: AccessLog, checks: AccessLogChecks): HTMLElement {
  const verified = checks.inclusion.filter((c) => c.ok).length;
  const total = log.entries.length;
  const cp = checks.checkpoint;
  return h(
    'div',
    cp === null
      ? el('p', { class: 'bad' }, {}, checks.checkpointError ?? 'no checkpoint')
      : el(
          'dl',
          { class: 'facts checkpoint' },
          {},
          h('dt', 'Log'),
          h('dd', cp.origin),
          h('dt', 'Checkpoint'),
          h('dd', `size ${cp.size}, root `, el('code', {}, {}, encodeBase64(cp.root))),
          h('dt', 'Signature'),
          h('dd', signatureLine(checks.signature)),
        ),
    el(
      'p',
      {
        class: `summary ${verified === total ? 'good' : 'bad'}`,
        'data-verified': verified,
        'data-total': total,
      },
      {},
      total === 0
        ? 'No entries about this subject yet.'
        : `${verified} of ${total} inclusion proofs verified in this browser against the checkpoint root.`,
    ),
    total === 0
      ? null
      : table(
          null,
          ['#', 'Time', 'Event', 'Decision', 'Principal', 'Reason', 'Region', 'Inclusion proof'],
          log.entries.map((item, i) => {
            const entry = (
              typeof item.entry === 'object' && item.entry !== null ? item.entry : {}
            ) as EntryView;
            const check = checks.inclusion[i] ?? { ok: false, reason: 'not checked' };
            return [
              String(item.index),
              time(typeof entry.time === 'string' ? entry.time : null),
              text(entry.type),
              el('td', { class: `decision-${text(entry.decision)}` }, {}, text(entry.decision)),
              principalOf(entry),
              text(entry.reason),
              text(entry.region),
              check.ok
                ? el('td', { class: 'proof good', 'data-proof': 'verified' }, {}, '✓ verified')
                : el('td', { class: 'proof bad', 'data-proof': 'failed' }, {}, `✗ failed: ${check.reason}`),
            ];
          }),
          { class: 'access-log' },
        ),
  );
}

function renderSubject(
  subject: SubjectAnswer,
  records: RecordsAnswer,
  recordPane: HTMLElement,
  showRecord: (key: string) => Promise<void>,
  showAccessLog: () => Promise<void>,
): HTMLElement {
  return h(
    'div',
    el(
      'dl',
      { class: 'facts subject' },
      {},
      h('dt', 'Subject'),
      h('dd', el('code', {}, {}, subject.subjectId)),
      h('dt', 'Jurisdiction'),
      h('dd', subject.jurisdiction),
      h('dt', 'Home region'),
      h('dd', subject.homeRegion),
      h('dt', 'Served by'),
      h('dd', records.region ?? '—'),
    ),
    records.records.length === 0
      ? el('p', { class: 'muted' }, {}, 'No records.')
      : table(
          'Records',
          ['Key', 'Class', 'Version', 'Updated', ''],
          records.records.map((r) => [
            el('code', {}, {}, r.key),
            r.class,
            `v${r.version}`,
            time(r.updatedAt),
            button('Read', () => showRecord(r.key), { 'aria-label': `Read record ${r.key}` }),
          ]),
          { class: 'records' },
        ),
    recordPane,
    el('p', { class: 'actions' }, {}, button('Show access log', showAccessLog)),
  );
}

/** The subject view. */
export function subjectView(): HTMLElement {
  let subjectId: string | null = null;
  const input = el('input', {
    id: 'subject-id',
    name: 'subject-id',
    autocomplete: 'off',
    spellcheck: 'false',
    required: true,
    maxlength: 128,
    // the same rule as ID, spelled for the `v` flag that browsers apply to `pattern`
    pattern: '[A-Za-z0-9._:\\-]{1,128}',
    placeholder: 'e.g. user-1',
  });
  const recordPane = el('div', { class: 'record' });
  const accessLogPane = el('div', { class: 'access-log-pane' });

  const showRecord = async (key: string): Promise<void> => {
    if (subjectId === null) return;
    try {
      const r = await callJson<RecordAnswer>(`/v1/subjects/${segment(subjectId)}/records/${segment(key)}`);
      replace(
        recordPane,
        h(
          'section',
          el(
            'div',
            { class: 'heading' },
            {},
            h('h3', 'Record ', el('code', {}, {}, r.key)),
            button('Hide value', () => replace(recordPane)),
          ),
          el('p', { class: 'muted' }, {}, `${r.class}, v${r.version}, read from ${r.region}`),
          el('pre', { class: 'value', 'aria-label': 'Record value' }, {}, JSON.stringify(r.value, null, 2)),
        ),
      );
    } catch (error) {
      replace(recordPane, errorBox(error));
    }
  };

  const accessLog = loader('Access log', async (): Promise<Child> => {
    if (subjectId === null) return null;
    const log = await callJson<AccessLog>(`/v1/subjects/${segment(subjectId)}/access-log`);
    if (!Array.isArray(log.entries))
      throw new ApiError('CONSOLE_BAD_ANSWER', 'the access log has no entries list', 200);
    return renderAccessLog(log, await checkAccessLog(log));
  });
  const showAccessLog = async (): Promise<void> => {
    replace(accessLogPane, h('section', h('h3', 'Access log'), accessLog.node));
    await accessLog.reload();
  };

  const details = loader('Subject', async (): Promise<Child> => {
    if (subjectId === null) return null;
    const path = `/v1/subjects/${segment(subjectId)}`;
    const [subject, records] = await Promise.all([
      callJson<SubjectAnswer>(path),
      callJson<RecordsAnswer>(`${path}/records`),
    ]);
    return renderSubject(subject, records, recordPane, showRecord, showAccessLog);
  });

  const form = el(
    'form',
    { class: 'lookup', 'aria-label': 'Look up a subject' },
    {
      submit: (event) => {
        event.preventDefault();
        const id = input.value.trim();
        replace(recordPane);
        replace(accessLogPane);
        replace(details.node);
        replace(accessLog.node);
        if (!ID.test(id)) {
          subjectId = null;
          replace(
            details.node,
            errorBox(
              new ApiError('DOMICILE_ERR_INVALID_ID', 'a subject id is 1 to 128 of A-Z a-z 0-9 . _ : -', 0),
            ),
          );
          return;
        }
        subjectId = id;
        void details.reload();
      },
    },
    el('label', { for: 'subject-id' }, {}, 'Subject id'),
    input,
    el('button', { type: 'submit' }, {}, 'Look up'),
  );

  return h(
    'section',
    heading('Subject'),
    el(
      'p',
      { class: 'muted' },
      {},
      'Reading a record or the access log is itself logged in the subject’s jurisdiction.',
    ),
    form,
    details.node,
    accessLogPane,
  );
}
