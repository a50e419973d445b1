/**
 * Keyset pagination with pages read ahead: a page can start as soon as the last row of the page
 * before it is known, before that page is opened, hashed or sealed, so the threads that read
 * and the thread that consumes pages all keep working.
 */
import type { MigrationCursor } from '../../store/migration-store.js';

/** A page being read: its last row's ids once it is read (`undefined`: empty), and the page. */
export interface PageStart<T> {
  readonly last: Promise<MigrationCursor | undefined>;
  readonly page: Promise<T>;
}

/**
 * Pages in order from a cursor (`null`: the beginning), `depth` of them in flight.
 *
 * @example
 * const pages = new PagesAhead((after) => source.open(after, 5_000), null, 3);
 * for (let page = await pages.next(); page !== undefined; page = await pages.next()) use(page);
 */
export class PagesAhead<T> {
  readonly #start: (after: MigrationCursor | null) => PageStart<T>;
  readonly #depth: number;
  readonly #queue: Promise<T | undefined>[] = [];
  #last: Promise<MigrationCursor | null | undefined>;

  constructor(
    start: (after: MigrationCursor | null) => PageStart<T>,
    from: MigrationCursor | null,
    depth: number,
  ) {
    this.#start = start;
    this.#depth = depth;
    this.#last = Promise.resolve(from);
    this.#fill();
  }

  /** The next page, or `undefined` after the last one. */
  next(): Promise<T | undefined> {
    const page = this.#queue.shift() ?? Promise.resolve(undefined);
    this.#fill();
    return page;
  }

  #fill(): void {
    while (this.#queue.length < this.#depth) {
      const started = this.#last.then((after) => (after === undefined ? undefined : this.#start(after)));
      this.#last = started.then((s) => s?.last);
      const page = started.then((s) => s?.page);
      // a page read ahead of a stop or a failure is never awaited: its own failure is not news
      page.catch(() => undefined);
      this.#last.catch(() => undefined);
      this.#queue.push(page);
    }
  }
}
