/**
 * The vault benchmark's baseline on PostgreSQL: a bare Fastify + `pg` CRUD server with no auth,
 * no crypto, no routing, no replication and no audit, on a pool of the same size as a Domicile
 * PostgreSQL store's (10 connections). Every PUT is one upsert, every GET one indexed SELECT,
 * each in its own transaction, so a PUT waits for its commit like Domicile's writes do.
 *
 * `node bare-pg-crud.js <postgres url>` (or `BARE_PG_URL`); prints `listening <url>` when ready.
 */
import Fastify from 'fastify';
import pg from 'pg';
import { serveUntilStopped } from './serve.js';

const url = process.argv[2] ?? process.env.BARE_PG_URL;
if (url === undefined || !/^postgres(ql)?:\/\//.test(url)) {
  process.stderr.write('usage: bare-pg-crud <postgres://…> (or BARE_PG_URL)\n');
  process.exit(2);
}

const pool = new pg.Pool({ connectionString: url, max: 10 });
await pool.query(
  'CREATE TABLE IF NOT EXISTS bare_records (subject TEXT NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL, PRIMARY KEY (subject, key))',
);
// unnamed statements, as Domicile's PostgreSQL adapters send them
const PUT =
  'INSERT INTO bare_records (subject, key, value) VALUES ($1, $2, $3) ON CONFLICT (subject, key) DO UPDATE SET value = excluded.value';
const GET = 'SELECT value FROM bare_records WHERE subject = $1 AND key = $2';

const app = Fastify({ bodyLimit: 1024 * 1024 });
app.put('/v1/subjects/:subjectId/records/:key', async (request) => {
  const { subjectId, key } = request.params as { subjectId: string; key: string };
  const body = request.body as { value: unknown };
  await pool.query(PUT, [subjectId, key, JSON.stringify(body.value)]);
  return { subjectId, key };
});
app.get('/v1/subjects/:subjectId/records/:key', async (request, reply) => {
  const { subjectId, key } = request.params as { subjectId: string; key: string };
  const { rows } = await pool.query<{ value: string }>(GET, [subjectId, key]);
  const row = rows[0];
  if (!row) return reply.status(404).send({ error: 'not found' });
  return { subjectId, key, value: JSON.parse(row.value) as unknown };
});
await serveUntilStopped(app, () => pool.end());
