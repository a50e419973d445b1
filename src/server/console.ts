/**
 * The web console at `/console/`: the static build of `console/` (`vite build` writes it to
 * `dist/console`). The console is files only: in the browser it calls the public API of the same
 * origin with the bearer token its user pastes, so serving it holds no state and grants nothing.
 *
 * Every answer under `/console/` carries a strict Content-Security-Policy (scripts, styles and
 * requests from this origin only, no inline code, never framed). A missing build is not fatal:
 * the API runs on, and `/console/` answers `404 DOMICILE_ERR_CONSOLE_NOT_BUILT`.
 */
import { existsSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import fastifyStatic from '@fastify/static';
import type { FastifyInstance, FastifyReply } from 'fastify';
import { DomicileError } from '../domain/errors.js';
import { errorBody } from './errors.js';

/** Where the console is served. */
export const CONSOLE_PATH = '/console/';

/** Headers of every answer under `/console/`. */
export const CONSOLE_SECURITY_HEADERS: Readonly<Record<string, string>> = {
  'content-security-policy': [
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self'",
    "connect-src 'self'",
    "object-src 'none'",
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
  ].join('; '),
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  // the demo link carries a token in its fragment: browsers never send fragments, and no page of
  // the console sends a referrer at all
  'referrer-policy': 'no-referrer',
  'cross-origin-opener-policy': 'same-origin',
  'cross-origin-resource-policy': 'same-origin',
  'permissions-policy': 'camera=(), microphone=(), geolocation=(), payment=(), usb=()',
};

/**
 * The folder of the console build next to this module: `dist/src/server/` → `dist/console/`;
 * when the sources run directly (`src/server/`, under Vitest), the checkout's `dist/console/`.
 */
export function defaultConsoleDirectory(): string {
  const here = fileURLToPath(new URL('.', import.meta.url));
  const twoUp = resolve(here, '..', '..');
  return basename(twoUp) === 'dist' ? join(twoUp, 'console') : join(twoUp, 'dist', 'console');
}

/** Options of `registerConsole`. */
export interface ConsoleOptions {
  /** The console build (with `index.html`); default: `defaultConsoleDirectory()`. */
  readonly directory?: string;
}

/** Whether the console is served, and from where. */
export interface ConsoleStatus {
  readonly available: boolean;
  readonly directory: string;
}

/** Whether `directory` holds a console build. */
export function consoleStatus(options: ConsoleOptions = {}): ConsoleStatus {
  const directory = options.directory ?? defaultConsoleDirectory();
  return { available: existsSync(join(directory, 'index.html')), directory };
}

const notBuilt = (reply: FastifyReply): FastifyReply =>
  reply
    .status(404)
    .send(
      errorBody(
        new DomicileError(
          'DOMICILE_ERR_CONSOLE_NOT_BUILT',
          'the web console is not built: run `npm run build`',
        ),
      ),
    );

/**
 * Serves the console under `/console/` (`/console` answers the same page).
 *
 * @example
 * const app = await buildApp({ …, plugins: [(instance) => registerConsole(instance)] });
 */
export async function registerConsole(
  app: FastifyInstance,
  options: ConsoleOptions = {},
): Promise<ConsoleStatus> {
  const status = consoleStatus(options);
  await app.register(
    async (scope) => {
      scope.addHook('onSend', async (_request, reply) => {
        for (const [name, value] of Object.entries(CONSOLE_SECURITY_HEADERS)) void reply.header(name, value);
      });
      // a missing file under /console/ is still the console's answer, with its headers
      scope.setNotFoundHandler((_request, reply) =>
        reply
          .status(404)
          .send(errorBody(new DomicileError('DOMICILE_ERR_NOT_FOUND', 'no such file of the console'))),
      );
      if (!status.available) {
        for (const path of ['/', '/*']) {
          scope.get(path, { schema: { hide: true } }, (_request, reply) => notBuilt(reply));
        }
        return;
      }
      await scope.register(fastifyStatic, {
        root: status.directory,
        // one route per file of the build, listed at start: nothing else on the disk is reachable
        // (a new build is served after a restart)
        wildcard: false,
        index: ['index.html'],
        decorateReply: false,
        serveDotFiles: false,
        cacheControl: false,
        setHeaders: (res, path) => {
          // file names under assets/ carry a content hash: they never change
          res.setHeader(
            'cache-control',
            path.includes('/assets/') ? 'public, max-age=31536000, immutable' : 'no-cache',
          );
        },
      });
    },
    { prefix: CONSOLE_PATH.slice(0, -1) },
  );
  return status;
}
