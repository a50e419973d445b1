/**
 * The transfer gate (T1): class × source jurisdiction × destination region against the residency
 * rules, for every kind of movement; replication passes it and is counted in the log.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { JurisdictionId, RegionId } from '../src/domain/ids.js';
import { checkTransfer, type TransferRequest } from '../src/services/transfer/gate.js';
import {
  demoConfig,
  logEntries,
  openTestDeployment,
  type TestDeployment,
  US_STEWARD,
} from './support/deployment.js';

const config = demoConfig();
const req = (over: Partial<TransferRequest>): TransferRequest => ({
  kind: 'backup',
  sourceJurisdiction: 'US',
  destinationRegion: 'sg-singapore',
  classId: 'protected',
  form: 'ciphertext',
  records: 1,
  bytes: 10,
  ...over,
});

describe('checkTransfer', () => {
  it('refuses protected plaintext to a region outside the jurisdiction, whatever the kind', () => {
    for (const kind of ['replication', 'backup', 'restore', 'export', 'migration'] as const) {
      for (const destinationRegion of ['sg-singapore', 'eu-frankfurt']) {
        expect(checkTransfer(config, req({ kind, destinationRegion, form: 'plaintext' })).allowed).toBe(
          false,
        );
      }
    }
  });

  it('allows protected plaintext inside the jurisdiction', () => {
    expect(
      checkTransfer(config, req({ kind: 'restore', destinationRegion: 'oci-us-phoenix', form: 'plaintext' }))
        .allowed,
    ).toBe(true);
  });

  it('allows protected ciphertext only to own and configured backup regions', () => {
    expect(checkTransfer(config, req({ destinationRegion: 'sg-singapore' })).allowed).toBe(true);
    expect(checkTransfer(config, req({ destinationRegion: 'oci-us-phoenix' })).allowed).toBe(true);
    expect(checkTransfer(config, req({ destinationRegion: 'eu-frankfurt' })).allowed).toBe(false);
    expect(
      checkTransfer(config, req({ sourceJurisdiction: 'SG', destinationRegion: 'oci-us-ashburn' })).allowed,
    ).toBe(false);
  });

  it('lets interoperable data go anywhere and de-identified data leave only through a checked export', () => {
    expect(
      checkTransfer(config, req({ classId: 'interoperable', form: 'plaintext', kind: 'replication' }))
        .allowed,
    ).toBe(true);
    const out = req({ classId: 'deidentified', form: 'plaintext', kind: 'export' });
    expect(checkTransfer(config, out).allowed).toBe(false);
    expect(checkTransfer(config, { ...out, deidentified: true }).allowed).toBe(true);
    expect(checkTransfer(config, { ...out, kind: 'backup', deidentified: true }).allowed).toBe(false);
  });

  it('fails closed on unknown jurisdictions, regions and classes', () => {
    expect(checkTransfer(config, req({ sourceJurisdiction: 'XX' })).allowed).toBe(false);
    expect(checkTransfer(config, req({ destinationRegion: 'moon-base' })).allowed).toBe(false);
    expect(checkTransfer(config, req({ classId: 'secret' })).allowed).toBe(false);
    expect(
      checkTransfer(config, req({ kind: 'relocation', destinationJurisdiction: 'XX', form: 'plaintext' }))
        .allowed,
    ).toBe(false);
  });

  it('lets relocated data go only to a region of its new jurisdiction', () => {
    const move = req({ kind: 'relocation', destinationJurisdiction: 'EU', form: 'plaintext' });
    expect(checkTransfer(config, { ...move, destinationRegion: 'eu-frankfurt' }).allowed).toBe(true);
    expect(checkTransfer(config, { ...move, destinationRegion: 'sg-singapore' }).allowed).toBe(false);
  });
});

describe('TransferGate', () => {
  let d: TestDeployment;
  beforeAll(async () => {
    d = await openTestDeployment();
  });
  afterAll(async () => {
    await d.cleanup();
  });

  it('logs a refusal and throws DOMICILE_ERR_RESIDENCY', async () => {
    await expect(
      d.transfers.gate.authorize(req({ kind: 'migration', form: 'plaintext', records: 5, bytes: 500 })),
    ).rejects.toMatchObject({ code: 'DOMICILE_ERR_RESIDENCY' });
    const entry = (await logEntries(d, 'US')).find((e) => e.type === 'transfer.migration');
    expect(entry).toMatchObject({ decision: 'deny', class: 'protected' });
    expect(entry?.details).toMatchObject({
      records: 5,
      bytes: 500,
      destinationRegion: 'sg-singapore',
      form: 'plaintext',
    });
  });

  it('counts replication of every write in summary entries', async () => {
    const headers = await d.auth(US_STEWARD);
    await d.app.inject({ method: 'PUT', url: '/v1/subjects/r-1', headers, payload: { jurisdiction: 'US' } });
    for (const key of ['a', 'b', 'c']) {
      const res = await d.app.inject({
        method: 'PUT',
        url: `/v1/subjects/r-1/records/${key}`,
        headers,
        payload: { class: 'protected', value: 'x' },
      });
      expect(res.statusCode).toBe(200);
    }
    await d.transfers.gate.flush();
    const summaries = (await logEntries(d, 'US')).filter((e) => e.type === 'transfer.replication');
    const toPhoenix = summaries.filter((e) => e.details.destinationRegion === 'oci-us-phoenix');
    expect(toPhoenix.reduce((n, e) => n + Number(e.details.records), 0)).toBe(3);
    expect(summaries.every((e) => e.decision === 'allow')).toBe(true);
    expect(summaries.some((e) => e.details.destinationRegion === 'sg-singapore')).toBe(false);
    expect(await d.stores.get('oci-us-phoenix' as RegionId)?.countRecords('US' as JurisdictionId)).toBe(3);
  });
});
