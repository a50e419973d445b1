/**
 * Logs: the latest checkpoint of each jurisdiction's transparency log (origin, size, root, who
 * signed it), and the log signature checked here with the verifier key the user keeps for it.
 */
import { callText, segment } from '../api.js';
import { checkSignature } from '../checks.js';
import { type Child, el, h, replace, table } from '../dom.js';
import { readReadiness } from '../readiness.js';
import { type Checkpoint, encodeBase64, parseCheckpoint } from '../tlog.js';
import { button, errorBox, heading, loader, notice } from '../ui.js';
import { keepVerifierKey, verifierKeyFor } from '../verifier-keys.js';

interface LogRow {
  readonly jurisdiction: string;
  readonly checkpoint: Checkpoint | null;
  readonly error: Child;
}

async function signatureCell(checkpoint: Checkpoint): Promise<HTMLTableCellElement> {
  const check = await checkSignature(checkpoint);
  switch (check.state) {
    case 'verified':
      return el('td', { class: 'good', 'data-signature': 'verified' }, {}, `verified (${check.key})`);
    case 'failed':
      return el('td', { class: 'bad', 'data-signature': 'failed' }, {}, `FAILED: ${check.reason}`);
    default:
      return el('td', { class: 'warn', 'data-signature': 'unchecked' }, {}, 'not checked: no verifier key');
  }
}

function keyForm(rows: readonly LogRow[], reload: () => Promise<void>): HTMLElement {
  const status = el('div');
  const inputs = rows.flatMap((row) => {
    if (row.checkpoint === null) return [];
    const id = `vkey-${row.jurisdiction}`;
    const input = el('input', {
      id,
      name: id,
      autocomplete: 'off',
      spellcheck: 'false',
      value: verifierKeyFor(row.checkpoint.origin) ?? '',
      placeholder: `${row.checkpoint.origin}+…`,
    });
    return [
      {
        origin: row.checkpoint.origin,
        input,
        label: el('label', { for: id }, {}, `Verifier key of ${row.jurisdiction}`),
      },
    ];
  });
  return el(
    'form',
    { class: 'keys', 'aria-label': 'Log verifier keys' },
    {
      submit: (event) => {
        event.preventDefault();
        for (const { origin, input } of inputs) keepVerifierKey(origin, input.value);
        replace(status, notice('Kept in this browser. Checking…'));
        void reload();
      },
    },
    h('h3', 'Verifier keys'),
    el(
      'p',
      { class: 'muted' },
      {},
      'Paste each log’s verifier key as ',
      h('code', 'domicile init'),
      ' or ',
      h('code', 'domicile up'),
      ' printed it (never from this server): the console then checks every checkpoint it is shown, here and in access logs.',
    ),
    ...inputs.flatMap(({ label, input }) => [label, input]),
    el('button', { type: 'submit' }, {}, 'Keep keys and check'),
    status,
  );
}

/** The logs view. */
export function logsView(): HTMLElement {
  const keys = el('div');
  const content = loader('Checkpoints', async (): Promise<Child> => {
    const readiness = await readReadiness();
    const rows: LogRow[] = await Promise.all(
      Object.keys(readiness.jurisdictions)
        .sort()
        .map(async (jurisdiction): Promise<LogRow> => {
          try {
            const parsed = parseCheckpoint(
              await callText(`/v1/logs/${segment(jurisdiction)}/checkpoint`, { auth: false }),
            );
            return 'error' in parsed
              ? {
                  jurisdiction,
                  checkpoint: null,
                  error: el('span', { class: 'bad' }, {}, `malformed: ${parsed.error}`),
                }
              : { jurisdiction, checkpoint: parsed, error: null };
          } catch (error) {
            return { jurisdiction, checkpoint: null, error: errorBox(error) };
          }
        }),
    );
    replace(keys, keyForm(rows, content.reload));
    const cells = await Promise.all(
      rows.map(async (row) => {
        const cp = row.checkpoint;
        if (cp === null) return [row.jurisdiction, el('td', { colspan: '5' }, {}, row.error)];
        return [
          el('td', { 'data-jurisdiction': row.jurisdiction }, {}, row.jurisdiction),
          el('code', {}, {}, cp.origin),
          el('td', { class: 'number', 'data-size': cp.size }, {}, String(cp.size)),
          el('code', { class: 'hash' }, {}, encodeBase64(cp.root)),
          cp.signatures.map((s) => `${s.name}+${s.keyId}`).join(', ') || '—',
          await signatureCell(cp),
        ];
      }),
    );
    return table(
      'Latest checkpoints',
      ['Jurisdiction', 'Origin', 'Size', 'Root (base64)', 'Signed by', 'Log signature'],
      cells,
      { class: 'checkpoints' },
    );
  });
  void content.reload();
  return h(
    'section',
    heading('Transparency logs', button('Refresh', content.reload)),
    el(
      'p',
      { class: 'muted' },
      {},
      'Every operation on a subject’s data is an entry in its jurisdiction’s log. An auditor checks a whole log with ',
      h('code', 'domicile audit verify'),
      '.',
    ),
    content.node,
    keys,
  );
}
