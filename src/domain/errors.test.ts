import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { DomicileError, ERROR_CATALOG, isDomicileError } from './errors.js';

describe('the error catalog', () => {
  it('uses DOMICILE_ERR_ codes with HTTP statuses the API documents', () => {
    for (const [code, spec] of Object.entries(ERROR_CATALOG)) {
      expect(code).toMatch(/^DOMICILE_ERR_[A-Z_]+$/);
      expect([400, 401, 403, 404, 408, 409, 413, 415, 417, 422, 429, 431, 500, 502, 503]).toContain(
        spec.status,
      );
    }
  });

  it('documents every code in the README', () => {
    const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
    const missing = Object.keys(ERROR_CATALOG).filter((code) => !readme.includes(code));
    expect(missing).toEqual([]);
  });

  it('gives errors their catalog status', () => {
    const error = new DomicileError('DOMICILE_ERR_REGION_UNAVAILABLE', 'no region');
    expect(error.statusCode).toBe(503);
    expect(isDomicileError(error, 'DOMICILE_ERR_REGION_UNAVAILABLE')).toBe(true);
    expect(isDomicileError(new Error('x'))).toBe(false);
  });
});
