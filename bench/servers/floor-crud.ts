/**
 * The vault benchmark's floor: the bare Fastify + better-sqlite3 CRUD server plus only the work
 * no residency vault can skip on a request — AES-256-GCM of the value (one fixed key, no keyring),
 * and an audit row per request that is durable before the answer (invariant L1), with concurrent
 * requests sharing one transaction and one fdatasync. No auth, policy, routing, replication,
 * Merkle tree or metrics. It shows how close to the bare server any implementation of the
 * vault's guarantees can get on this machine. Prints `listening <url>` when ready.
 */
import { createCipheriv, createDecipheriv, createHmac, randomBytes, randomUUID } from 'node:crypto';
import { promises as fsp, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import Fastify from 'fastify';
import { serveUntilStopped } from './serve.js';

const dir = mkdtempSync(join(tmpdir(), 'domicile-floor-'));
const file = join(dir, 'floor.db');
const db = new Database(file);
db.pragma('journal_mode = WAL');
// the fdatasync of the write-ahead log below makes each group of commits durable
db.pragma('synchronous = NORMAL');
db.exec(`
  CREATE TABLE IF NOT EXISTS records (subject TEXT NOT NULL, key TEXT NOT NULL, value BLOB NOT NULL, PRIMARY KEY (subject, key));
  CREATE TABLE IF NOT EXISTS audit (id INTEGER PRIMARY KEY, entry TEXT NOT NULL);
`);
const put = db.prepare(
  'INSERT INTO records (subject, key, value) VALUES (?, ?, ?) ON CONFLICT (subject, key) DO UPDATE SET value = excluded.value',
);
const get = db.prepare<[string, string], { value: Buffer }>(
  'SELECT value FROM records WHERE subject = ? AND key = ?',
);
const audit = db.prepare<[string]>('INSERT INTO audit (entry) VALUES (?)');

const dataKey = randomBytes(32);
const pseudonymKey = randomBytes(32);
const pseudonyms = new Map<string, string>();
function pseudonym(subject: string): string {
  let p = pseudonyms.get(subject);
  if (p === undefined) {
    p = createHmac('sha256', pseudonymKey).update(subject).digest('hex');
    pseudonyms.set(subject, p);
  }
  return p;
}

function seal(aad: string, plaintext: Buffer): Buffer {
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', dataKey, iv).setAAD(Buffer.from(aad));
  const body = Buffer.concat([cipher.update(plaintext), cipher.final()]);
  return Buffer.concat([iv, body, cipher.getAuthTag()]);
}

function open(aad: string, sealed: Buffer): Buffer {
  const decipher = createDecipheriv('aes-256-gcm', dataKey, sealed.subarray(0, 12)).setAAD(Buffer.from(aad));
  decipher.setAuthTag(sealed.subarray(sealed.length - 16));
  return Buffer.concat([decipher.update(sealed.subarray(12, sealed.length - 16)), decipher.final()]);
}

// Group commit: the writes of one turn of the event loop share a transaction; one fdatasync at a
// time covers every transaction committed before it started.
let queue: { work: () => void; done: () => void }[] = [];
let committed: (() => void)[] = [];
let syncing = false;
let wal: fsp.FileHandle | undefined;
const commit = db.transaction((batch: typeof queue) => {
  for (const w of batch) w.work();
});
function durably(work: () => void): Promise<void> {
  return new Promise((resolve) => {
    if (queue.length === 0) setImmediate(flush);
    queue.push({ work, done: resolve });
  });
}
function flush(): void {
  const batch = queue;
  queue = [];
  commit(batch);
  for (const w of batch) committed.push(w.done);
  if (!syncing) void sync();
}
async function sync(): Promise<void> {
  syncing = true;
  wal ??= await fsp.open(`${file}-wal`, 'r+');
  while (committed.length > 0) {
    const covered = committed;
    committed = [];
    await wal.datasync();
    for (const done of covered) done();
  }
  syncing = false;
}

function auditEntry(type: string, requestId: string, subject: string, key: string): string {
  return JSON.stringify({
    type,
    requestId,
    subject: pseudonym(subject),
    key: pseudonym(key),
    time: new Date().toISOString(),
  });
}

const app = Fastify({ bodyLimit: 1024 * 1024, genReqId: () => randomUUID() });
app.put('/v1/subjects/:subjectId/records/:key', async (request) => {
  const { subjectId, key } = request.params as { subjectId: string; key: string };
  const body = request.body as { value: unknown };
  const sealed = seal(`${subjectId}\n${key}`, Buffer.from(JSON.stringify(body.value)));
  const entry = auditEntry('record.write', request.id, subjectId, key);
  await durably(() => {
    audit.run(entry);
    put.run(subjectId, key, sealed);
  });
  return { subjectId, key };
});
app.get('/v1/subjects/:subjectId/records/:key', async (request, reply) => {
  const { subjectId, key } = request.params as { subjectId: string; key: string };
  const entry = auditEntry('record.read', request.id, subjectId, key);
  await durably(() => audit.run(entry));
  const row = get.get(subjectId, key);
  if (!row) return reply.status(404).send({ error: 'not found' });
  const value = JSON.parse(open(`${subjectId}\n${key}`, row.value).toString('utf8')) as unknown;
  return { subjectId, key, value };
});
await serveUntilStopped(app, async () => {
  await wal?.close();
  db.close();
  rmSync(dir, { recursive: true, force: true });
});
