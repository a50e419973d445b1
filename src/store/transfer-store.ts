/**
 * The transfer store: what the transfer gate and the backup service must remember beyond the log.
 * - the erasure ledger: which subjects were erased and when, by pseudonym only, so that every
 *   restore can re-apply erasures (invariant E1) without the ledger naming anyone;
 * - export volumes: which subjects (by pseudonym) went to which counterparty in which data
 *   category and when, to count distinct persons over a rolling 12 months against bulk thresholds.
 *
 * It holds no personal data. Every method completes or changes nothing; failures surface as
 * `DomicileError('DOMICILE_ERR_STORE_UNAVAILABLE')`.
 */
import type { JurisdictionId } from '../domain/ids.js';

/** One erasure: the subject's pseudonym in its jurisdiction's log, and when (epoch ms). */
export interface ErasureRecord {
  readonly jurisdiction: JurisdictionId;
  readonly subject: string;
  readonly erasedAt: number;
}

/** Persons that went to one counterparty in one category at one time. */
export interface ExportVolume {
  readonly jurisdiction: JurisdictionId;
  readonly counterparty: string;
  readonly category: string;
  /** Subject pseudonyms. */
  readonly subjects: readonly string[];
  readonly at: number;
}

/** The transfer store. */
export interface TransferStore {
  /** Adds an erasure to the ledger (a later erasure of the same subject moves its time). */
  recordErasure(erasure: ErasureRecord): Promise<void>;
  /** The ledger of a jurisdiction: subject pseudonym → latest erasure time. */
  erasures(jurisdiction: JurisdictionId): Promise<Map<string, number>>;
  /** Records the persons of an export. */
  recordExportVolume(volume: ExportVolume): Promise<void>;
  /**
   * Distinct persons sent to `counterparty` in `category` at or after `sinceMs`, counting also
   * `candidates` (the persons of the export being decided) without recording them.
   */
  distinctExported(
    jurisdiction: JurisdictionId,
    counterparty: string,
    category: string,
    sinceMs: number,
    candidates: readonly string[],
  ): Promise<number>;
  close(): Promise<void>;
}
