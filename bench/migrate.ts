/**
 * `npm run bench -- migrate [--records N] [--batch N]`: a legacy region (SQLite) migrated into the
 * home region (SQLite) end to end — decrypt under the legacy keys, encrypt under the home keys,
 * put-if-newer with the cursor in the same transaction, then `verify` (both sides decrypted and
 * hashed into Merkle roots) — against a raw copy of the same rows in the same run (read pages and
 * batch-insert them into another SQLite file: no crypto, no checks).
 * Targets: ≥ 50% of the raw copy's rate and ≥ 20,000 records/s. Records are 1 KiB.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { encryptRecord } from '../src/crypto/envelope.js';
import { parseConfig } from '../src/domain/config.js';
import type { ClassId, JurisdictionId, RecordKey, RegionId, SubjectId } from '../src/domain/ids.js';
import { initDeployment } from '../src/server/deployment.js';
import { openOperator, operatorPrincipal } from '../src/server/operator.js';
import { runMigration, verifyMigration } from '../src/services/migrate/migration.js';
import type { StoredRecord } from '../src/store/region-store.js';

const US = 'US' as JurisdictionId;
const LEGACY = 'us-va-legacy' as RegionId;
const HOME = 'oci-us-ashburn' as RegionId;

function option(args: string[], name: string, fallback: number): number {
  const i = args.indexOf(`--${name}`);
  const value = i >= 0 ? Number(args[i + 1]) : fallback;
  if (!Number.isSafeInteger(value) || value < 1) throw new Error(`--${name} must be a positive integer`);
  return value;
}

const rate = (n: number, ms: number): number => Math.round((n / ms) * 1000);

export async function run(args: string[]): Promise<void> {
  const records = option(args, 'records', 1_000_000);
  const batch = option(args, 'batch', 5_000);
  const dataDir = mkdtempSync(join(tmpdir(), 'domicile-bench-migrate-'));
  const env = { DOMICILE_MASTER_KEY: randomBytes(32).toString('base64') };
  const configFile = join(new URL('../../', import.meta.url).pathname, 'domicile.yaml');
  const { readFileSync } = await import('node:fs');
  const config = parseConfig(readFileSync(configFile, 'utf8'), configFile);
  try {
    await initDeployment({ config, dataDir, env });
    const operator = await openOperator({ config, dataDir, env });
    const legacy = operator.stores.get(LEGACY);
    const legacyKeys = operator.keyrings.get(LEGACY);
    if (!legacy || !legacyKeys) throw new Error('no legacy region');
    // seed: 1 KiB values, 10 records per subject, written as the legacy deployment would have
    const value = Buffer.from(JSON.stringify('x'.repeat(1024 - 2)));
    let t = performance.now();
    const seed = legacy.db.prepare(
      `INSERT INTO records (subject_id, key, jurisdiction, class_id, version, ciphertext, key_id, updated_at)
        VALUES (?, ?, ?, 'protected', 1, ?, ?, ?)`,
    );
    for (let start = 0; start < records; start += 10_000) {
      const end = Math.min(records, start + 10_000);
      const subjects: SubjectId[] = [];
      for (let n = start; n < end; n += 10)
        subjects.push(`user-${String(n / 10).padStart(8, '0')}` as SubjectId);
      const keys = await legacyKeys.subjectKeys(US, subjects, true);
      legacy.db.transaction(() => {
        for (let n = start; n < end; n++) {
          const subjectId = `user-${String(Math.floor(n / 10)).padStart(8, '0')}` as SubjectId;
          const key = `k${n % 10}` as RecordKey;
          const dek = keys.get(subjectId);
          if (!dek) throw new Error('no key');
          const aad = { jurisdiction: US, subjectId, key, classId: 'protected' as ClassId, version: 1 };
          seed.run(subjectId, key, US, encryptRecord(dek, aad, value), dek.id, Date.now());
        }
      })();
    }
    console.log(
      `seeded ${records.toLocaleString('en-US')} records of 1 KiB in ${((performance.now() - t) / 1000).toFixed(1)} s`,
    );

    // baseline: the same rows read in pages and batch-inserted into another SQLite file
    const raw = new Database(join(dataDir, 'raw-copy.db'));
    raw.pragma('journal_mode = WAL');
    raw.pragma('synchronous = NORMAL');
    // the table the migration writes, with its index: the baseline moves the same rows into the same store
    raw.exec(`CREATE TABLE records (subject_id TEXT NOT NULL, key TEXT NOT NULL, jurisdiction TEXT NOT NULL,
      class_id TEXT NOT NULL, version INTEGER NOT NULL, ciphertext BLOB NOT NULL, key_id TEXT NOT NULL,
      updated_at INTEGER NOT NULL, PRIMARY KEY (subject_id, key)) STRICT;
      CREATE INDEX records_by_jurisdiction ON records (jurisdiction)`);
    const insert = raw.prepare(
      'INSERT INTO records (subject_id, key, jurisdiction, class_id, version, ciphertext, key_id, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)',
    );
    t = performance.now();
    let after: StoredRecord | undefined;
    for (;;) {
      const page: StoredRecord[] = await legacy.scanRecords({
        jurisdiction: US,
        ...(after ? { after: { subjectId: after.subjectId, key: after.key } } : {}),
        limit: batch,
      });
      if (page.length === 0) break;
      raw.transaction(() => {
        for (const r of page)
          insert.run(
            r.subjectId,
            r.key,
            r.jurisdiction,
            r.classId,
            r.version,
            r.ciphertext,
            r.keyId,
            r.updatedAt,
          );
      })();
      after = page[page.length - 1];
    }
    const rawMs = performance.now() - t;
    raw.close();

    const ctx = await operator.context(US, operatorPrincipal(process.env));
    const source = operator.regionSource(LEGACY, US);
    const target = operator.target(HOME);
    t = performance.now();
    const progress = await runMigration(ctx, source, target, { batchSize: batch });
    const runMs = performance.now() - t;
    t = performance.now();
    const report = await verifyMigration(ctx, source, target, { pageSize: batch });
    const verifyMs = performance.now() - t;
    await operator.close();
    if (progress.copied !== records || !report.passed)
      throw new Error('migration did not copy and verify every record');

    const rawRate = rate(records, rawMs);
    const migrateRate = rate(records, runMs + verifyMs);
    console.log('| run | records/s | time | vs raw copy |');
    console.log('| --- | ---: | ---: | ---: |');
    console.log(
      `| raw copy (read + batch insert, no crypto, no checks) | ${rawRate.toLocaleString('en-US')} | ${(rawMs / 1000).toFixed(1)} s | 100% |`,
    );
    console.log(
      `| migrate run (decrypt + encrypt + put-if-newer + cursor) | ${rate(records, runMs).toLocaleString('en-US')} | ${(runMs / 1000).toFixed(1)} s | ${((rate(records, runMs) / rawRate) * 100).toFixed(0)}% |`,
    );
    console.log(
      `| migrate verify (both sides decrypted, Merkle roots) | ${rate(records, verifyMs).toLocaleString('en-US')} | ${(verifyMs / 1000).toFixed(1)} s | |`,
    );
    console.log(
      `| migrate end to end (run + verify) | ${migrateRate.toLocaleString('en-US')} | ${((runMs + verifyMs) / 1000).toFixed(1)} s | ${((migrateRate / rawRate) * 100).toFixed(0)}% |`,
    );
    console.log(
      `\ntargets: ≥ 50% of raw (${migrateRate >= rawRate / 2 ? 'met' : 'NOT met'}), ≥ 20,000 records/s (${migrateRate >= 20_000 ? 'met' : 'NOT met'})`,
    );
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
}
