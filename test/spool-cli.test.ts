/**
 * `domicile spool status` and `domicile spool requeue` as an operator runs them, on spool files as
 * a region node leaves them: replicas and audit events that wait for a peer, and the ones a peer
 * refused for good.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { spoolFiles } from '../src/server/spools.js';
import { FileSpool } from '../src/store/file-spool.js';
import { requireBuild, run } from './support/cli.js';

const dirs: string[] = [];
beforeAll(() => requireBuild());
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

/** A set-aside item as a region node writes it (`id:CODE`), or as an older version did (`id`). */
function rejectedLine(spec: string): unknown {
  const [id, code] = spec.split(':');
  return code === undefined ? { id } : { item: { id }, refusal: { code, at: '2026-11-29T10:00:00.000Z' } };
}

/** A data folder whose spools hold `items` (pending and rejected) per region, kind and target. */
function dataWith(
  spools: { region: string; kind: 'replicas' | 'audit'; to: string; pending: string[]; rejected: string[] }[],
): string {
  const dir = mkdtempSync(join(tmpdir(), 'domicile-spools-'));
  dirs.push(dir);
  for (const s of spools) {
    const files = spoolFiles(dir, s.region, s.kind, s.to);
    const pending = FileSpool.open<unknown>(files.pending);
    for (const id of s.pending) pending.append({ id });
    pending.close();
    const rejected = FileSpool.open<unknown>(files.rejected);
    for (const spec of s.rejected) rejected.append(rejectedLine(spec));
    rejected.close();
  }
  return dir;
}

/** The ids in a spool file: of its items, or of the items set aside in it. */
const items = (file: string) =>
  readFileSync(file, 'utf8')
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => {
      const parsed = JSON.parse(line) as { id?: string; item?: { id: string } };
      return parsed.item?.id ?? parsed.id;
    });

const status = (data: string, ...args: string[]) => {
  const result = run(['--data', data, '--json', 'spool', 'status', ...args]);
  expect(result.code, result.stderr + result.stdout).toBe(0);
  return JSON.parse(result.stdout) as unknown;
};

