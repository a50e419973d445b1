/**
 * The transfer gate (invariant T1): every movement of data between regions — replication,
 * backups, restores, exports, migrations, relocations — passes `TransferGate.authorize`. It checks
 * class × source jurisdiction × destination region against the residency rules of
 * `src/domain/residency.ts`, and puts the transfer with its volume on the source jurisdiction's
 * log (`transfer.<kind>`), allowed or refused. The report reads those entries back.
 */
import type { Config, Jurisdiction, Region } from '../../domain/config.js';
import { DomicileError, isDomicileError } from '../../domain/errors.js';
import type { ClassId, JurisdictionId, RegionId } from '../../domain/ids.js';
import { jurisdictionsHeldBy, mayHold, requireJurisdiction } from '../../domain/residency.js';
import { type Principal, summarizePrincipal } from '../access/principal.js';
import type { AuditDetails, AuditSink } from '../audit/audit-event.js';

/** What kind of movement. */
export const TRANSFER_KINDS = [
  'replication',
  'backup',
  'restore',
  'export',
  'migration',
  'relocation',
] as const;
export type TransferKind = (typeof TRANSFER_KINDS)[number];

/**
 * The class of key material (KEKs, wrapped DEKs: key backups and their restores). Not a data class
 * of the configuration; the gate decides it before any configured class — a configured class of
 * this name is treated as key material too.
 */
export const KEY_MATERIAL_CLASS = 'key-material';

/**
 * What crosses: `plaintext` (or anything the destination can decrypt, e.g. ciphertext with its
 * wrapped key) or `ciphertext` whose keys stay in the source jurisdiction.
 */
export type TransferForm = 'plaintext' | 'ciphertext';

/** One transfer to decide. */
export interface TransferRequest {
  readonly kind: TransferKind;
  readonly sourceJurisdiction: JurisdictionId | string;
  readonly sourceRegion?: RegionId | undefined;
  readonly destinationRegion: RegionId | string;
  /** Relocation only: the jurisdiction the data belongs to once it arrives. */
  readonly destinationJurisdiction?: JurisdictionId | string | undefined;
  readonly classId: ClassId | string;
  readonly form: TransferForm;
  readonly records: number;
  readonly bytes: number;
  /** Data category (bulk thresholds), e.g. `health`; `unspecified` when absent. */
  readonly category?: string | undefined;
  /** Exports: the receiving party and its country. */
  readonly counterparty?: string | undefined;
  readonly counterpartyCountry?: string | undefined;
  /** Exports: the data passed the de-identification and k-anonymity check. */
  readonly deidentified?: boolean | undefined;
  readonly requestId?: string | undefined;
  readonly principal?: Principal | undefined;
  /** More non-personal details for the log entry (backup id, review flag…). */
  readonly details?: AuditDetails | undefined;
}

/** The gate's answer. */
export interface TransferDecision {
  readonly allowed: boolean;
  readonly reason: string;
}

/** Options of `TransferGate`. */
export interface TransferGateOptions {
  readonly config: Config;
  readonly audit: (jurisdiction: JurisdictionId) => AuditSink;
  /** Told when a batched summary could not be written (no personal data in the arguments). */
  readonly onError?: (error: unknown) => void;
}

/**
 * Decides a transfer without side effects. Unknown jurisdictions, regions and classes, and
 * retired destinations, are refused (fail closed).
 */
export function checkTransfer(config: Config, request: TransferRequest): TransferDecision {
  const source = config.jurisdictions.get(request.sourceJurisdiction as JurisdictionId);
  if (!source) return { allowed: false, reason: `unknown jurisdiction \`${request.sourceJurisdiction}\`` };
  const region = config.regions.get(request.destinationRegion as RegionId);
  if (!region) return { allowed: false, reason: `unknown region \`${request.destinationRegion}\`` };
  if (region.status === 'retired') return { allowed: false, reason: `region \`${region.id}\` is retired` };
  if (!Number.isSafeInteger(request.records) || request.records < 0 || !Number.isSafeInteger(request.bytes)) {
    return { allowed: false, reason: 'volume must be a non-negative integer' };
  }
  if (request.classId === KEY_MATERIAL_CLASS) return checkKeyMaterial(config, source, region);
  const dataClass = config.classes.get(request.classId as ClassId);
  if (!dataClass) return { allowed: false, reason: `unknown data class \`${request.classId}\`` };
  if (request.kind === 'relocation') return checkRelocation(config, request, region);
  if (dataClass.residency === 'global') return { allowed: true, reason: 'global class: may go anywhere' };
  const home = source.countries.includes(region.country);
  if (request.form === 'plaintext') {
    // INVARIANT T1: no plaintext of personal data crosses the jurisdiction's border — except the
    // output of a de-identifying export, which is of the class that may leave after the check.
    if (mayHold(config, region.id, source.id, dataClass.id)) {
      return { allowed: true, reason: 'destination holds this jurisdiction’s data' };
    }
    if (request.kind === 'export' && dataClass.residency === 'export-after-check' && request.deidentified) {
      return { allowed: true, reason: 'de-identified export that passed the k-anonymity check' };
    }
    return {
      allowed: false,
      reason: `${dataClass.id} plaintext of \`${source.id}\` may not go to \`${region.id}\` (${region.country})`,
    };
  }
  // INVARIANT T1 and R1: ciphertext whose keys stay home may go to the jurisdiction's own regions
  // and to its configured backup regions, nowhere else.
  if (home || source.backup.includes(region.id)) {
    return { allowed: true, reason: home ? 'own region of the jurisdiction' : 'configured backup region' };
  }
  return {
    allowed: false,
    reason: `region \`${region.id}\` is neither a region nor a backup region of \`${source.id}\``,
  };
}

