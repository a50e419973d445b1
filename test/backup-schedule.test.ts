/** Scheduled backups of `domicile up`: configured interval and retention; refused targets fail the configuration. */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../src/domain/config.js';
import { type Embedded, openEmbedded } from '../src/server/deployment.js';
import { repoRoot } from './support/deployment.js';

const demo = readFileSync(join(repoRoot, 'domicile.yaml'), 'utf8');
const withSchedule = (to: string): string =>
  `${demo}\nbackups:\n  schedule:\n    - { jurisdiction: US, to: ${to}, every: 1s, keep: 2 }\n`;

describe('backups.schedule', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'domicile-schedule-'));
  let d: Embedded | undefined;
  afterAll(async () => {
    await d?.close();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('backs up on the configured interval and keeps the configured number', async () => {
    const config = parseConfig(withSchedule('sg-singapore'), 'domicile.yaml');
    d = await openEmbedded({
      config,
      dataDir,
      env: { DOMICILE_MASTER_KEY: randomBytes(32).toString('base64') },
      logger: false,
    });
    await new Promise((resolve) => setTimeout(resolve, 3_600));
    const backups = await d.transfers.backups.list({ region: 'sg-singapore', jurisdiction: 'US' });
    expect(backups).toHaveLength(2);
    for (const b of backups) expect((await d.transfers.backups.verify(b.id)).records).toBe(0);
  });

  it('refuses a schedule to a region that is not a backup region of the jurisdiction', () => {
    expect(() => parseConfig(withSchedule('eu-frankfurt'), 'domicile.yaml')).toThrow(
      /backups\.schedule\[0\]\.to: region `eu-frankfurt` is not a backup region of `US`/,
    );
  });
});
