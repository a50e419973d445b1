import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import * as tlog from './index.js';

const dir = fileURLToPath(new URL('.', import.meta.url));

describe('src/tlog as a library', () => {
  it('imports nothing from elsewhere in the project', () => {
    let checked = 0;
    for (const file of readdirSync(dir).filter((f) => f.endsWith('.ts'))) {
      const source = readFileSync(`${dir}${file}`, 'utf8');
      for (const m of source.matchAll(/^(?:import|export)[^;]*? from '([^']+)';$/gm)) {
        const spec = m[1] ?? '';
        const allowed =
          spec.startsWith('./') ||
          spec.startsWith('node:') ||
          (file.endsWith('.test.ts') && ['vitest', 'fast-check'].includes(spec));
        expect(allowed, `${file} imports ${spec}`).toBe(true);
        checked++;
      }
    }
    expect(checked).toBeGreaterThan(50);
  });

  it('exports unique DOMICILE_ERR_TLOG_ codes, each described', () => {
    expect(new Set(tlog.TLOG_ERROR_CODES).size).toBe(tlog.TLOG_ERROR_CODES.length);
    for (const code of tlog.TLOG_ERROR_CODES) {
      expect(code).toMatch(/^DOMICILE_ERR_TLOG_[A-Z_]+$/);
      expect(tlog.TLOG_ERRORS[code].description.length).toBeGreaterThan(10);
    }
  });

  it('exposes the main entry points', () => {
    for (const name of [
      'TransparencyLog',
      'MemoryLogStorage',
      'Witness',
      'FileWitnessStateStore',
      'verifyLog',
      'verifyInclusion',
      'openCheckpoint',
      'submitCheckpoint',
    ]) {
      expect(tlog).toHaveProperty(name);
    }
  });
});