/**
 * INVARIANT T1 (keys stay home): key material goes only to regions of its jurisdiction — regions
 * whose keyrings may hold its KEK — whatever its form: not even wrapped or sealed does it go to a
 * backup region abroad, so nothing outside the jurisdiction can ever decrypt its backups.
 */
function checkKeyMaterial(config: Config, source: Jurisdiction, region: Region): TransferDecision {
  if (jurisdictionsHeldBy(config, region.id).includes(source.id)) {
    return { allowed: true, reason: 'key material to a region of its jurisdiction' };
  }
  return {
    allowed: false,
    reason: `key material of \`${source.id}\` never leaves the jurisdiction, not even wrapped: \`${region.id}\` (${region.country}) is not one of its regions`,
  };
}

function checkRelocation(config: Config, request: TransferRequest, region: Region): TransferDecision {
  const target = config.jurisdictions.get(request.destinationJurisdiction as JurisdictionId);
  if (!target) {
    return { allowed: false, reason: `unknown jurisdiction \`${String(request.destinationJurisdiction)}\`` };
  }
  // INVARIANT T1: relocated data becomes the destination jurisdiction's data; it may go only to a
  // region that may hold that jurisdiction's data of this class.
  if (!mayHold(config, region.id, target.id, request.classId as ClassId)) {
    return {
      allowed: false,
      reason: `region \`${region.id}\` may not hold ${request.classId} data of \`${target.id}\``,
    };
  }
  return { allowed: true, reason: `subject relocated to \`${target.id}\`` };
}

/** Log entry details of a transfer: its volume by class and category, and where it went. */
function detailsOf(config: Config, request: TransferRequest): AuditDetails {
  const region = config.regions.get(request.destinationRegion as RegionId);
  return {
    kind: request.kind,
    form: request.form,
    sourceRegion: request.sourceRegion ?? null,
    destinationRegion: String(request.destinationRegion),
    destinationCountry: region?.country ?? null,
    destinationJurisdiction: request.destinationJurisdiction ?? null,
    records: request.records,
    bytes: request.bytes,
    category: request.category ?? 'unspecified',
    ...(request.counterparty === undefined ? {} : { counterparty: request.counterparty }),
    ...(request.counterpartyCountry === undefined
      ? {}
      : { counterpartyCountry: request.counterpartyCountry }),
    ...(request.details ?? {}),
  };
}

interface Pending {
  request: TransferRequest;
  records: number;
  bytes: number;
}

/** The transfer gate. */
export class TransferGate {
  readonly config: Config;
  private readonly options: TransferGateOptions;
  private pending = new Map<string, Pending>();
  private timer: NodeJS.Timeout | undefined;

  constructor(options: TransferGateOptions) {
    this.options = options;
    this.config = options.config;
  }

  /**
   * Decides a transfer and puts it on the log: the source jurisdiction's (and, for a relocation,
   * the destination's too). Resolves when the entry is durable; throws `DOMICILE_ERR_RESIDENCY`
   * (after logging) when refused, `DOMICILE_ERR_UNKNOWN_JURISDICTION` for an unknown source or
   * relocation target.
   *
   * With `batch`, an allowed transfer is added to a summary written every
   * `transfers.summaryIntervalMs` instead of one entry each (replication of every write); a
   * refused one is logged at once either way.
   *
   * @example
   * await gate.authorize({ kind: 'backup', sourceJurisdiction: 'US', destinationRegion: 'sg-singapore',
   *   classId: 'protected', form: 'ciphertext', records: 120, bytes: 48_000 });
   */
  async authorize(request: TransferRequest, options: { batch?: boolean } = {}): Promise<TransferDecision> {
    const source = requireJurisdiction(this.config, String(request.sourceJurisdiction));
    if (request.kind === 'relocation') {
      requireJurisdiction(this.config, String(request.destinationJurisdiction));
    }
    let decision: TransferDecision;
    try {
      decision = checkTransfer(this.config, request);
    } catch {
      // Fail closed: an error while deciding is a refusal.
      decision = { allowed: false, reason: 'transfer check failed' };
    }
    if (decision.allowed && options.batch) {
      this.addToSummary(request);
      return decision;
    }
    await this.log(source, request, decision);
    if (!decision.allowed) {
      throw new DomicileError('DOMICILE_ERR_RESIDENCY', `transfer refused: ${decision.reason}`);
    }
    return decision;
  }

