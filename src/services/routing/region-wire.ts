/**
 * The wire format of a region node's internal API (`/internal/v1/…`), shared by the node's HTTPS
 * app (`src/server/region-app.ts`) and the client that calls it (`https-region-client.ts`).
 *
 * Every operation is a `POST` with a JSON body (health is a `GET`): subject ids and record keys
 * travel in bodies, never in URLs, so they stay out of access logs and proxies. Binary fields
 * (ciphertext, wrapped keys, open replica values) are standard base64.
 */
import type { WrappedKey } from '../../crypto/keyring.js';
import { DomicileError } from '../../domain/errors.js';
import type { ClassId, JurisdictionId, RecordKey, SubjectId } from '../../domain/ids.js';
import type { StoredRecord } from '../../store/region-store.js';
import type { Principal } from '../access/principal.js';
import type { AuditEvent } from '../audit/audit-event.js';
import type { RecordRef, Replica, RequestContext, SubjectRef } from '../vault/region-node.js';

/** Paths of the internal API. */
export const REGION_API = {
  health: '/internal/v1/health',
  putRecord: '/internal/v1/records/put',
  getRecord: '/internal/v1/records/get',
  listRecords: '/internal/v1/records/list',
  deleteRecord: '/internal/v1/records/delete',
  eraseSubject: '/internal/v1/subjects/erase',
  purgeSubject: '/internal/v1/subjects/purge',
  receiveReplica: '/internal/v1/replicas',
  recordVersion: '/internal/v1/records/version',
  appendAudit: '/internal/v1/audit/append',
  /** Prefix of the read-only log resources of the jurisdictions whose home the node is. */
  logs: '/internal/v1/logs/',
  accessLog: '/internal/v1/audit/access-log',
} as const;

/** A principal on the wire: `Principal` with absent optional attributes left out. */
export interface WirePrincipal {
  readonly id: string;
  readonly type: 'employee' | 'service';
  readonly department?: string;
  readonly roles: readonly string[];
  readonly country?: string;
  readonly mfa: boolean;
  readonly jurisdiction?: string;
}

/** A request context on the wire. */
export interface WireContext {
  readonly requestId: string;
  readonly principal: WirePrincipal;
}

/** A subject reference on the wire. */
export interface WireSubjectRef {
  readonly subjectId: string;
  readonly jurisdiction: string;
}

/** A record reference on the wire. */
export interface WireRecordRef extends WireSubjectRef {
  readonly key: string;
}

/** A stored record on the wire (ciphertext base64). */
export interface WireStoredRecord extends WireRecordRef {
  readonly classId: string;
  readonly version: number;
  readonly ciphertext: string;
  readonly keyId: string;
  readonly updatedAt: number;
}

/** A replica on the wire. */
export type WireReplica =
  | {
      readonly kind: 'sealed';
      readonly record: WireStoredRecord;
      readonly wrappedKey: { readonly id: string; readonly kekId: string; readonly wrapped: string };
    }
  | {
      readonly kind: 'open';
      readonly ref: WireRecordRef;
      readonly classId: string;
      readonly version: number;
      readonly value: string;
      readonly updatedAt: number;
    }
  | { readonly kind: 'delete'; readonly ref: WireRecordRef };

/** Standard base64 with padding, as `Buffer.toString('base64')` writes it. */
export const BASE64_PATTERN = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/** The wire form of a request context. */
export function encodeContext(ctx: RequestContext): WireContext {
  const p = ctx.principal;
  return {
    requestId: ctx.requestId,
    principal: {
      id: p.id,
      type: p.type,
      ...(p.department === undefined ? {} : { department: p.department }),
      roles: [...p.roles],
      ...(p.country === undefined ? {} : { country: p.country }),
      mfa: p.mfa,
      ...(p.jurisdiction === undefined ? {} : { jurisdiction: p.jurisdiction }),
    },
  };
}

/** A request context from its wire form, whose shape the caller has validated. */
export function decodeContext(wire: WireContext): RequestContext {
  const p = wire.principal;
  const principal: Principal = {
    id: p.id,
    type: p.type,
    department: p.department,
    roles: [...p.roles],
    country: p.country,
    mfa: p.mfa,
    ...(p.jurisdiction === undefined ? {} : { jurisdiction: p.jurisdiction }),
  };
  return { requestId: wire.requestId, principal };
}

