/**
 * A subject directory with the jurisdictions of recently seen subjects kept in memory, so that a
 * read does not cost a database query for a fact that changes only on erasure or relocation.
 *
 * INVARIANT R2: only for a directory that no other process changes — `domicile up`, whose
 * erasures and relocations all go through this object and forget the subject here. Subjects that
 * other processes register (a migration) are simply not cached yet; a subject that another
 * process removed or moved would be routed by a stale entry, so gateways sharing a directory
 * never use this.
 */
import type { JurisdictionId, SubjectId } from '../domain/ids.js';
import { LruCache } from '../domain/lru-cache.js';
import type { RegisterOutcome, SubjectDirectory } from './region-store.js';

export class CachedSubjectDirectory implements SubjectDirectory {
  readonly #inner: SubjectDirectory;
  readonly #known: LruCache<JurisdictionId>;
  // counts changes: a lookup that overlapped one does not cache what it read before it
  #changes = 0;

  constructor(inner: SubjectDirectory, cacheSize = 100_000) {
    this.#inner = inner;
    this.#known = new LruCache(cacheSize);
  }

  async lookup(subjectId: SubjectId): Promise<JurisdictionId | undefined> {
    const cached = this.#known.get(subjectId);
    if (cached !== undefined) return cached;
    const changes = this.#changes;
    const jurisdiction = await this.#inner.lookup(subjectId);
    // only what is registered is kept: a subject registered later must be found then
    if (jurisdiction !== undefined && changes === this.#changes) this.#known.set(subjectId, jurisdiction);
    return jurisdiction;
  }

  async register(subjectId: SubjectId, jurisdiction: JurisdictionId): Promise<RegisterOutcome> {
    this.#changes++;
    this.#known.delete(subjectId);
    return this.#inner.register(subjectId, jurisdiction);
  }

  async remove(subjectId: SubjectId): Promise<boolean> {
    this.#changes++;
    this.#known.delete(subjectId);
    return this.#inner.remove(subjectId);
  }

  close(): Promise<void> {
    return this.#inner.close();
  }
}
