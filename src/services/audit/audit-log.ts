/**
 * A jurisdiction's audit log: the `AuditSink` every operation writes to, backed by a
 * transparency log held in the jurisdiction's home region. An append resolves only once its
 * entry is durable (invariant L1); integration into the Merkle tree and checkpoint signing
 * follow within the integration interval, or at once on demand.
 */
import type { JurisdictionId, SubjectId } from '../../domain/ids.js';
import type { IndexedLogStorage } from '../../store/region-store.js';
import type { TransparencyLog } from '../../tlog/log.js';
import type { AuditEvent, AuditSink } from './audit-event.js';
import { decodeLogEntry, encodeLogEntry, type LogEntry, Pseudonyms, toLogEntry } from './entry.js';

/** One entry of a subject's access log, with its inclusion proof. */
export interface AccessLogItem {
  readonly index: number;
  readonly entry: LogEntry;
  /** Base64 hashes proving inclusion in the tree of `checkpoint`. */
  readonly inclusionProof: readonly string[];
}

/** A subject's access log: entries about it and the checkpoint they are proven against. */
export interface AccessLog {
  readonly checkpoint: string;
  readonly treeSize: number;
  readonly entries: readonly AccessLogItem[];
}

/** Options of an audit log. */
export interface AuditLogOptions {
  readonly jurisdiction: JurisdictionId;
  readonly log: TransparencyLog;
  readonly storage: IndexedLogStorage;
  readonly pseudonymKey: Uint8Array;
  readonly now?: () => Date;
}

/** The audit log of one jurisdiction. */
export class AuditLog implements AuditSink {
  readonly jurisdiction: JurisdictionId;
  readonly log: TransparencyLog;
  private readonly storage: IndexedLogStorage;
  private readonly pseudonyms: Pseudonyms;
  private readonly now: () => Date;

  constructor(options: AuditLogOptions) {
    this.jurisdiction = options.jurisdiction;
    this.log = options.log;
    this.storage = options.storage;
    this.pseudonyms = new Pseudonyms(options.pseudonymKey);
    this.now = options.now ?? (() => new Date());
  }

  /** Appends an event; resolves when its entry is durable (indexed under its subject's pseudonym). */
  async append(event: AuditEvent): Promise<void> {
    const entry = toLogEntry(event, this.pseudonyms, this.now());
    await this.log.append(encodeLogEntry(entry), entry.subject ?? undefined);
  }

  /** The pseudonym under which a subject appears in this log. */
  subjectPseudonym(subjectId: SubjectId): string {
    return this.pseudonyms.of('subject', subjectId);
  }

  /**
   * Every entry about a subject, each with an inclusion proof against the latest checkpoint
   * (integrating first, so that entries written a moment ago are included).
   */
  async accessLog(subjectId: SubjectId): Promise<AccessLog> {
    await this.log.flush();
    const result = await this.log.integrate();
    const indices = (await this.storage.lookup(this.subjectPseudonym(subjectId))).filter(
      (i) => i < result.size,
    );
    const entries: AccessLogItem[] = [];
    for (const index of indices) {
      const [bytes] = await this.storage.readEntries(index, index + 1);
      if (!bytes) continue;
      const proof = await this.log.inclusionProof(index, result.size);
      entries.push({
        index,
        entry: decodeLogEntry(bytes),
        inclusionProof: proof.map((h) => Buffer.from(h).toString('base64')),
      });
    }
    return { checkpoint: result.checkpoint, treeSize: result.size, entries };
  }
}
