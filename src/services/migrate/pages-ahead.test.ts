import { describe, expect, it } from 'vitest';
import type { MigrationCursor } from '../../store/migration-store.js';
import { type PageStart, PagesAhead } from './pages-ahead.js';

const ids = Array.from({ length: 23 }, (_, i) => ({ subjectId: `s${String(i).padStart(3, '0')}`, key: 'k' }));

/** Keyset pages of `size` over `ids`, counting the pages started. */
function pagesOf(size: number, started: MigrationCursor[]) {
  return (after: MigrationCursor | null): PageStart<string[]> => {
    started.push(after ?? { subjectId: '', key: '' });
    const from = after === null ? 0 : ids.findIndex((r) => r.subjectId === after.subjectId) + 1;
    const page = ids.slice(from, from + size);
    const last = page.at(-1);
    return { last: Promise.resolve(last), page: Promise.resolve(page.map((r) => r.subjectId)) };
  };
}

describe('PagesAhead', () => {
  describe('when read to the end', () => {
    it('gives every row once, in order, then undefined', async () => {
      const pages = new PagesAhead(pagesOf(5, []), null, 3);
      const rows: string[] = [];
      for (let page = await pages.next(); page !== undefined && page.length > 0; page = await pages.next())
        rows.push(...page);
      expect(rows).toEqual(ids.map((r) => r.subjectId));
    });
  });

  describe('when resumed from a cursor', () => {
    it('starts after it', async () => {
      const pages = new PagesAhead(pagesOf(5, []), ids[9] ?? null, 2);
      expect(await pages.next()).toEqual(['s010', 's011', 's012', 's013', 's014']);
    });
  });

  describe('when a page fails', () => {
    it('rejects that page and every page after it', async () => {
      const pages = new PagesAhead(
        (after): PageStart<string[]> =>
          after === null
            ? { last: Promise.resolve(ids[0]), page: Promise.resolve(['s000']) }
            : { last: Promise.reject(new Error('disk')), page: Promise.reject(new Error('disk')) },
        null,
        3,
      );
      expect(await pages.next()).toEqual(['s000']);
      await expect(pages.next()).rejects.toThrow('disk');
      await expect(pages.next()).rejects.toThrow('disk');
    });
  });

  it('keeps at most `depth` pages in flight', async () => {
    const started: MigrationCursor[] = [];
    const pages = new PagesAhead(pagesOf(5, started), null, 2);
    await pages.next();
    await new Promise((resolve) => setTimeout(resolve, 0));
    expect(started.length).toBeLessThanOrEqual(3);
  });
});
