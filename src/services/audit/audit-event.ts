/**
 * The audit hook: every operation, allowed or denied, becomes one event through this single
 * interface before its response is sent (invariant L1). Events carry raw ids only on their way
 * in; the sink pseudonymises subject ids and record keys before anything is written.
 */
import type { ClassId, JurisdictionId, RecordKey, RegionId, SubjectId } from '../../domain/ids.js';
import type { PrincipalSummary } from '../access/principal.js';

/** Non-personal details of an event (counts, ids of regions, policy ids). */
export type AuditDetails = Readonly<Record<string, string | number | boolean | null | readonly string[]>>;

/** One auditable event. */
export interface AuditEvent {
  /** Dotted event type, e.g. `record.read`, `subject.erase`, `config.load`. */
  readonly type: string;
  readonly requestId: string;
  readonly principal: PrincipalSummary | null;
  readonly jurisdiction: JurisdictionId;
  readonly subjectId?: SubjectId;
  readonly recordKey?: RecordKey;
  readonly classId?: ClassId;
  readonly region?: RegionId;
  readonly decision: 'allow' | 'deny' | 'info';
  readonly reason: string;
  readonly policyHash?: string;
  readonly determining?: readonly string[];
  readonly details?: AuditDetails;
  /**
   * When it happened (ISO 8601), for an event recorded later than it happened (one held in a
   * failover region's spool while the home region was down); default: when the log appends it.
   */
  readonly at?: string;
}

/** Where events go. `append` resolves only once the event is durable. */
export interface AuditSink {
  append(event: AuditEvent): Promise<void>;
}
