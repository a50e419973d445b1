/**
 * One error handler for every HTTP app: a `DomicileError` becomes its catalog status and
 * `{ "error": { "code", "message" } }`; Fastify's own errors are mapped to catalog codes; anything
 * else is an opaque 500 to the client and a full line (without request data) to the operator.
 */
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
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

/** Installs the error and not-found handlers on an app. */
export function installErrorHandlers(app: FastifyInstance): void {
  app.setErrorHandler((error: unknown, request: FastifyRequest, reply: FastifyReply) => {
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
  });
  app.setNotFoundHandler((_request, reply) => {
    void reply.status(404).send(errorBody(new DomicileError('DOMICILE_ERR_NOT_FOUND', 'no such route')));
  });
}

/**
 * Fastify's `frameworkErrors` option: what the router refuses before any route or error handler
 * runs (a malformed percent-encoding, a path parameter over `maxParamLength`) answers like every
 * other error. Fastify's default body is not the error shape and echoes the whole URL, ids included.
 */
export function sendFrameworkError(error: FastifyError, _request: FastifyRequest, reply: FastifyReply): void {
  const domicileError = toDomicileError(error);
  void reply.status(domicileError.statusCode).send(errorBody(domicileError));
}

function describeCause(cause: unknown): string | undefined {
  if (cause instanceof DomicileError) return cause.code;
  if (cause instanceof Error) return cause.name;
  return undefined;
}
