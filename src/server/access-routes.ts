/**
 * Access control over HTTP: the lockbox (`/v1/access-requests`) and the co-maintained policy
 * set (`/v1/policies`). Every route authenticates the caller; the services decide and log.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { AccessRequestFilter, Lockbox, LockboxContext } from '../services/access/lockbox.js';
import type { PolicyFiles, PolicyGovernance } from '../services/access/policy-governance.js';
import type { TokenVerifier } from '../services/access/tokens.js';
import { idParams, objectResponses } from './schemas.js';

/** Dependencies of the access routes. */
export interface AccessRoutesOptions {
  readonly lockbox: Lockbox;
  readonly governance: PolicyGovernance;
  readonly verifier: TokenVerifier;
}

const hashParams = {
  type: 'object',
  properties: { hash: { type: 'string', pattern: '^[0-9a-f]{64}$' } },
  required: ['hash'],
} as const;
const policyFilesBody = {
  type: 'object',
  properties: {
    schema: { type: 'string', minLength: 1, maxLength: 262_144 },
    policies: {
      type: 'array',
      maxItems: 256,
      items: {
        type: 'object',
        properties: {
          file: { type: 'string', pattern: '^[A-Za-z0-9._-]{1,128}\\.cedar$' },
          text: { type: 'string', maxLength: 262_144 },
        },
        required: ['file', 'text'],
        additionalProperties: false,
      },
    },
  },
  required: ['schema', 'policies'],
  additionalProperties: false,
} as const;

const filesOf = (body: unknown): PolicyFiles => {
  const b = body as { schema: string; policies: { file: string; text: string }[] };
  return { schemaText: b.schema, policies: b.policies };
};

