/**
 * Which regions are retired for which jurisdiction: written by `domicile wipe` once a legacy
 * region holds nothing of the jurisdiction any more, read at every start so routing and
 * residency (`withRetiredHoldings`) treat the region as unable to hold that jurisdiction's data.
 * Kept in the control file (`data/control/control.db`), apart from every region's data.
 */
import { existsSync } from 'node:fs';
import type { JurisdictionId, RegionId } from '../../domain/ids.js';
import { closeGuarded, type Migration, openSqliteDatabase, runGuarded } from './sqlite-database.js';

/** Schema component of the retirement table. */
export const RETIREMENTS_COMPONENT = 'region-retirements';

/** Migrations of the retirement table. Append only. */
export const RETIREMENTS_MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: 'create-region-retirements',
    sql: `
      CREATE TABLE region_retirements (
        region_id    TEXT    NOT NULL,
        jurisdiction TEXT    NOT NULL,
        retired_at   INTEGER NOT NULL,
        receipt      TEXT    NOT NULL,
        PRIMARY KEY (region_id, jurisdiction)
      ) STRICT;
    `,
  },
];

/** One region retired for one jurisdiction, with the wipe receipt (JSON, no personal data). */
export interface Retirement {
  readonly region: RegionId;
  readonly jurisdiction: JurisdictionId;
  readonly retiredAt: number;
  readonly receipt: string;
}

const CONTEXT = 'control store: region retirements';

function open(file: string) {
  return openSqliteDatabase({
    file,
    component: RETIREMENTS_COMPONENT,
    migrations: RETIREMENTS_MIGRATIONS,
    context: CONTEXT,
  });
}

/** The retirements recorded in the control file; none when the file does not exist yet. */
export function readRetirements(file: string): Retirement[] {
  if (!existsSync(file)) return [];
  const db = open(file);
  try {
    return runGuarded(db, CONTEXT, 'read', () =>
      db
        .prepare<[], { region_id: string; jurisdiction: string; retired_at: number; receipt: string }>(
          'SELECT region_id, jurisdiction, retired_at, receipt FROM region_retirements ORDER BY retired_at',
        )
        .all()
        .map((r) => ({
          region: r.region_id as RegionId,
          jurisdiction: r.jurisdiction as JurisdictionId,
          retiredAt: r.retired_at,
          receipt: r.receipt,
        })),
    );
  } finally {
    closeGuarded(db, CONTEXT);
  }
}

/** Records (idempotently) that `region` is retired for `jurisdiction`. Durable on return. */
export function recordRetirement(file: string, retirement: Retirement): void {
  const db = open(file);
  try {
    runGuarded(db, CONTEXT, 'record', () => {
      db.prepare<[string, string, number, string]>(
        `INSERT INTO region_retirements (region_id, jurisdiction, retired_at, receipt) VALUES (?, ?, ?, ?)
          ON CONFLICT (region_id, jurisdiction) DO UPDATE SET retired_at = excluded.retired_at, receipt = excluded.receipt`,
      ).run(retirement.region, retirement.jurisdiction, retirement.retiredAt, retirement.receipt);
    });
  } finally {
    closeGuarded(db, CONTEXT);
  }
}
