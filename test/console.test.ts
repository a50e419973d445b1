/**
 * The web console as a user meets it: a real `domicile up`, the console it serves opened in
 * headless Chromium (Debian's, installed by `test/support/chromium.ts` when missing), data written
 * through the public API, and what the page then shows. One browser and one server for the file.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser, ConsoleMessage, Locator, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { launchChromium } from './support/chromium.js';
import { requireBuild, run, startUp } from './support/cli.js';

const dataDir = mkdtempSync(join(tmpdir(), 'domicile-console-'));
const env = { DOMICILE_MASTER_KEY: randomBytes(32).toString('hex'), DOMICILE_DATA: dataDir };
const SUBJECT = `console-${randomBytes(4).toString('hex')}`;
const PLAINTEXT = `plaintext-${randomBytes(6).toString('hex')}@example.com`;

let server: Awaited<ReturnType<typeof startUp>>;
let browser: Browser;
let page: Page;
let consoleLink: string;
let demoToken: string;
const browserConsole: { type: string; text: string }[] = [];

beforeAll(async () => {
  requireBuild();
  [server, browser] = await Promise.all([startUp([], env), launchChromium()]);
  // the banner is one write, but may reach us in more than one chunk
  await vi.waitFor(() => expect(server.output()).toMatch(/\/console\/#token=\S+\n/), { timeout: 5_000 });
  consoleLink = /(http:\/\/\S+\/console\/#token=\S+)/.exec(server.output())?.[1] ?? '';
  demoToken = decodeURIComponent(consoleLink.split('#token=')[1] ?? '');
  page = await browser.newPage();
  page.on('console', (m: ConsoleMessage) => browserConsole.push({ type: m.type(), text: m.text() }));
  page.on('pageerror', (e) => browserConsole.push({ type: 'pageerror', text: String(e) }));
  // a first run on a fresh machine may install Chromium and its libraries with apt first
}, 600_000);
afterAll(async () => {
  await browser?.close();
  await server?.stop();
  rmSync(dataDir, { recursive: true, force: true });
});

/** Calls the API as the test's own client (not through the page). */
async function api(path: string, options: { method?: string; body?: unknown; token?: string } = {}) {
  const response = await fetch(`${server.url}${path}`, {
    method: options.method ?? 'GET',
    headers: {
      authorization: `Bearer ${options.token ?? demoToken}`,
      ...(options.body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    ...(options.body === undefined ? {} : { body: JSON.stringify(options.body) }),
  });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

/** The text of a cell once it is there. */
const textOf = async (locator: Locator): Promise<string> => (await locator.textContent())?.trim() ?? '';

/** The text of a cell as the page shows it: without a meter's fallback text, which textContent keeps. */
const shownTextOf = async (locator: Locator): Promise<string> =>
  // biome-ignore lint/performance/useDomNodeTextContent: Playwright's Locator.innerText; the rendered text is the point
  (await locator.innerText()).trim();

/** The row of a table whose first cell is `first`. */
const row = (table: string, attribute: string, first: string): Locator =>
  page.locator(`table.${table} tr`, { has: page.locator(`td[${attribute}="${first}"]`) });

/** `GET /v1/routing` as the test's own client reads it, by jurisdiction. */
async function routingFigures(): Promise<
  Map<string, { total: number; home: number; recentHomeShare: number | null }>
> {
  const { status, body } = await api('/v1/routing');
  expect(status).toBe(200);
  const jurisdictions = body.jurisdictions as {
    jurisdiction: string;
    total: number;
    home: number;
    recentHomeShare: number | null;
  }[];
  return new Map(jurisdictions.map((j) => [j.jurisdiction, j]));
}

describe('the console served by `domicile up`', () => {
  it('is served at /console/ with a strict content security policy and no inline script', async () => {
    const response = await fetch(`${server.url}/console/`);
    expect(response.status).toBe(200);
    const csp = response.headers.get('content-security-policy') ?? '';
    expect(csp).toContain("default-src 'self'");
    expect(csp).toContain("script-src 'self'");
    expect(csp).toContain("frame-ancestors 'none'");
    expect(csp).not.toContain('unsafe');
    const html = await response.text();
    const scripts = [...html.matchAll(/<script\b([^>]*)>([\s\S]*?)<\/script>/g)];
    expect(scripts.length).toBeGreaterThan(0);
    for (const [, attributes, body] of scripts) {
      expect(attributes).toMatch(/\bsrc="\/console\/assets\//);
      expect(body?.trim()).toBe('');
    }
  });

  it('signs in from the link the banner prints and strips the token from the address at once', async () => {
    expect(server.output()).toContain(`console: ${server.url}/console/`);
    await page.goto(consoleLink);
    await page.getByRole('button', { name: 'Forget token' }).waitFor();
    expect(page.url()).toBe(`${server.url}/console/`);
    // page functions run in the browser: strings, since this file is compiled without the DOM types
    expect(await page.evaluate("sessionStorage.getItem('domicile.console.token')")).toBe(demoToken);
    // the history entry itself was rewritten: going back and forth never shows the token again
    await page.goBack();
    await page.goForward();
    expect(page.url()).toBe(`${server.url}/console/`);
    expect(await textOf(page.locator('.signed-in strong'))).toBe('demo-steward');
  });

  it('shows every region up and the home region serving each jurisdiction', async () => {
    await expect.poll(() => textOf(page.locator('p.summary'))).toBe('All 5 regions are up.');
    for (const region of [
      'oci-us-ashburn',
      'oci-us-phoenix',
      'us-va-legacy',
      'sg-singapore',
      'eu-frankfurt',
    ]) {
      expect(await textOf(row('regions', 'data-region', region).locator('td').nth(1))).toBe('up');
    }
    for (const [jurisdiction, home] of [
      ['US', 'oci-us-ashburn'],
      ['SG', 'sg-singapore'],
      ['EU', 'eu-frankfurt'],
    ] as const) {
      expect(await textOf(row('jurisdictions', 'data-jurisdiction', jurisdiction).locator('td').nth(1))).toBe(
        `${home} (home)`,
      );
    }
  });

  it('lists the records of a subject written through the API, and reads one', async () => {
    expect(
      (await api(`/v1/subjects/${SUBJECT}`, { method: 'PUT', body: { jurisdiction: 'US' } })).status,
    ).toBe(201);
    for (const [key, value] of [
      ['email', PLAINTEXT],
      ['plan', { tier: 'pro' }],
    ] as const) {
      const put = await api(`/v1/subjects/${SUBJECT}/records/${key}`, {
        method: 'PUT',
        body: { class: 'protected', value },
      });
      expect(put.status).toBe(200);
    }

    await page.getByRole('button', { name: 'Subject', exact: true }).click();
    await page.getByLabel('Subject id').fill(SUBJECT);
    await page.getByRole('button', { name: 'Look up' }).click();
    const records = page.locator('table.records tbody tr');
    await expect.poll(() => records.count()).toBe(2);
    expect(await textOf(records.nth(0))).toMatch(/^email\s*protected\s*v1/);
    expect(await textOf(records.nth(1))).toMatch(/^plan\s*protected\s*v1/);
    expect(await textOf(page.locator('dl.subject'))).toContain('oci-us-ashburn');

    await page.getByRole('button', { name: 'Read record email' }).click();
    await expect.poll(() => textOf(page.getByLabel('Record value'))).toBe(JSON.stringify(PLAINTEXT));
    expect(page.url()).toBe(`${server.url}/console/`);
  });

  it('checks the inclusion proof of every access-log entry in the browser', async () => {
    await page.getByRole('button', { name: 'Show access log' }).click();
    const summary = page.locator('p.summary[data-total]');
    await summary.waitFor();
    const total = Number(await summary.getAttribute('data-total'));
    // register, two writes, a listing and a read by the console, at least
    expect(total).toBeGreaterThanOrEqual(5);
    expect(Number(await summary.getAttribute('data-verified'))).toBe(total);
    expect(await page.locator('td[data-proof="verified"]').count()).toBe(total);
    expect(await page.locator('td[data-proof="failed"]').count()).toBe(0);
    const events = await page.locator('table.access-log tbody tr td:nth-child(3)').allTextContents();
    expect(events).toEqual(expect.arrayContaining(['subject.register', 'record.write', 'record.read']));
    // without the log's verifier key the signature is honestly not checked
    expect(await page.locator('[data-signature]').getAttribute('data-signature')).toBe('unchecked');
  });

  it('shows a tampered inclusion proof as failed', async () => {
    let flipped = false;
    await page.route('**/access-log', async (route) => {
      const response = await route.fetch();
      const body = (await response.json()) as { entries: { inclusionProof: string[] }[] };
      const first = body.entries[0];
      const hash = first?.inclusionProof[0];
      if (first && hash) {
        const bytes = Buffer.from(hash, 'base64');
        bytes[0] = (bytes[0] ?? 0) ^ 0x01;
        first.inclusionProof[0] = bytes.toString('base64');
        flipped = true;
      }
      await route.fulfill({ response, json: body });
    });
    try {
      await page.getByRole('button', { name: 'Show access log' }).click();
      await expect.poll(() => page.locator('td[data-proof="failed"]').count()).toBe(1);
      expect(flipped).toBe(true);
      const failed = await textOf(
        page.locator('table.access-log tbody tr').first().locator('td[data-proof]'),
      );
      expect(failed).toContain('failed: the proof does not lead to the checkpoint root');
      const summary = page.locator('p.summary[data-total]');
      expect(Number(await summary.getAttribute('data-verified'))).toBe(
        Number(await summary.getAttribute('data-total')) - 1,
      );
    } finally {
      await page.unroute('**/access-log');
    }
  });

  it('shows the share of each jurisdiction’s requests served by its home region, as the gateway counts it', async () => {
    const before = await routingFigures();
    const us = before.get('US');
    // the requests about the US subject above (registration, writes, the console's lookup, read
    // and access log), every one served at home since every region is up
    expect(us?.total).toBeGreaterThanOrEqual(5);
    expect(us?.home).toBe(us?.total);
    expect(us?.recentHomeShare).toBe(1);
    expect(before.has('EU')).toBe(false);

    await page.getByRole('button', { name: 'Overview', exact: true }).click();
    const usCells = row('jurisdictions', 'data-jurisdiction', 'US').locator('td');
    await expect.poll(() => textOf(usCells.nth(3))).toBe(String(us?.total));
    expect(await shownTextOf(usCells.nth(4))).toBe('100.0%');
    expect(await shownTextOf(usCells.nth(5))).toBe('100.0%');
    expect(await usCells.nth(5).locator('meter').getAttribute('value')).toBe('1');
    // no request yet is not 0% served at home
    const euCells = row('jurisdictions', 'data-jurisdiction', 'EU').locator('td');
    expect(await textOf(euCells.nth(3))).toBe('0');
    expect(await shownTextOf(euCells.nth(4))).toBe('no requests yet');
    expect(await shownTextOf(euCells.nth(5))).toBe('no requests yet');
    // showing the overview routes no request: what it shows is what the gateway reported above
    expect(await routingFigures()).toEqual(before);
  });

  it('checks checkpoint signatures with the verifier key the user keeps', async () => {
    const usKey = /--url \S+\/v1\/logs\/US --key (\S+)/.exec(server.output())?.[1] ?? '';
    const euKey = /--url \S+\/v1\/logs\/EU --key (\S+)/.exec(server.output())?.[1] ?? '';
    expect(usKey).toMatch(/^domicile\.local\/log\/US\+[0-9a-f]{8}\+/);
    await page.getByRole('button', { name: 'Logs' }).click();
    const us = row('checkpoints', 'data-jurisdiction', 'US');
    await us.waitFor();
    expect(Number(await us.locator('td[data-size]').getAttribute('data-size'))).toBeGreaterThan(5);
    expect(await us.locator('[data-signature]').getAttribute('data-signature')).toBe('unchecked');

    await page.getByLabel('Verifier key of US').fill(usKey);
    // the EU log's key given for SG: a key of another log proves nothing about this one
    await page.getByLabel('Verifier key of SG').fill(euKey);
    await page.getByRole('button', { name: 'Keep keys and check' }).click();
    await expect.poll(() => us.locator('[data-signature]').getAttribute('data-signature')).toBe('verified');
    const sg = row('checkpoints', 'data-jurisdiction', 'SG');
    expect(await sg.locator('[data-signature]').getAttribute('data-signature')).toBe('failed');
  });

  it('lets a steward approve a pending access request', async () => {
    const engineer = run(
      ['token', '--sub', 'eng-1', '--dept', 'platform-eng', '--loc', 'US', '--ttl', '10m'],
      env,
    );
    expect(engineer.code).toBe(0);
    const filed = await api('/v1/access-requests', {
      method: 'POST',
      token: engineer.stdout.trim(),
      body: {
        jurisdiction: 'US',
        class: 'protected',
        subjects: [SUBJECT],
        actions: ['read'],
        purpose: 'ticket 4711',
        durationSeconds: 3600,
      },
    });
    expect(filed.status).toBe(201);
    const id = String(filed.body.id);

    await page.getByRole('button', { name: 'Access requests' }).click();
    await page.getByRole('button', { name: `Approve ${id}` }).click();
    await expect
      .poll(() => textOf(page.locator('p.notice')))
      .toMatch(new RegExp(`^Approved ${id}: a grant until`));
    expect((await api(`/v1/access-requests/${id}`)).body.status).toBe('approved');
  });

  it('shows the API’s error code for a forged token', async () => {
    await page.getByRole('button', { name: 'Forget token' }).click();
    const [header, payload, signature] = demoToken.split('.');
    const forged = `${header}.${payload}.${signature?.startsWith('A') ? 'B' : 'A'}${signature?.slice(1)}`;
    await page.getByLabel('Bearer token', { exact: true }).fill(forged);
    await page.getByRole('button', { name: 'Use token' }).click();
    await page.getByRole('button', { name: 'Subject', exact: true }).click();
    await page.getByLabel('Subject id').fill(SUBJECT);
    await page.getByRole('button', { name: 'Look up' }).click();
    const alert = page.getByRole('alert');
    await alert.waitFor();
    expect(await textOf(alert.locator('.error-code'))).toBe('DOMICILE_ERR_UNAUTHENTICATED');
    expect(await textOf(alert)).toContain('(HTTP 401)');
  });

  it('writes no personal data to the browser console, the title or the address, and breaks no CSP rule', async () => {
    expect(await page.title()).toBe('Domicile console');
    expect(page.url()).toBe(`${server.url}/console/`);
    const texts = browserConsole.map((m) => m.text).join('\n');
    expect(texts).not.toContain(SUBJECT);
    expect(texts).not.toContain(PLAINTEXT);
    expect(texts).not.toContain('Content Security Policy');
    // the console itself never logs; the browser reports only the failed (401) request
    expect(browserConsole.filter((m) => m.type !== 'error')).toEqual([]);
    expect(browserConsole.filter((m) => !m.text.startsWith('Failed to load resource'))).toEqual([]);
  });
});