/** Registers the lockbox and policy routes. */
export function registerAccessRoutes(app: FastifyInstance, options: AccessRoutesOptions): void {
  const { lockbox, governance, verifier } = options;
  const context = async (request: FastifyRequest): Promise<LockboxContext> => ({
    requestId: request.id,
    principal: await verifier.verifyHeader(request.headers.authorization),
  });

  app.post(
    '/v1/access-requests',
    {
      schema: {
        summary: 'Ask for time-bound, scoped access (pending until approved; break-glass at once)',
        body: {
          type: 'object',
          properties: {
            jurisdiction: { type: 'string', minLength: 1, maxLength: 16 },
            class: { type: 'string', minLength: 1, maxLength: 32 },
            subjects: {
              anyOf: [
                { type: 'string', const: 'all' },
                { type: 'array', items: { type: 'string' }, minItems: 1, maxItems: 1000 },
              ],
            },
            actions: {
              type: 'array',
              items: { type: 'string', enum: ['read', 'write', 'list', 'delete'] },
              minItems: 1,
              maxItems: 4,
            },
            purpose: { type: 'string', minLength: 1, maxLength: 500 },
            durationSeconds: { type: 'integer', minimum: 1 },
            breakGlass: { type: 'boolean' },
          },
          required: ['jurisdiction', 'class', 'subjects', 'actions', 'purpose', 'durationSeconds'],
          additionalProperties: false,
        },
        response: objectResponses,
      },
    },
    async (request, reply) => {
      const ctx = await context(request);
      const body = request.body as {
        jurisdiction: string;
        class: string;
        subjects: string[] | 'all';
        actions: string[];
        purpose: string;
        durationSeconds: number;
        breakGlass?: boolean;
      };
      return reply.status(201).send(await lockbox.request(ctx, body));
    },
  );

  app.get(
    '/v1/access-requests',
    {
      schema: {
        summary: 'Access requests the caller may see (own; its jurisdictions as steward; all as auditor)',
        querystring: {
          type: 'object',
          properties: {
            status: { type: 'string', enum: ['pending', 'approved', 'denied', 'expired', 'revoked'] },
            jurisdiction: { type: 'string', maxLength: 16 },
            reviewOverdue: { type: 'string', enum: ['true', 'false'] },
          },
          additionalProperties: false,
        },
        response: objectResponses,
      },
    },
    async (request) => {
      const ctx = await context(request);
      const q = request.query as { status?: string; jurisdiction?: string; reviewOverdue?: string };
      const filter: AccessRequestFilter = {
        ...(q.status === undefined ? {} : { status: q.status as NonNullable<AccessRequestFilter['status']> }),
        ...(q.jurisdiction === undefined ? {} : { jurisdiction: q.jurisdiction }),
        ...(q.reviewOverdue === undefined ? {} : { reviewOverdue: q.reviewOverdue === 'true' }),
      };
      return { accessRequests: await lockbox.list(ctx, filter) };
    },
  );

  app.get(
    '/v1/access-requests/:id',
    { schema: { summary: 'One access request', params: idParams, response: objectResponses } },
    async (request) => {
      const { id } = request.params as { id: string };
      return lockbox.get(await context(request), id);
    },
  );

  for (const verb of ['approve', 'deny', 'revoke'] as const) {
    app.post(
      `/v1/access-requests/:id/${verb}`,
      {
        schema: {
          summary:
            verb === 'revoke'
              ? 'Revoke a pending request or an active grant (an eligible approver, or the grantee)'
              : `${verb === 'approve' ? 'Approve' : 'Deny'} a pending request (an eligible approver, never the requester)`,
          params: idParams,
          response: objectResponses,
        },
      },
      async (request) => {
        const { id } = request.params as { id: string };
        const ctx = await context(request);
        return lockbox[verb](ctx, id);
      },
    );
  }

  app.post(
    '/v1/access-requests/:id/review',
    {
      schema: {
        summary: 'Review a break-glass grant after the fact; `rejected` revokes it if still active',
        params: idParams,
        body: {
          type: 'object',
          properties: { outcome: { type: 'string', enum: ['accepted', 'rejected'] } },
          required: ['outcome'],
          additionalProperties: false,
        },
        response: objectResponses,
      },
    },
    async (request) => {
      const { id } = request.params as { id: string };
      const { outcome } = request.body as { outcome: 'accepted' | 'rejected' };
      return lockbox.review(await context(request), id, outcome);
    },
  );

  app.get(
    '/v1/policies/active',
    {
      schema: {
        summary: 'The policy set in force: its hash, schema and policy files',
        response: objectResponses,
      },
    },
    async (request) => {
      await context(request);
      const { hash, files } = governance.activeSet();
      return { hash, schema: files.schemaText, policies: files.policies };
    },
  );

  app.post(
    '/v1/policies/diff',
    {
      schema: {
        summary: 'Compare a policy set with the active one (added, removed, changed policy ids)',
        body: policyFilesBody,
        response: objectResponses,
      },
    },
    async (request) => {
      await context(request);
      return governance.diff(filesOf(request.body));
    },
  );

  app.get(
    '/v1/policies/proposals',
    {
      schema: {
        summary: 'Policy sets: proposed, active, superseded, with approvals',
        response: objectResponses,
      },
    },
    async (request) => {
      await context(request);
      return { proposals: await governance.list() };
    },
  );

  app.post(
    '/v1/policies/proposals',
    {
      schema: {
        summary: 'Stage a new policy set; it must validate, and becomes active once approved',
        body: policyFilesBody,
        response: objectResponses,
      },
    },
    async (request, reply) => {
      const ctx = await context(request);
      return reply.status(201).send(await governance.propose(ctx, filesOf(request.body)));
    },
  );

  app.post(
    '/v1/policies/proposals/:hash/approve',
    {
      schema: {
        summary: 'Approve a proposed policy set with the caller’s own token (a steward or the auditor)',
        params: hashParams,
        response: objectResponses,
      },
    },
    async (request) => {
      const { hash } = request.params as { hash: string };
      return governance.approve(await context(request), hash);
    },
  );
}
