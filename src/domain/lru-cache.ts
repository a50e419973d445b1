/**
 * A bounded cache that keeps recently used entries: two generations of `Map`s. New and used
 * entries go to the young generation; when it is full it becomes the old one and the previous old
 * one is dropped, so what was not used for a whole generation is evicted. A hit costs one or two
 * `Map` lookups, with none of the delete-and-reinsert churn of an exact LRU on the hot path.
 * At most `capacity` entries are kept (two for a capacity of one).
 */
export class LruCache<V> {
  #young = new Map<string, V>();
  #old = new Map<string, V>();
  readonly #generation: number;

  constructor(capacity: number) {
    this.#generation = Math.max(1, Math.floor(capacity / 2));
  }

  get(key: string): V | undefined {
    const young = this.#young.get(key);
    if (young !== undefined) return young;
    const old = this.#old.get(key);
    if (old !== undefined) {
      this.#old.delete(key);
      this.#add(key, old);
    }
    return old;
  }

  set(key: string, value: V): void {
    this.#old.delete(key);
    if (this.#young.has(key)) this.#young.set(key, value);
    else this.#add(key, value);
  }

  delete(key: string): void {
    this.#young.delete(key);
    this.#old.delete(key);
  }

  deleteWhere(predicate: (key: string) => boolean): void {
    for (const generation of [this.#young, this.#old]) {
      for (const key of [...generation.keys()]) if (predicate(key)) generation.delete(key);
    }
  }

  clear(): void {
    this.#young.clear();
    this.#old.clear();
  }

  #add(key: string, value: V): void {
    if (this.#young.size >= this.#generation) {
      this.#old = this.#young;
      this.#young = new Map();
    }
    this.#young.set(key, value);
  }
}
