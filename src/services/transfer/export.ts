/**
 * Exports (T1): a jurisdiction's data leaves only de-identified — direct identifiers dropped,
 * quasi-identifiers generalised, k-anonymity checked before anything leaves — and counted per
 * counterparty and data category over a rolling 12 months against the jurisdiction's bulk
 * thresholds (28 CFR Part 202): bulk volumes to a counterparty in a country of concern are
 * prohibited; bulk volumes and countries of concern are otherwise flagged for review.
 */
import { randomUUID } from 'node:crypto';
import { decryptRecord } from '../../crypto/envelope.js';
import type { Keyring } from '../../crypto/keyring.js';
import type { Config, DataCategory } from '../../domain/config.js';
import { DATA_CATEGORIES } from '../../domain/config.js';
import { DomicileError, isDomicileError } from '../../domain/errors.js';
import type { ClassId, JurisdictionId, RecordKey, RegionId, SubjectId } from '../../domain/ids.js';
import { requireClass, requireJurisdiction, requireRegion, servingRegions } from '../../domain/residency.js';
import type { RegionStore } from '../../store/region-store.js';
import type { TransferStore } from '../../store/transfer-store.js';
import type { OperationContext } from '../backup/backup.js';
import { deidentify } from './deidentify.js';
import { requireOperator, type TransferGate, type TransferRequest } from './gate.js';

/** One export request. */
export interface ExportRequest {
  readonly jurisdiction: string;
  /** The class of the records read (e.g. `protected`). */
  readonly class: string;
  /** Record keys to export. */
  readonly fields: readonly string[];
  /** Region the export is delivered to. */
  readonly destination: string;
  readonly counterparty: string;
  /** ISO country of the counterparty. */
  readonly counterpartyCountry: string;
  /** Data category, or several (combined data: the lowest threshold applies). */
  readonly category: string | readonly string[];
  /** k of the k-anonymity check; at least the configured one. */
  readonly k?: number | undefined;
}

/** What an export returns. */
export interface ExportResult {
  readonly exportId: string;
  readonly jurisdiction: string;
  readonly destination: string;
  readonly counterparty: string;
  readonly k: number;
  readonly fields: readonly string[];
  readonly dropped: readonly string[];
  readonly groups: number;
  readonly smallestGroup: number;
  readonly rows: readonly Readonly<Record<string, unknown>>[];
  /** True when a person must look at it (bulk volume, or a counterparty in a country of concern). */
  readonly review: boolean;
  readonly reviewReasons: readonly string[];
}

/** Dependencies of the export service. */
export interface ExportServiceOptions {
  readonly config: Config;
  readonly stores: ReadonlyMap<RegionId, RegionStore>;
  readonly keyrings: ReadonlyMap<RegionId, Keyring>;
  readonly gate: TransferGate;
  readonly transfers: TransferStore;
  readonly pseudonym: (jurisdiction: JurisdictionId, subjectId: SubjectId) => string;
  readonly now?: () => number;
}

const YEAR_MS = 365 * 24 * 3600 * 1000;
const PAGE = 1000;

/** The export service. */
export class ExportService {
  private readonly options: ExportServiceOptions;
  private readonly now: () => number;

  constructor(options: ExportServiceOptions) {
    this.options = options;
    this.now = options.now ?? Date.now;
  }

