/**
 * Audit sinks for processes that do not hold a jurisdiction's log themselves. A jurisdiction's
 * log lives in its home region (`DESIGN.md`, L1); when gateways and region nodes run as separate
 * processes, events travel to it over the internal API:
 *
 * - `RelayAuditSink` (gateways): hands each event to the first node of the jurisdiction that
 *   takes it durably, home first, then its failover regions, never a region abroad.
 * - `SpoolingAuditSink` (a failover region node): forwards each event to the home region; while
 *   the home region cannot be reached, keeps events in a durable spool in this region (of the
 *   same jurisdiction) and delivers them, in order, once it can. An event is durable before
 *   `append` resolves either way; delivery from the spool is at least once (an event delivered
 *   just before a crash may be delivered again, under the same request id).
 */
import { DomicileError } from '../../domain/errors.js';
import type { RegionId } from '../../domain/ids.js';
import {
  isUnavailable,
  type RejectedItem,
  type Spool,
  SpooledForwarder,
} from '../routing/spooled-forwarder.js';
import type { AuditEvent, AuditSink } from './audit-event.js';

/** A node that can take audit events (`HttpsRegionClient.appendAudit`). */
export interface AuditRelayTarget {
  readonly regionId: RegionId;
  appendAudit(event: AuditEvent): Promise<void>;
}

/** Stamps the time an event happened, so that a late delivery keeps it. */
function stamped(event: AuditEvent): AuditEvent {
  return event.at === undefined ? { ...event, at: new Date().toISOString() } : event;
}

/** A gateway's sink of one jurisdiction: the first of its nodes (home first) that takes the event. */
export class RelayAuditSink implements AuditSink {
  private readonly targets: readonly AuditRelayTarget[];

  /** `targets`: the jurisdiction's nodes in routing order (home, then failover regions). */
  constructor(targets: readonly AuditRelayTarget[]) {
    this.targets = targets;
  }

  async append(event: AuditEvent): Promise<void> {
    const e = stamped(event);
    for (const target of this.targets) {
      try {
        await target.appendAudit(e);
        return;
      } catch (error) {
        if (!isUnavailable(error)) throw error;
      }
    }
    throw new DomicileError(
      'DOMICILE_ERR_AUDIT_UNAVAILABLE',
      `no region of jurisdiction \`${event.jurisdiction}\` could record the event`,
    );
  }
}

/** Options of a `SpoolingAuditSink`. */
export interface SpoolingAuditSinkOptions {
  /** The jurisdiction's home region node. */
  readonly home: AuditRelayTarget;
  readonly spool: Spool<AuditEvent>;
  /** Where events home refuses for good are kept for the operator (see `SpooledForwarderOptions`). */
  readonly rejected?: Spool<RejectedItem<AuditEvent>>;
  readonly retryMs?: number;
  readonly onError?: (error: unknown) => void;
}

/** A failover region's sink of one jurisdiction: forwards to home, spools while home is down. */
export class SpoolingAuditSink implements AuditSink {
  readonly forwarder: SpooledForwarder<AuditEvent>;

  constructor(options: SpoolingAuditSinkOptions) {
    const { home, ...rest } = options;
    this.forwarder = new SpooledForwarder({ ...rest, send: (event) => home.appendAudit(event) });
  }

  async append(event: AuditEvent): Promise<void> {
    await this.forwarder.forward(stamped(event));
  }

  close(): Promise<void> {
    return this.forwarder.close();
  }
}
