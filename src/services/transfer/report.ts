/**
 * The transfer report (T1): per jurisdiction, destination and class, the volumes moved, and the
 * figure the whole design exists for — protected plaintext records that left the jurisdiction —
 * computed from the transparency log's entry bundles (what an auditor downloads), not from a
 * counter that could drift from the record.
 */
import type { Config } from '../../domain/config.js';
import type { ClassId, JurisdictionId } from '../../domain/ids.js';
import type { TransparencyLog } from '../../tlog/log.js';
import { decodeEntryBundle } from '../../tlog/tiles.js';
import { decodeLogEntry, type LogEntry } from '../audit/entry.js';
import { KEY_MATERIAL_CLASS } from './gate.js';

/** One line of the report: a (kind, destination, class, form) with its volume. */
export interface TransferVolume {
  readonly kind: string;
  readonly destinationRegion: string;
  readonly destinationCountry: string | null;
  readonly classId: string;
  readonly form: string;
  readonly category: string;
  readonly transfers: number;
  readonly records: number;
  readonly bytes: number;
}

/** The report of one jurisdiction. */
export interface JurisdictionTransferReport {
  readonly jurisdiction: string;
  /** Log size the report was computed at. */
  readonly logSize: number;
  readonly allowed: readonly TransferVolume[];
  readonly refused: readonly TransferVolume[];
  /**
   * Records of a `jurisdiction`-residency class that went as plaintext to a region outside the
   * jurisdiction while staying its data (every kind but relocation). Must be 0 (T1).
   */
  readonly protectedPlaintextLeft: number;
  /** Records that left with their subject, who moved to another jurisdiction. */
  readonly relocatedOut: number;
  /** Keys (KEKs and DEKs, in any form) that went to a region outside the jurisdiction. Must be 0. */
  readonly keyMaterialLeft: number;
}

const TILE_WIDTH = 256;

/** Every entry of a log up to its latest checkpoint, read bundle by bundle. */
export async function readLogEntries(log: TransparencyLog): Promise<{ size: number; entries: LogEntry[] }> {
  await log.flush();
  const { size } = await log.integrate();
  const entries: LogEntry[] = [];
  for (let index = 0; index * TILE_WIDTH < size; index++) {
    const width = Math.min(TILE_WIDTH, size - index * TILE_WIDTH);
    const bundle = await log.readEntryBundle(index, width);
    for (const bytes of decodeEntryBundle(bundle, width)) entries.push(decodeLogEntry(bytes));
  }
  return { size, entries };
}

/** Computes a jurisdiction's transfer report from its log entries. */
export function transferReportOf(
  config: Config,
  jurisdiction: JurisdictionId,
  size: number,
  entries: readonly LogEntry[],
): JurisdictionTransferReport {
  const j = config.jurisdictions.get(jurisdiction);
  const allowed = new Map<string, TransferVolume>();
  const refused = new Map<string, TransferVolume>();
  let protectedPlaintextLeft = 0;
  let relocatedOut = 0;
  let keyMaterialLeft = 0;
  for (const entry of entries) {
    if (!entry.type.startsWith('transfer.') || entry.decision === 'info') continue;
    const d = entry.details;
    // only what left this jurisdiction's data counts here; a relocation into it is in both logs
    if (typeof d.sourceJurisdiction === 'string' && d.sourceJurisdiction !== jurisdiction) continue;
    const line: TransferVolume = {
      kind: entry.type.slice('transfer.'.length),
      destinationRegion: String(d.destinationRegion ?? ''),
      destinationCountry: typeof d.destinationCountry === 'string' ? d.destinationCountry : null,
      classId: entry.class ?? 'unknown',
      form: String(d.form ?? ''),
      category: String(d.category ?? 'unspecified'),
      transfers: 1,
      records: Number(d.records ?? 0),
      bytes: Number(d.bytes ?? 0),
    };
    const target = entry.decision === 'allow' ? allowed : refused;
    const key = [line.kind, line.destinationRegion, line.classId, line.form, line.category].join('\0');
    const sum = target.get(key);
    target.set(
      key,
      sum
        ? {
            ...sum,
            transfers: sum.transfers + 1,
            records: sum.records + line.records,
            bytes: sum.bytes + line.bytes,
          }
        : line,
    );
    if (entry.decision !== 'allow' || !j) continue;
    const outside = line.destinationCountry === null || !j.countries.includes(line.destinationCountry);
    if (outside && line.classId === KEY_MATERIAL_CLASS) keyMaterialLeft += line.records;
    const residency = config.classes.get(line.classId as ClassId)?.residency;
    if (outside && line.form === 'plaintext' && residency === 'jurisdiction') {
      if (line.kind === 'relocation') relocatedOut += line.records;
      else protectedPlaintextLeft += line.records;
    }
  }
  const sorted = (m: Map<string, TransferVolume>): TransferVolume[] =>
    [...m.values()].sort((a, b) =>
      `${a.destinationRegion}\0${a.classId}\0${a.kind}`.localeCompare(
        `${b.destinationRegion}\0${b.classId}\0${b.kind}`,
      ),
    );
  return {
    jurisdiction,
    logSize: size,
    allowed: sorted(allowed),
    refused: sorted(refused),
    protectedPlaintextLeft,
    relocatedOut,
    keyMaterialLeft,
  };
}
