/**
 * JSON schemas shared by the HTTP apps: the error body of every answer and the usual response
 * sets, so each route file declares only what is its own.
 */
import { ERROR_CATALOG } from '../domain/errors.js';
import { ID_PATTERN } from '../domain/ids.js';

/** `{ "error": { "code": "DOMICILE_ERR_…", "message": "…", …details } }`. */
export const errorSchema = {
  type: 'object',
  properties: {
    error: {
      type: 'object',
      properties: { code: { type: 'string', enum: Object.keys(ERROR_CATALOG) }, message: { type: 'string' } },
      required: ['code', 'message'],
      additionalProperties: true,
    },
  },
} as const;

/** Any JSON object (responses whose shape the route documents elsewhere). */
export const anyObject = { type: 'object', additionalProperties: true } as const;

/** The error statuses every authenticated `/v1` route can answer. */
export const errorResponses = {
  400: errorSchema,
  401: errorSchema,
  403: errorSchema,
  404: errorSchema,
  502: errorSchema,
  503: errorSchema,
} as const;

/** Error statuses of routes that change state (adds 409 and 422). */
export const stateErrorResponses = { ...errorResponses, 409: errorSchema, 422: errorSchema } as const;

/** Responses of an operation answering any JSON object (200 or 201), or a state error. */
export const objectResponses = { 200: anyObject, 201: anyObject, ...stateErrorResponses } as const;

/** An id from outside: `[A-Za-z0-9._:-]{1,128}`. */
export const idParam = { type: 'string', pattern: ID_PATTERN.source } as const;

/** `{ id }` path parameters. */
export const idParams = { type: 'object', properties: { id: idParam }, required: ['id'] } as const;
