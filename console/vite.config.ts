/**
 * The console's build: `vite build --config console/vite.config.ts` writes it to `dist/console`,
 * where `domicile up` serves it at `/console/`. In development, `vite --config
 * console/vite.config.ts` serves the sources and passes API calls to a `domicile up` on
 * `$DOMICILE_URL` (default http://127.0.0.1:8080).
 */
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

const api = process.env.DOMICILE_URL ?? 'http://127.0.0.1:8080';

export default defineConfig({
  root: fileURLToPath(new URL('.', import.meta.url)),
  base: '/console/',
  build: {
    outDir: fileURLToPath(new URL('../dist/console', import.meta.url)),
    emptyOutDir: true,
    target: 'es2022',
    // the module preload polyfill is code the console does not need (evergreen browsers)
    modulePreload: { polyfill: false },
    // no inline data: URLs, which the console's Content-Security-Policy refuses
    assetsInlineLimit: 0,
  },
  server: {
    proxy: Object.fromEntries(['/v1', '/readyz', '/openapi.json'].map((path) => [path, api])),
  },
});
