/**
 * One error handler for every HTTP app: a `DomicileError` becomes its catalog status and
 * `{ "error": { "code", "message" } }`; Fastify's own errors are mapped to catalog codes, and so are
 * Node's (`clientErrorHandler`: bytes it cannot parse as a request, a request that times out);
 * anything else is an opaque 500 to the client and a full line (without request data) to the operator.
 */
import { type IncomingMessage, type ServerResponse, STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
import type { ConnectionError, FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { DomicileError } from '../domain/errors.js';
import { TLOG_ERRORS, TlogError } from '../tlog/errors.js';

/** The JSON body of every error response. */
export interface ErrorBody {
  readonly error: { readonly code: string; readonly message: string; readonly [detail: string]: unknown };
}

/** An error with a code and a status: a catalog error, or one of the transparency log library's. */
export interface CodedError {
  readonly code: string;
  readonly statusCode: number;
  readonly message: string;
  readonly details?: Readonly<Record<string, unknown>> | undefined;
  readonly cause?: unknown;
}

/** Turns any thrown value into a coded error. */
export function toDomicileError(error: unknown): CodedError {
  if (error instanceof DomicileError) return error;
  if (error instanceof TlogError) {
    const code = error.code as keyof typeof TLOG_ERRORS;
    return { code, statusCode: TLOG_ERRORS[code]?.status ?? 500, message: error.message };
  }
  const fe = error as Partial<FastifyError> | undefined;
  if (fe && typeof fe === 'object') {
    if (fe.validation && fe.validationContext === 'params') {
      return new DomicileError(
        'DOMICILE_ERR_INVALID_ID',
        `invalid id in path: expected [A-Za-z0-9._:-]{1,128}`,
      );
    }
    if (fe.validation) {
      return new DomicileError(
        'DOMICILE_ERR_BAD_REQUEST',
        `invalid request: ${fe.message ?? 'schema validation failed'}`,
      );
    }
    switch (fe.code) {
      case 'FST_ERR_CTP_BODY_TOO_LARGE':
        return new DomicileError(
          'DOMICILE_ERR_PAYLOAD_TOO_LARGE',
          'request body exceeds the configured limit',
        );
      case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
        return new DomicileError(
          'DOMICILE_ERR_UNSUPPORTED_MEDIA_TYPE',
          'request body must be application/json',
        );
      case 'FST_ERR_CTP_EMPTY_JSON_BODY':
        return new DomicileError('DOMICILE_ERR_BAD_REQUEST', 'request body is empty');
      case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
        return new DomicileError('DOMICILE_ERR_BAD_REQUEST', 'content-length does not match the body');
      case 'FST_ERR_BAD_URL':
        return new DomicileError('DOMICILE_ERR_BAD_REQUEST', 'malformed url: invalid percent-encoding');
      // the router refuses a path parameter over `maxParamLength` before the id check sees it
      case 'FST_ERR_MAX_PARAM_LENGTH':
        return new DomicileError(
          'DOMICILE_ERR_INVALID_ID',
          'invalid id in path: expected [A-Za-z0-9._:-]{1,128}',
        );
      default:
        break;
    }
    if (
      fe.statusCode === 400 &&
      (error instanceof SyntaxError || fe.code === 'FST_ERR_CTP_INVALID_JSON_BODY')
    ) {
      return new DomicileError('DOMICILE_ERR_BAD_REQUEST', 'request body is not valid JSON');
    }
    if (fe.statusCode === 400) return new DomicileError('DOMICILE_ERR_BAD_REQUEST', 'malformed request');
  }
  return new DomicileError('DOMICILE_ERR_INTERNAL', 'internal error', { cause: error });
}

/** The response body of an error. */
export function errorBody(error: CodedError): ErrorBody {
  return { error: { code: error.code, message: error.message, ...(error.details ?? {}) } };
}

/** How a client error is written: a content type and a body, from its catalog error. */
export type ClientErrorFormat = (error: DomicileError) => {
  readonly contentType: string;
  readonly body: string;
};

/** Errors as every JSON app writes them (`errorBody`). */
export const JSON_ERRORS: ClientErrorFormat = (domicileError) => ({
  contentType: 'application/json; charset=utf-8',
  body: JSON.stringify(errorBody(domicileError)),
});

/** Errors as an app that speaks plain text writes them (the witness): the message, one line. */
export const PLAIN_TEXT_ERRORS: ClientErrorFormat = (domicileError) => ({
  contentType: 'text/plain; charset=utf-8',
  body: `${domicileError.message}\n`,
});

/**
 * Installs the error and not-found handlers on an app, the `Host` check of RFC 9112 §3.2 that
 * the apps turn off in Node (`requireHostHeader: false`), whose 400 has no body at all, and the
 * refusal of an `Expect` other than `100-continue` (`refuseExpectations`).
 */
export function installErrorHandlers(app: FastifyInstance): void {
  refuseExpectations(app, JSON_ERRORS);
  // a callback hook, not an async one: it runs on every request, and a promise costs more than its work
  app.addHook('onRequest', (request, reply, done) => {
    if (!lacksHost(request)) return done();
    // answered here: the request goes no further (`done` is not called)
    void reply
      .status(400)
      .send(errorBody(new DomicileError('DOMICILE_ERR_BAD_REQUEST', 'malformed request: no host header')));
  });
  app.setErrorHandler(sendError);
  app.setNotFoundHandler((_request, reply) => {
    void reply.status(404).send(errorBody(new DomicileError('DOMICILE_ERR_NOT_FOUND', 'no such route')));
  });
}

/** Answers an error with its catalog status and body; an unexpected one is logged in full first. */
function sendError(error: unknown, request: FastifyRequest, reply: FastifyReply): void {
  const domicileError = toDomicileError(error);
  if (domicileError.code === 'DOMICILE_ERR_INTERNAL') {
    request.log.error({ err: error }, 'unexpected error');
  } else if (domicileError.statusCode >= 500) {
    request.log.warn(
      { code: domicileError.code, cause: describeCause(domicileError.cause) },
      domicileError.message,
    );
  }
  void reply.status(domicileError.statusCode).send(errorBody(domicileError));
}

/**
 * The Fastify options every JSON app is built with, so that what is refused before
 * `installErrorHandlers`' handlers run answers like every other error:
 * - `frameworkErrors`: what the router refuses (a malformed percent-encoding, a path parameter over
 *   `maxParamLength`); Fastify's own body is not the error shape and echoes the whole URL;
 * - `clientErrorHandler`: what Node refuses before Fastify sees a request.
 * Pair it with `requireHostHeader: false` in the server options: Node's own refusal of a request
 * without `Host` has no body, and `installErrorHandlers` refuses it instead.
 */
export const ERROR_OPTIONS = {
  frameworkErrors: sendError,
  clientErrorHandler: clientErrorHandler(JSON_ERRORS),
} as const;

/**
 * Whether an HTTP/1.1 request has no `Host` header, which a server must refuse with a 400.
 * See: RFC 9112 §3.2
 */
export function lacksHost(request: FastifyRequest): boolean {
  return request.raw.httpVersion === '1.1' && request.headers.host === undefined;
}

/** The catalog error a client error is answered with, by Node's error code. */
function toClientError(error: ConnectionError): DomicileError {
  switch (error.code) {
    case 'ERR_HTTP_REQUEST_TIMEOUT':
      return new DomicileError('DOMICILE_ERR_REQUEST_TIMEOUT', 'request not received in time');
    case 'HPE_HEADER_OVERFLOW':
      return new DomicileError('DOMICILE_ERR_HEADERS_TOO_LARGE', 'request headers exceed the limit');
    // Node answers this one with a 413 too
    case 'HPE_CHUNK_EXTENSIONS_OVERFLOW':
      return new DomicileError('DOMICILE_ERR_PAYLOAD_TOO_LARGE', 'chunk extensions exceed the limit');
    default:
      return new DomicileError('DOMICILE_ERR_BAD_REQUEST', 'malformed request');
  }
}

/** The response a socket carries, when Node has one in flight on it (its own check; not public). */
type HttpSocket = Socket & { readonly _httpMessage?: { readonly headersSent: boolean } | null };

/**
 * A Fastify `clientErrorHandler`: what Node refuses before Fastify sees a request (bytes that are
 * not HTTP/1.1, headers over the limit, a request that times out) answers like every other error
 * of the app, in `format`, in place of Fastify's own JSON body. Nothing of the request is echoed.
 */
export function clientErrorHandler(
  format: ClientErrorFormat,
): (this: FastifyInstance, error: ConnectionError, socket: Socket) => void {
  return function answer(error, socket) {
    // a reset connection is gone already: nothing to answer, nothing to close
    // See: https://nodejs.org/api/http.html#event-clienterror
    if (error.code === 'ECONNRESET' || socket.destroyed) return;
    const domicileError = toClientError(error);
    // the code only: the error also carries the request's bytes (`rawPacket`)
    this.log.trace({ code: error.code, status: domicileError.statusCode }, 'client error');
    // as Node does: no answer in the middle of one already started on this connection
    if (socket.writable && (socket as HttpSocket)._httpMessage?.headersSent !== true) {
      const { contentType, body } = format(domicileError);
      const status = domicileError.statusCode;
      socket.write(
        `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? ''}\r\n` +
          `content-type: ${contentType}\r\n` +
          `content-length: ${Buffer.byteLength(body)}\r\n` +
          'connection: close\r\n\r\n' +
          body,
      );
    }
    socket.destroy(error);
  };
}

/**
 * Answers a request whose `Expect` header is not `100-continue` with a coded 417, in the app's
 * format, and closes the connection (the body the client holds back is never read). Node answers
 * such a request itself, before the app sees it, with a 417 and no body at all.
 * See: RFC 9110 §10.1.1; https://nodejs.org/api/http.html#event-checkexpectation
 */
export function refuseExpectations(app: FastifyInstance, format: ClientErrorFormat): void {
  app.server.on('checkExpectation', (_request: IncomingMessage, response: ServerResponse) => {
    const error = new DomicileError(
      'DOMICILE_ERR_EXPECTATION_FAILED',
      'unsupported Expect header: only 100-continue is supported',
    );
    const { contentType, body } = format(error);
    response.writeHead(error.statusCode, {
      'content-type': contentType,
      'content-length': Buffer.byteLength(body),
      connection: 'close',
    });
    response.end(body);
  });
}

function describeCause(cause: unknown): string | undefined {
  if (cause instanceof DomicileError) return cause.code;
  if (cause instanceof Error) return cause.name;
  return undefined;
}
