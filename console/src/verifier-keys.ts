/**
 * The log verifier keys the user trusts, by log origin. They are public keys (printed by
 * `domicile init` and `domicile up`), kept in `localStorage` so they outlive the tab: a key typed
 * in once keeps checking the checkpoints this server serves. Keys never come from the server.
 */

const KEY = 'domicile.console.verifierKeys';

function readAll(): Record<string, string> {
  try {
    const parsed = JSON.parse(localStorage.getItem(KEY) ?? '{}') as unknown;
    if (parsed === null || typeof parsed !== 'object') return {};
    return Object.fromEntries(
      Object.entries(parsed as Record<string, unknown>).filter(
        (e): e is [string, string] => typeof e[1] === 'string',
      ),
    );
  } catch {
    return {};
  }
}

/** The verifier key kept for a log origin. */
export function verifierKeyFor(origin: string): string | undefined {
  return readAll()[origin];
}

/** Keeps (or, with an empty key, forgets) the verifier key of a log origin. */
export function keepVerifierKey(origin: string, vkey: string): void {
  const all = readAll();
  if (vkey.trim() === '') delete all[origin];
  else all[origin] = vkey.trim();
  localStorage.setItem(KEY, JSON.stringify(all));
}