  /** Logs a refusal decided elsewhere (policy, k-anonymity, bulk volume) as a `transfer.<kind>` deny. */
  async logRefusal(request: TransferRequest, reason: string): Promise<void> {
    const source = requireJurisdiction(this.config, String(request.sourceJurisdiction));
    await this.log(source, request, { allowed: false, reason });
  }

  /** Writes the pending replication summaries to the logs. */
  async flush(): Promise<void> {
    const pending = [...this.pending.values()];
    this.pending = new Map();
    for (const p of pending) {
      const request = { ...p.request, records: p.records, bytes: p.bytes };
      const source = requireJurisdiction(this.config, String(request.sourceJurisdiction));
      await this.log(source, request, { allowed: true, reason: 'summary of allowed transfers' });
    }
  }

  /** Starts writing summaries every `transfers.summaryIntervalMs`. */
  start(): void {
    if (this.timer) return;
    this.timer = setInterval(() => {
      this.flush().catch((error: unknown) => this.options.onError?.(error));
    }, this.config.transfers.summaryIntervalMs);
    this.timer.unref();
  }

  /** Stops the timer and writes what is pending. */
  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    try {
      await this.flush();
    } catch (error) {
      this.options.onError?.(error);
    }
  }

  private addToSummary(request: TransferRequest): void {
    const key = [
      request.kind,
      request.sourceJurisdiction,
      request.sourceRegion ?? '',
      request.destinationRegion,
      request.classId,
      request.form,
      request.category ?? '',
    ].join('\0');
    const entry = this.pending.get(key);
    if (entry) {
      entry.records += request.records;
      entry.bytes += request.bytes;
    } else {
      this.pending.set(key, {
        request: { ...request, requestId: undefined, principal: undefined },
        records: request.records,
        bytes: request.bytes,
      });
    }
  }

  private async log(
    source: Jurisdiction,
    request: TransferRequest,
    decision: TransferDecision,
  ): Promise<void> {
    const jurisdictions = [source.id];
    const target = this.config.jurisdictions.get(request.destinationJurisdiction as JurisdictionId);
    if (request.kind === 'relocation' && target && target.id !== source.id) jurisdictions.push(target.id);
    const details = detailsOf(this.config, request);
    for (const jurisdiction of jurisdictions) {
      try {
        await this.options.audit(jurisdiction).append({
          type: `transfer.${request.kind}`,
          requestId: request.requestId ?? `transfer-${request.kind}`,
          principal: request.principal ? summarizePrincipal(request.principal) : null,
          jurisdiction,
          classId: request.classId as ClassId,
          region: (request.sourceRegion ?? request.destinationRegion) as RegionId,
          decision: decision.allowed ? 'allow' : 'deny',
          reason: decision.reason,
          details: { ...details, sourceJurisdiction: source.id },
        });
      } catch (cause) {
        if (isDomicileError(cause, 'DOMICILE_ERR_AUDIT_UNAVAILABLE')) throw cause;
        throw new DomicileError(
          'DOMICILE_ERR_AUDIT_UNAVAILABLE',
          'audit log unavailable: transfer not performed',
          { cause },
        );
      }
    }
  }
}

/**
 * Who may move a whole jurisdiction's data (backups, restores, exports): an employee of its
 * steward department located in one of its countries, or a service of the jurisdiction with role
 * `operator`. Anyone else is refused; the caller logs the refusal.
 */
export function mayOperate(principal: Principal, jurisdiction: Jurisdiction): boolean {
  const located = principal.country !== undefined && jurisdiction.countries.includes(principal.country);
  if (!located) return false;
  if (principal.type === 'employee') return principal.department === jurisdiction.steward;
  return principal.jurisdiction === jurisdiction.id && principal.roles.includes('operator');
}

/**
 * Refuses (and logs through the gate, as a deny of `request`) a caller who may not operate on the
 * jurisdiction's data. No principal means the process itself (e.g. the scheduler of `domicile up`).
 */
export async function requireOperator(
  gate: TransferGate,
  principal: Principal | undefined,
  jurisdiction: Jurisdiction,
  request: TransferRequest,
): Promise<void> {
  if (principal === undefined) return;
  if (mayOperate(principal, jurisdiction)) return;
  const reason = 'principal is not an operator of the jurisdiction';
  await gate.logRefusal(request, reason);
  throw new DomicileError('DOMICILE_ERR_FORBIDDEN', `denied: ${reason}`);
}
