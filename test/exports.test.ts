/**
 * Exports (T1): only de-identified data leaves — identifiers dropped, quasi-identifiers
 * generalised, k-anonymity checked first — and bulk volumes to countries of concern are refused.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  logEntries,
  openTestDeployment,
  putRecord,
  putSubject,
  SG_STEWARD,
  type TestDeployment,
  US_STEWARD,
} from './support/deployment.js';

let d: TestDeployment;
const N = 30;
const email = (i: number): string => `person-${i}@mail.example`;
const zip = (i: number): string => (i % 2 === 0 ? `1000${i % 10}` : `9450${i % 10}`);

beforeAll(async () => {
  d = await openTestDeployment();
  const headers = await d.auth(US_STEWARD);
  for (let i = 0; i < N; i++) {
    await putSubject(d, headers, `p-${i}`, 'US');
    for (const [key, value] of [
      ['email', email(i)],
      ['zip', zip(i)],
      ['birthYear', 1980 + (i % 10)],
      ['plan', i % 3 === 0 ? 'gold' : 'basic'],
    ] as const) {
      const res = await putRecord(d, headers, `p-${i}`, key, { class: 'protected', value });
      expect(res.statusCode).toBe(200);
    }
  }
}, 60_000);
afterAll(async () => {
  await d.cleanup();
});

const body = (over: Record<string, unknown> = {}) => ({
  jurisdiction: 'US',
  class: 'protected',
  fields: ['email', 'zip', 'birthYear', 'plan'],
  destination: 'sg-singapore',
  counterparty: 'acme-research',
  counterpartyCountry: 'SG',
  category: 'covered-identifiers',
  ...over,
});

async function exportWith(over: Record<string, unknown> = {}, who = US_STEWARD) {
  return d.app.inject({
    method: 'POST',
    url: '/v1/exports',
    headers: await d.auth(who),
    payload: body(over),
  });
}

describe('POST /v1/exports', () => {
  describe('when the request names direct identifiers', () => {
    it('drops them and generalises quasi-identifiers: no identifier value leaves', async () => {
      const res = await exportWith();
      expect(res.statusCode).toBe(200);
      const result = res.json();
      expect(result.dropped).toEqual(['email']);
      expect(result.rows).toHaveLength(N);
      expect(result.smallestGroup).toBeGreaterThanOrEqual(10);
      expect(result.rows[0]).toEqual({
        zip: expect.stringMatching(/^(100|945)\*$/),
        birthYear: '1980-1989',
        plan: expect.any(String),
      });
      for (let i = 0; i < N; i++) {
        expect(res.body).not.toContain(email(i));
        expect(res.body).not.toContain(zip(i));
      }
      const entry = (await logEntries(d, 'US')).find(
        (e) => e.type === 'transfer.export' && e.decision === 'allow',
      );
      expect(entry).toMatchObject({ class: 'deidentified' });
      expect(entry?.details).toMatchObject({
        records: N,
        counterparty: 'acme-research',
        category: 'covered-identifiers',
        review: false,
      });
    });

    it('never lets a field without a rule through', async () => {
      const res = await exportWith({ fields: ['zip', 'birthYear', 'favouriteColour'] });
      expect(res.statusCode).toBe(200);
      expect(res.json().dropped).toEqual(['favouriteColour']);
    });
  });

  describe('when a group is smaller than k', () => {
    it('refuses before anything leaves, and logs the refusal', async () => {
      const res = await exportWith({ k: 20 });
      expect(res.statusCode).toBe(422);
      expect(res.json().error.code).toBe('DOMICILE_ERR_NOT_ANONYMOUS');
      expect(res.json().rows).toBeUndefined();
      for (let i = 0; i < N; i++) expect(res.body).not.toContain(zip(i));
      const fine = await exportWith({ fields: ['zip', 'birthYear'], counterparty: 'other' });
      expect(fine.statusCode).toBe(200);
      const denied = (await logEntries(d, 'US')).filter(
        (e) => e.type === 'transfer.export' && e.decision === 'deny',
      );
      expect(denied.some((e) => /fewer than k = 20/.test(e.reason))).toBe(true);
    });
  });

  it('refuses a bulk volume to a counterparty in a country of concern as prohibited', async () => {
    const res = await exportWith({
      counterparty: 'state-lab',
      counterpartyCountry: 'CN',
      category: 'government-related',
    });
    expect(res.statusCode).toBe(403);
    expect(res.json().error.code).toBe('DOMICILE_ERR_TRANSFER_PROHIBITED');
    const denied = (await logEntries(d, 'US')).filter(
      (e) => e.type === 'transfer.export' && e.decision === 'deny',
    );
    expect(denied.some((e) => e.details.counterpartyCountry === 'CN')).toBe(true);
  });

  it('flags for review a country of concern below the threshold, and bulk volumes elsewhere', async () => {
    const concern = await exportWith({
      counterparty: 'hk-partner',
      counterpartyCountry: 'HK',
      category: 'health',
    });
    expect(concern.statusCode).toBe(200);
    expect(concern.json()).toMatchObject({ review: true });
    const bulk = await exportWith({
      counterparty: 'gov-analytics',
      counterpartyCountry: 'FR',
      category: 'government-related',
    });
    expect(bulk.statusCode).toBe(200);
    expect(bulk.json().review).toBe(true);
    expect(bulk.json().reviewReasons[0]).toMatch(/bulk government-related/);
  });

  it('counts distinct persons per counterparty over 12 months', async () => {
    const first = await exportWith({ counterparty: 'repeat', category: 'health' });
    expect(first.json().review).toBe(false);
    const second = await exportWith({ counterparty: 'repeat', category: 'health' });
    expect(second.json().review).toBe(false);
    expect(await d.transfers.store.distinctExported('US' as never, 'repeat', 'health', 0, [])).toBe(N);
  });

  it('refuses a caller who does not operate the jurisdiction', async () => {
    const res = await exportWith({}, SG_STEWARD);
    expect(res.statusCode).toBe(403);
    expect(res.json().error.code).toBe('DOMICILE_ERR_FORBIDDEN');
  });
});
