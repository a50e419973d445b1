/**
 * What every command shares: global options, output (`--json` for scripts), and exit codes —
 * 0 ok, 1 failure, 2 denied or verification failed, 3 invalid configuration or policy.
 */
import { resolve } from 'node:path';
import type { Command } from 'commander';
import { DomicileError } from '../domain/errors.js';

/** Exit codes of the CLI. */
export const EXIT = { ok: 0, failure: 1, denied: 2, invalid: 3 } as const;

/** Options every command accepts. */
export interface GlobalOptions {
  readonly config: string;
  readonly data: string;
  readonly json: boolean;
}

/** Reads the global options from any (sub)command. */
export function globalOptions(command: Command): GlobalOptions {
  const opts = command.optsWithGlobals<{ config?: string; data?: string; json?: boolean }>();
  return {
    config: resolve(opts.config ?? process.env.DOMICILE_CONFIG ?? 'domicile.yaml'),
    data: resolve(opts.data ?? process.env.DOMICILE_DATA ?? 'data'),
    json: opts.json === true,
  };
}

/** Prints a result: JSON when `--json`, else the human text. */
export function output(options: { json: boolean }, value: unknown, human: () => string): void {
  process.stdout.write(options.json ? `${JSON.stringify(value)}\n` : `${human()}\n`);
}

/** The exit code for an error: by its `DOMICILE_ERR_*` code, whether thrown here or returned by the API. */
export function exitCodeOf(error: unknown): number {
  const code = (error as { code?: unknown } | null)?.code;
  if (typeof code !== 'string') return EXIT.failure;
  if (code === 'DOMICILE_ERR_CONFIG' || code.startsWith('DOMICILE_ERR_POLICY')) return EXIT.invalid;
  if (DENIED.has(code) || code.startsWith('DOMICILE_ERR_TLOG')) return EXIT.denied;
  return EXIT.failure;
}

const DENIED = new Set([
  'DOMICILE_ERR_FORBIDDEN',
  'DOMICILE_ERR_UNAUTHENTICATED',
  'DOMICILE_ERR_RESIDENCY',
  'DOMICILE_ERR_TRANSFER_PROHIBITED',
  'DOMICILE_ERR_BACKUP_INVALID',
]);

/** Prints an error (JSON on stdout with `--json`, else text on stderr) and sets the exit code. */
export function reportError(options: { json: boolean }, error: unknown): void {
  const code = (error as { code?: unknown } | null)?.code;
  const message = error instanceof Error ? error.message : String(error);
  const body = { error: { code: typeof code === 'string' ? code : 'DOMICILE_ERR_INTERNAL', message } };
  if (options.json) process.stdout.write(`${JSON.stringify(body)}\n`);
  else process.stderr.write(`domicile: ${body.error.code}: ${message}\n`);
  process.exitCode = exitCodeOf(error);
}

/** Wraps a command action so that errors become messages and exit codes. */
export function action<A extends unknown[]>(
  run: (...args: A) => Promise<void>,
): (...args: A) => Promise<void> {
  return async (...args: A) => {
    const command = args[args.length - 1] as Command;
    try {
      await run(...args);
    } catch (error) {
      reportError(globalOptions(command), error);
    }
  };
}

/** Options of commands that talk to a running gateway (`--gateway`, `--token`). */
export interface ClientOptions {
  readonly url: string;
  readonly token: string | undefined;
}

/** Reads `--gateway` and `--token` (or DOMICILE_URL, DOMICILE_TOKEN). */
export function clientOptions(command: Command): ClientOptions {
  const opts = command.optsWithGlobals<{ gateway?: string; token?: string }>();
  return {
    url: (opts.gateway ?? process.env.DOMICILE_URL ?? 'http://127.0.0.1:8080').replace(/\/$/, ''),
    token: opts.token ?? process.env.DOMICILE_TOKEN,
  };
}

/** Calls the HTTP API; a non-2xx answer becomes a `DomicileError`-like error with the API's code. */
export async function callApi(
  client: ClientOptions,
  method: string,
  path: string,
  body?: unknown,
): Promise<unknown> {
  const headers: Record<string, string> = {};
  if (client.token) headers.authorization = `Bearer ${client.token}`;
  if (body !== undefined) headers['content-type'] = 'application/json';
  let response: Response;
  try {
    response = await fetch(`${client.url}${path}`, {
      method,
      headers,
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
  } catch (cause) {
    throw new DomicileError(
      'DOMICILE_ERR_REGION_UNAVAILABLE',
      `cannot reach ${client.url}: is \`domicile up\` running?`,
      {
        cause,
      },
    );
  }
  const text = await response.text();
  const parsed: unknown = text === '' ? null : JSON.parse(text);
  if (!response.ok) {
    const error = (parsed as { error?: { code?: string; message?: string } } | null)?.error;
    const err = new Error(error?.message ?? `HTTP ${response.status}`) as Error & { code: string };
    err.code = error?.code ?? 'DOMICILE_ERR_INTERNAL';
    throw err;
  }
  return parsed;
}