  /**
   * Runs an export. Refusals are logged as `transfer.export` denies and thrown:
   * `DOMICILE_ERR_NOT_ANONYMOUS` (a group smaller than k), `DOMICILE_ERR_TRANSFER_PROHIBITED`
   * (bulk to a country of concern), `DOMICILE_ERR_FORBIDDEN` (not an operator).
   */
  async export(request: ExportRequest, ctx: OperationContext): Promise<ExportResult> {
    const { config, gate, transfers } = this.options;
    const jurisdiction = requireJurisdiction(config, request.jurisdiction);
    const sourceClass = requireClass(config, request.class);
    const destination = requireRegion(config, request.destination);
    const categories = parseCategories(request.category);
    const outputClass = [...config.classes.values()].find((c) => c.residency === 'export-after-check');
    if (!outputClass)
      throw new DomicileError('DOMICILE_ERR_CONFIG', 'no class with residency `export-after-check`');
    const k = Math.max(config.transfers.exports.k, request.k ?? 0);
    const base: TransferRequest = {
      kind: 'export',
      sourceJurisdiction: jurisdiction.id,
      destinationRegion: destination.id,
      classId: outputClass.id,
      form: 'plaintext',
      records: 0,
      bytes: 0,
      category: categories.join('+'),
      counterparty: request.counterparty,
      counterpartyCountry: request.counterpartyCountry,
      requestId: ctx.requestId,
      principal: ctx.principal,
      details: { sourceClass },
    };
    await requireOperator(gate, ctx.principal, jurisdiction, base);
    const { rows, subjects } = await this.readRows(jurisdiction.id, sourceClass, request.fields);
    let table: ReturnType<typeof deidentify>;
    try {
      table = deidentify(rows, request.fields, config.transfers.exports.fields, k);
    } catch (error) {
      // INVARIANT T1: nothing leaves unless every group has at least k rows
      if (isDomicileError(error, 'DOMICILE_ERR_NOT_ANONYMOUS')) {
        await gate.logRefusal({ ...base, records: rows.length }, error.message);
      }
      throw error;
    }
    const pseudonyms = subjects.map((s) => this.options.pseudonym(jurisdiction.id, s));
    const since = this.now() - YEAR_MS;
    const concern = jurisdiction.restrictedCountries.includes(request.counterpartyCountry);
    const thresholds = config.transfers.bulkThresholds[jurisdiction.id] ?? {};
    const reviewReasons: string[] = [];
    let bulk = false;
    for (const category of categories) {
      const threshold = thresholds[category];
      if (threshold === undefined) continue;
      const persons = await transfers.distinctExported(
        jurisdiction.id,
        request.counterparty,
        category,
        since,
        pseudonyms,
      );
      if (persons > threshold) {
        bulk = true;
        reviewReasons.push(`bulk ${category}: ${persons} persons in 12 months, threshold ${threshold}`);
      }
    }
    // combined data: the lowest applicable threshold applies to the transaction as a whole
    const applicable = categories.map((c) => thresholds[c]).filter((t): t is number => t !== undefined);
    if (categories.length > 1 && applicable.length > 0 && pseudonyms.length > Math.min(...applicable)) {
      bulk = true;
      reviewReasons.push(
        `bulk combined data: ${pseudonyms.length} persons, threshold ${Math.min(...applicable)}`,
      );
    }
    const bytes = Buffer.byteLength(JSON.stringify(table.rows));
    const volume = { ...base, records: table.rows.length, bytes };
    if (bulk && concern) {
      // INVARIANT T1: bulk volumes to a country of concern are prohibited (28 CFR 202.301)
      const reason = `prohibited: bulk volume to a counterparty in a country of concern (\`${request.counterpartyCountry}\`)`;
      await gate.logRefusal(volume, reason);
      throw new DomicileError('DOMICILE_ERR_TRANSFER_PROHIBITED', `export refused: ${reason}`);
    }
    if (concern)
      reviewReasons.push(`counterparty in a country of concern (\`${request.counterpartyCountry}\`)`);
    const review = reviewReasons.length > 0;
    await gate.authorize({
      ...volume,
      deidentified: true,
      details: { sourceClass, k, smallestGroup: table.smallestGroup, review },
    });
    for (const category of categories) {
      await transfers.recordExportVolume({
        jurisdiction: jurisdiction.id,
        counterparty: request.counterparty,
        category,
        subjects: pseudonyms,
        at: this.now(),
      });
    }
    return {
      exportId: `ex-${randomUUID()}`,
      jurisdiction: jurisdiction.id,
      destination: destination.id,
      counterparty: request.counterparty,
      k,
      fields: table.rows.length > 0 ? Object.keys(table.rows[0] ?? {}) : [],
      dropped: table.dropped,
      groups: table.groups,
      smallestGroup: table.smallestGroup,
      rows: table.rows,
      review,
      reviewReasons,
    };
  }

  /** One row per subject holding at least one of the fields: field → decrypted value. */
  private async readRows(
    jurisdiction: JurisdictionId,
    classId: ClassId,
    fields: readonly string[],
  ): Promise<{ rows: Record<string, unknown>[]; subjects: SubjectId[] }> {
    const wanted = new Set(fields);
    const region = servingRegions(this.options.config, jurisdiction).find(
      (r) => this.options.stores.has(r) && this.options.keyrings.has(r),
    );
    const store = region && this.options.stores.get(region);
    const keyring = region && this.options.keyrings.get(region);
    if (!store || !keyring) {
      throw new DomicileError(
        'DOMICILE_ERR_REGION_UNAVAILABLE',
        `no region of \`${jurisdiction}\` can export`,
      );
    }
    const bySubject = new Map<SubjectId, Record<string, unknown>>();
    let after: { subjectId: SubjectId; key: RecordKey } | undefined;
    for (;;) {
      const page = await store.scanRecords({ jurisdiction, limit: PAGE, ...(after ? { after } : {}) });
      for (const record of page) {
        if (record.classId !== classId || !wanted.has(record.key)) continue;
        const key = await keyring.keyById(jurisdiction, record.subjectId, record.keyId);
        if (!key) continue; // erased: crypto-shredded
        const value = JSON.parse(decryptRecord(key, record, record.ciphertext).toString('utf8')) as unknown;
        const row = bySubject.get(record.subjectId) ?? {};
        row[record.key] = value;
        bySubject.set(record.subjectId, row);
      }
      const last = page[page.length - 1];
      if (!last || page.length < PAGE) break;
      after = { subjectId: last.subjectId, key: last.key };
    }
    return { rows: [...bySubject.values()], subjects: [...bySubject.keys()] };
  }
}

function parseCategories(category: string | readonly string[]): DataCategory[] {
  const list = typeof category === 'string' ? [category] : [...category];
  if (list.length === 0) throw new DomicileError('DOMICILE_ERR_BAD_REQUEST', 'give a data category');
  for (const c of list) {
    if (!(DATA_CATEGORIES as readonly string[]).includes(c)) {
      throw new DomicileError(
        'DOMICILE_ERR_BAD_REQUEST',
        `unknown data category \`${c.slice(0, 32)}\`: expected one of ${DATA_CATEGORIES.join(', ')}`,
      );
    }
  }
  return list as DataCategory[];
}
