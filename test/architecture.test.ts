/**
 * The layers of DESIGN.md, checked over the import graph: dependencies point down only, and the
 * transparency log and policy engines import nothing from the rest of the project.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { repoRoot } from './support/deployment.js';

const LAYERS: Record<string, number> = {
  // tlog and policy are libraries in their own right: they import nothing of the project, so
  // they sit at the bottom and the store adapters may implement the log's storage interface
  domain: 0,
  tlog: 0,
  policy: 0,
  store: 1,
  crypto: 2,
  services: 3,
  server: 4,
  cli: 5,
};
const STANDALONE = new Set(['tlog', 'policy']);

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return sources(path);
    return path.endsWith('.ts') && !path.endsWith('.test.ts') ? [path] : [];
  });
}

const src = join(repoRoot, 'src');
const edges = sources(src).flatMap((file) => {
  const text = readFileSync(file, 'utf8');
  return [...text.matchAll(/(?:import|export)[^'"]*?from\s+['"](\.[^'"]+)['"]/g)].map((m) => ({
    from: relative(src, file),
    to: relative(src, resolve(dirname(file), m[1] ?? '')),
  }));
});
const part = (path: string) => path.split('/')[0] ?? '';

describe('the import graph', () => {
  it('has edges to check', () => {
    expect(edges.length).toBeGreaterThan(20);
  });

  it('points down the layers only', () => {
    const upward = edges.filter((e) => (LAYERS[part(e.to)] ?? 99) > (LAYERS[part(e.from)] ?? -1));
    expect(upward).toEqual([]);
  });

  it('keeps engines of the same layer independent of each other', () => {
    const sideways = edges.filter(
      (e) => part(e.from) !== part(e.to) && LAYERS[part(e.to)] === LAYERS[part(e.from)],
    );
    expect(sideways).toEqual([]);
  });

  it('keeps src/tlog and src/policy publishable on their own', () => {
    const outside = edges.filter((e) => STANDALONE.has(part(e.from)) && part(e.to) !== part(e.from));
    expect(outside).toEqual([]);
  });
});

describe('the console', () => {
  const consoleSrc = join(repoRoot, 'console', 'src');
  const imports = sources(consoleSrc).flatMap((file) => {
    const text = readFileSync(file, 'utf8');
    return [
      ...text.matchAll(/(?:import|export)[^'"]*?from\s+['"]([^'"]+)['"]|import\s+['"]([^'"]+)['"]/g),
    ].map((m) => ({ from: relative(consoleSrc, file), to: m[1] ?? m[2] ?? '' }));
  });

  it('has imports to check', () => {
    expect(imports.length).toBeGreaterThan(10);
  });

  it('imports nothing of the server or any package: it talks to the public HTTP API only', () => {
    const outside = imports.filter(
      (i) =>
        !i.to.startsWith('.') ||
        relative(consoleSrc, resolve(consoleSrc, dirname(i.from), i.to)).startsWith('..'),
    );
    expect(outside).toEqual([]);
  });
});
