import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Fastify, { type FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { registerConsole } from './console.js';
import { installErrorHandlers } from './errors.js';

const build = mkdtempSync(join(tmpdir(), 'domicile-console-'));
mkdirSync(join(build, 'assets'));
writeFileSync(join(build, 'index.html'), '<!doctype html><title>Domicile console</title>');
writeFileSync(join(build, 'assets', 'main-0a1b2c3d.js'), 'export {};\n');
writeFileSync(join(build, '.env'), 'SECRET=1\n');
writeFileSync(join(tmpdir(), 'domicile-console-outside.txt'), 'outside\n');

async function appWith(directory: string): Promise<FastifyInstance> {
  const app = Fastify({ logger: false });
  installErrorHandlers(app);
  await registerConsole(app, { directory });
  app.get('/readyz', async () => ({ status: 'ready' }));
  return app;
}

describe('registerConsole', () => {
  let app: FastifyInstance;
  beforeAll(async () => {
    app = await appWith(build);
  });
  afterAll(async () => {
    await app.close();
    rmSync(build, { recursive: true, force: true });
  });

  it('serves the build at /console/ with a strict content security policy', async () => {
    const res = await app.inject({ url: '/console/' });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toMatch(/^text\/html/);
    expect(res.body).toContain('Domicile console');
    const csp = String(res.headers['content-security-policy']);
    expect(csp).toContain("default-src 'self'");
    expect(csp).toContain("script-src 'self'");
    expect(csp).toContain("frame-ancestors 'none'");
    expect(csp).not.toContain('unsafe-inline');
    expect(res.headers['x-frame-options']).toBe('DENY');
    expect(res.headers['referrer-policy']).toBe('no-referrer');
    expect(res.headers['cache-control']).toBe('no-cache');
  });

  it('answers /console with the same page', async () => {
    const res = await app.inject({ url: '/console' });
    expect(res.statusCode).toBe(200);
    expect(res.body).toContain('Domicile console');
  });

  it('lets browsers keep hashed assets for good', async () => {
    const res = await app.inject({ url: '/console/assets/main-0a1b2c3d.js' });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toMatch(/javascript/);
    expect(res.headers['cache-control']).toContain('immutable');
    expect(res.headers['content-security-policy']).toBeDefined();
  });

  describe('when a path leaves the build', () => {
    it.each([
      '/console/.env',
      '/console/../domicile-console-outside.txt',
      '/console/%2e%2e/domicile-console-outside.txt',
      '/console/nope.js',
    ])('answers 404 for %s', async (url) => {
      const res = await app.inject({ url });
      expect(res.statusCode).toBe(404);
      expect(res.body).not.toContain('SECRET');
      expect(res.body).not.toContain('outside');
    });
  });

  it('leaves the rest of the app alone', async () => {
    const res = await app.inject({ url: '/readyz' });
    expect(res.json()).toEqual({ status: 'ready' });
    expect(res.headers['content-security-policy']).toBeUndefined();
  });

  describe('when the console is not built', () => {
    it('answers 404 DOMICILE_ERR_CONSOLE_NOT_BUILT and the API still runs', async () => {
      const bare = await appWith(join(build, 'missing'));
      for (const url of ['/console', '/console/', '/console/assets/main.js']) {
        const res = await bare.inject({ url });
        expect(res.statusCode).toBe(404);
        expect(res.json().error.code).toBe('DOMICILE_ERR_CONSOLE_NOT_BUILT');
      }
      expect((await bare.inject({ url: '/readyz' })).statusCode).toBe(200);
      await bare.close();
    });
  });
});
