/**
 * The vault benchmark's baseline: a bare Fastify + better-sqlite3 CRUD server with no auth, no
 * crypto, no routing and no audit, using the same SQLite settings as Domicile's store (WAL,
 * synchronous FULL). Prints `listening <url>` when ready.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import Fastify from 'fastify';
import { serveUntilStopped } from './serve.js';

const dir = mkdtempSync(join(tmpdir(), 'domicile-bare-'));
const db = new Database(join(dir, 'bare.db'));
db.pragma('journal_mode = WAL');
db.pragma('synchronous = FULL');
db.exec(
  'CREATE TABLE IF NOT EXISTS records (subject TEXT NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL, PRIMARY KEY (subject, key))',
);
const put = db.prepare(
  'INSERT INTO records (subject, key, value) VALUES (?, ?, ?) ON CONFLICT (subject, key) DO UPDATE SET value = excluded.value',
);
const get = db.prepare<[string, string], { value: string }>(
  'SELECT value FROM records WHERE subject = ? AND key = ?',
);

const app = Fastify({ bodyLimit: 1024 * 1024 });
app.put('/v1/subjects/:subjectId/records/:key', async (request) => {
  const { subjectId, key } = request.params as { subjectId: string; key: string };
  const body = request.body as { value: unknown };
  put.run(subjectId, key, JSON.stringify(body.value));
  return { subjectId, key };
});
app.get('/v1/subjects/:subjectId/records/:key', async (request, reply) => {
  const { subjectId, key } = request.params as { subjectId: string; key: string };
  const row = get.get(subjectId, key);
  if (!row) return reply.status(404).send({ error: 'not found' });
  return { subjectId, key, value: JSON.parse(row.value) as unknown };
});
await serveUntilStopped(app, () => {
  db.close();
  rmSync(dir, { recursive: true, force: true });
});