describe('domicile spool', () => {
  const layout = [
    {
      region: 'oci-us-ashburn',
      kind: 'replicas',
      to: 'oci-us-phoenix',
      pending: ['r1', 'r2'],
      // x1 set aside by an older version, without its refusal
      rejected: [
        'x1',
        'x2:DOMICILE_ERR_REGION_REFUSED',
        'x3:DOMICILE_ERR_STATE_CONFLICT',
        'x4:DOMICILE_ERR_REGION_REFUSED',
      ],
    },
    { region: 'oci-us-ashburn', kind: 'replicas', to: 'sg-singapore', pending: ['r3'], rejected: [] },
    {
      region: 'oci-us-phoenix',
      kind: 'audit',
      to: 'US',
      pending: [],
      rejected: ['e1:DOMICILE_ERR_BAD_REQUEST'],
    },
  ] as const;
  const PHOENIX_AUDIT = {
    region: 'oci-us-phoenix',
    kind: 'audit',
    to: 'US',
    pending: 0,
    rejected: 1,
    refusals: { DOMICILE_ERR_BAD_REQUEST: 1 },
  };
  const data = () =>
    dataWith(layout.map((s) => ({ ...s, pending: [...s.pending], rejected: [...s.rejected] })));

  it('status counts what waits and what was refused for good, per region and target', () => {
    const dir = data();
    expect(status(dir)).toEqual([
      {
        region: 'oci-us-ashburn',
        kind: 'replicas',
        to: 'oci-us-phoenix',
        pending: 2,
        rejected: 4,
        refusals: { unknown: 1, DOMICILE_ERR_REGION_REFUSED: 2, DOMICILE_ERR_STATE_CONFLICT: 1 },
      },
      {
        region: 'oci-us-ashburn',
        kind: 'replicas',
        to: 'sg-singapore',
        pending: 1,
        rejected: 0,
        refusals: {},
      },
      PHOENIX_AUDIT,
    ]);
    expect(status(dir, '--region', 'oci-us-phoenix')).toEqual([PHOENIX_AUDIT]);
    const human = run(['--data', dir, 'spool', 'status']);
    expect(human.stdout).toContain(
      'oci-us-ashburn: replicas for oci-us-phoenix: 2 waiting, 4 refused for good (DOMICILE_ERR_REGION_REFUSED 2, DOMICILE_ERR_STATE_CONFLICT 1, unknown 1)',
    );
  });

  it('requeue puts a region’s refused items back behind the waiting ones, and leaves other regions alone', () => {
    const dir = data();
    const result = run(['--data', dir, '--json', 'spool', 'requeue', '--region', 'oci-us-ashburn']);
    expect(result.code, result.stderr + result.stdout).toBe(0);
    expect(JSON.parse(result.stdout)).toEqual([
      { region: 'oci-us-ashburn', kind: 'replicas', to: 'oci-us-phoenix', requeued: 4 },
    ]);
    const files = spoolFiles(dir, 'oci-us-ashburn', 'replicas', 'oci-us-phoenix');
    // as they were sent, without the refusal they were kept with
    expect(readFileSync(files.pending, 'utf8').split('\n').slice(2, 4)).toEqual([
      '{"id":"x1"}',
      '{"id":"x2"}',
    ]);
    expect(items(files.pending)).toEqual(['r1', 'r2', 'x1', 'x2', 'x3', 'x4']);
    expect(items(files.rejected)).toEqual([]);
    expect(status(dir, '--region', 'oci-us-phoenix')).toEqual([PHOENIX_AUDIT]);
    // the audit spool of phoenix, by kind and target
    const audit = run([
      '--data',
      dir,
      'spool',
      'requeue',
      '--region',
      'oci-us-phoenix',
      '--kind',
      'audit',
      '--to',
      'US',
    ]);
    expect(audit.stdout).toContain('oci-us-phoenix: 1 audit events for US requeued');
    expect(items(spoolFiles(dir, 'oci-us-phoenix', 'audit', 'US').pending)).toEqual(['e1']);
  });

  it('requeue --code puts back only the items refused with that code; the others stay set aside', () => {
    const dir = data();
    const args = ['--data', dir, 'spool', 'requeue', '--region', 'oci-us-ashburn', '--code'];
    const result = run([...args, 'DOMICILE_ERR_REGION_REFUSED']);
    expect(result.stdout).toContain('oci-us-ashburn: 2 replicas for oci-us-phoenix requeued');
    const files = spoolFiles(dir, 'oci-us-ashburn', 'replicas', 'oci-us-phoenix');
    expect(items(files.pending)).toEqual(['r1', 'r2', 'x2', 'x4']);
    expect(items(files.rejected)).toEqual(['x1', 'x3']);
    expect((status(dir, '--region', 'oci-us-ashburn') as object[])[0]).toMatchObject({
      rejected: 2,
      refusals: { unknown: 1, DOMICILE_ERR_STATE_CONFLICT: 1 },
    });
    expect(run([...args, 'DOMICILE_ERR_REGION_REFUSED']).stdout).toContain('nothing to requeue');
  });

  it('requeue refuses while the region node holds its spools, and moves nothing', async () => {
    const dir = data();
    const files = spoolFiles(dir, 'oci-us-ashburn', 'replicas', 'oci-us-phoenix');
    const node = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore' });
    writeFileSync(`${files.pending}.lock`, `${node.pid}\n`);
    try {
      const result = run(['--data', dir, 'spool', 'requeue', '--region', 'oci-us-ashburn']);
      expect(result.code).toBe(1);
      expect(result.stderr).toContain('DOMICILE_ERR_STATE_CONFLICT');
      expect(result.stderr).toContain(`in use by process ${node.pid}`);
    } finally {
      node.kill('SIGKILL');
      await once(node, 'exit');
    }
    expect(items(files.pending)).toEqual(['r1', 'r2']);
    expect(items(files.rejected)).toEqual(['x1', 'x2', 'x3', 'x4']);
  });

  it('refuses a region the configuration does not declare, and an unknown kind', () => {
    const dir = data();
    const unknown = run(['--data', dir, 'spool', 'requeue', '--region', '../oci-us-ashburn']);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toContain('DOMICILE_ERR_USAGE');
    const kind = run(['--data', dir, 'spool', 'requeue', '--region', 'oci-us-ashburn', '--kind', 'logs']);
    expect(kind.code).toBe(1);
    expect(kind.stderr).toContain('DOMICILE_ERR_USAGE');
    expect(items(spoolFiles(dir, 'oci-us-ashburn', 'replicas', 'oci-us-phoenix').rejected)).toEqual([
      'x1',
      'x2',
      'x3',
      'x4',
    ]);
  });
});