/** The wire form of a subject reference. */
export function encodeSubjectRef(ref: SubjectRef): WireSubjectRef {
  return { subjectId: ref.subjectId, jurisdiction: ref.jurisdiction };
}

/** The wire form of a record reference. */
export function encodeRecordRef(ref: RecordRef): WireRecordRef {
  return { subjectId: ref.subjectId, jurisdiction: ref.jurisdiction, key: ref.key };
}

/** A subject reference from its wire form, whose ids the caller has validated. */
export function decodeSubjectRef(wire: WireSubjectRef): SubjectRef {
  return { subjectId: wire.subjectId as SubjectId, jurisdiction: wire.jurisdiction as JurisdictionId };
}

/** A record reference from its wire form, whose ids the caller has validated. */
export function decodeRecordRef(wire: WireRecordRef): RecordRef {
  return { ...decodeSubjectRef(wire), key: wire.key as RecordKey };
}

/** The wire form of a replica. */
export function encodeReplica(replica: Replica): WireReplica {
  switch (replica.kind) {
    case 'delete':
      return { kind: 'delete', ref: encodeRecordRef(replica.ref) };
    case 'open':
      return {
        kind: 'open',
        ref: encodeRecordRef(replica.ref),
        classId: replica.classId,
        version: replica.version,
        value: base64(replica.value),
        updatedAt: replica.updatedAt,
      };
    case 'sealed': {
      const r = replica.record;
      return {
        kind: 'sealed',
        record: {
          subjectId: r.subjectId,
          jurisdiction: r.jurisdiction,
          key: r.key,
          classId: r.classId,
          version: r.version,
          ciphertext: base64(r.ciphertext),
          keyId: r.keyId,
          updatedAt: r.updatedAt,
        },
        wrappedKey: {
          id: replica.wrappedKey.id,
          kekId: replica.wrappedKey.kekId,
          wrapped: base64(replica.wrappedKey.wrapped),
        },
      };
    }
  }
}

/**
 * A replica from its wire form, whose shape the caller has validated; base64 fields are checked
 * here (`DOMICILE_ERR_BAD_REQUEST` when malformed).
 */
export function decodeReplica(wire: WireReplica): Replica {
  switch (wire.kind) {
    case 'delete':
      return { kind: 'delete', ref: decodeRecordRef(wire.ref) };
    case 'open':
      return {
        kind: 'open',
        ref: decodeRecordRef(wire.ref),
        classId: wire.classId as ClassId,
        version: wire.version,
        value: fromBase64('value', wire.value),
        updatedAt: wire.updatedAt,
      };
    case 'sealed': {
      const r = wire.record;
      const record: StoredRecord = {
        subjectId: r.subjectId as SubjectId,
        key: r.key as RecordKey,
        jurisdiction: r.jurisdiction as JurisdictionId,
        classId: r.classId as ClassId,
        version: r.version,
        ciphertext: fromBase64('record.ciphertext', r.ciphertext),
        keyId: r.keyId,
        updatedAt: r.updatedAt,
      };
      const wrappedKey: WrappedKey = {
        id: wire.wrappedKey.id,
        kekId: wire.wrappedKey.kekId,
        wrapped: fromBase64('wrappedKey.wrapped', wire.wrappedKey.wrapped),
      };
      return { kind: 'sealed', record, wrappedKey };
    }
  }
}

function base64(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64');
}

function fromBase64(field: string, text: string): Uint8Array {
  // Buffer.from(…, 'base64') skips what it does not understand: check strictly first
  if (!BASE64_PATTERN.test(text)) {
    throw new DomicileError('DOMICILE_ERR_BAD_REQUEST', `invalid request: \`${field}\` is not base64`);
  }
  return new Uint8Array(Buffer.from(text, 'base64'));
}

/**
 * An audit event on the wire (between processes of one jurisdiction only): `AuditEvent` as JSON,
 * its ids plain strings; an `AuditEvent` is its own wire form.
 */
export type WireAuditEvent = Omit<
  AuditEvent,
  'jurisdiction' | 'subjectId' | 'recordKey' | 'classId' | 'region'
> & {
  readonly jurisdiction: string;
  readonly subjectId?: string;
  readonly recordKey?: string;
  readonly classId?: string;
  readonly region?: string;
};

/** An audit event from its wire form, whose shape and id patterns the caller has validated. */
export function decodeAuditEvent(wire: WireAuditEvent): AuditEvent {
  return wire as AuditEvent;
}
