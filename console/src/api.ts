/**
 * The public HTTP API of the same origin, as the console calls it: the bearer token from the
 * session, JSON in and out, and every failure as an `ApiError` carrying the API's error code.
 */
import { readToken } from './session.js';

/** A failed call: the API's `{"error":{"code","message"}}`, or what went wrong on the way. */
export class ApiError extends Error {
  readonly code: string;
  readonly status: number;

  constructor(code: string, message: string, status: number) {
    super(message);
    this.name = 'ApiError';
    this.code = code;
    this.status = status;
  }
}

/** Options of one call. */
export interface CallOptions {
  readonly method?: 'GET' | 'POST' | 'PUT' | 'DELETE';
  readonly body?: unknown;
  /** Send the session's token (default true). */
  readonly auth?: boolean;
  /** Answer statuses that are not failures besides 2xx (`/readyz` answers 503 with a body). */
  readonly accept?: readonly number[];
}

/** Encodes one path segment (ids are `[A-Za-z0-9._:-]`, but the input is the user's). */
export const segment = (value: string): string => encodeURIComponent(value);

async function send(path: string, options: CallOptions): Promise<Response> {
  const headers: Record<string, string> = { accept: 'application/json, text/plain' };
  if (options.auth !== false) {
    const token = readToken();
    if (token === null) throw new ApiError('CONSOLE_NO_TOKEN', 'paste a bearer token first', 0);
    headers.authorization = `Bearer ${token}`;
  }
  if (options.body !== undefined) headers['content-type'] = 'application/json';
  let response: Response;
  try {
    response = await fetch(path, {
      method: options.method ?? 'GET',
      headers,
      ...(options.body === undefined ? {} : { body: JSON.stringify(options.body) }),
      // same origin only, never cached: answers may hold personal data
      credentials: 'omit',
      cache: 'no-store',
      redirect: 'error',
    });
  } catch {
    throw new ApiError('CONSOLE_NETWORK', 'the server cannot be reached', 0);
  }
  if (response.ok || options.accept?.includes(response.status)) return response;
  throw await errorOf(response);
}

async function errorOf(response: Response): Promise<ApiError> {
  try {
    const body = (await response.json()) as { error?: { code?: unknown; message?: unknown } };
    const { code, message } = body.error ?? {};
    if (typeof code === 'string' && typeof message === 'string') {
      return new ApiError(code, message, response.status);
    }
  } catch {
    // not the API's error body: fall through
  }
  return new ApiError(`HTTP_${response.status}`, response.statusText || 'unexpected answer', response.status);
}

/** Calls the API and parses the JSON answer (untrusted: each view reads the fields it uses). */
export async function callJson<T>(path: string, options: CallOptions = {}): Promise<T> {
  const response = await send(path, options);
  if (response.status === 204) return undefined as T;
  try {
    return (await response.json()) as T;
  } catch {
    throw new ApiError('CONSOLE_BAD_ANSWER', 'the answer is not JSON', response.status);
  }
}

/** Calls the API and returns the text answer (checkpoints). */
export async function callText(path: string, options: CallOptions = {}): Promise<string> {
  return (await send(path, options)).text();
}

/** An `ApiError` for anything thrown. */
export function asApiError(error: unknown): ApiError {
  if (error instanceof ApiError) return error;
  return new ApiError('CONSOLE_ERROR', error instanceof Error ? error.message : 'unexpected error', 0);
}
