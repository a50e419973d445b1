import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseConfig } from './config.js';
import { DomicileError } from './errors.js';
import type { RegionId } from './ids.js';

const demoFile = new URL('../../domicile.yaml', import.meta.url);
const demo = readFileSync(demoFile, 'utf8');

function issuesOf(text: string): { path: string; line: number | undefined; reason: string }[] {
  try {
    parseConfig(text, 'domicile.yaml');
  } catch (error) {
    expect(error).toBeInstanceOf(DomicileError);
    expect((error as DomicileError).code).toBe('DOMICILE_ERR_CONFIG');
    return (error as DomicileError).details?.issues as never;
  }
  throw new Error('expected the configuration to be refused');
}

describe('parseConfig', () => {
  it('accepts the shipped demo topology of the model case', () => {
    const config = parseConfig(demo, 'domicile.yaml');
    const us = config.jurisdictions.get('US' as never);
    expect(us).toMatchObject({
      home: 'oci-us-ashburn',
      failover: ['oci-us-phoenix'],
      legacy: ['us-va-legacy'],
      backup: ['oci-us-phoenix', 'sg-singapore'],
      steward: 'us-data-security',
      restrictedCountries: ['CN', 'HK', 'MO', 'CU', 'IR', 'KP', 'RU', 'VE'],
      logOrigin: 'domicile.local/log/US',
    });
    expect(config.regions.get('us-va-legacy' as never)?.status).toBe('draining');
    expect(config.jurisdictions.get('SG' as never)?.home).toBe('sg-singapore');
    expect(config.jurisdictions.get('EU' as never)?.home).toBe('eu-frankfurt');
    expect(config.server.bodyLimit).toBe(1024 * 1024);
  });

  describe('when a home region is in a country outside the jurisdiction', () => {
    it('names the path, the line and the reason', () => {
      const issues = issuesOf(demo.replace('home: oci-us-ashburn', 'home: sg-singapore'));
      expect(issues).toEqual([
        {
          path: 'jurisdictions[0].home',
          line: demo.split('\n').findIndex((l) => l.includes('home: oci-us-ashburn')) + 1,
          reason:
            'home region `sg-singapore` is in country `SG`, which is not a country of jurisdiction `US`',
        },
      ]);
    });
  });

  it.each([
    [
      'an unknown failover region',
      ['failover: [oci-us-phoenix]', 'failover: [nowhere]'],
      'jurisdictions[0].failover[0]',
      'unknown region `nowhere`',
    ],
    [
      'a foreign failover region',
      ['failover: [oci-us-phoenix]', 'failover: [eu-frankfurt]'],
      'jurisdictions[0].failover[0]',
      'not a country of jurisdiction',
    ],
    [
      'a draining home region',
      ['home: oci-us-ashburn', 'home: us-va-legacy'],
      'jurisdictions[0].home',
      'must be active',
    ],
    [
      'an unknown backup region',
      ['backup: [oci-us-phoenix, sg-singapore]', 'backup: [mars-1]'],
      'jurisdictions[0].backup[0]',
      'unknown region',
    ],
    ['a bad status', ['status: draining', 'status: sleeping'], 'regions[2].status', ''],
    [
      'a region node reached over plain HTTP',
      [
        'provider: oci, status: active }',
        'provider: oci, status: active, endpoint: "http://10.0.0.5:8443" }',
      ],
      'regions[0].endpoint',
      'never plain HTTP',
    ],
    ['a lowercase country', ['country: SG', 'country: sg'], 'regions[3].country', 'ISO 3166-1'],
    [
      'an unknown field',
      ['steward: us-data-security', 'steward: us-data-security\n    stewart: x'],
      'jurisdictions[0]',
      'stewart',
    ],
    [
      'protected data that may leave',
      ['{ id: protected, residency: jurisdiction }', '{ id: protected, residency: global }'],
      'classes[0].residency',
      'must have residency',
    ],
  ])('refuses %s', (_name, [from, to], path, reason) => {
    if (from === undefined || to === undefined) throw new Error('bad case');
    expect(demo).toContain(from);
    const issues = issuesOf(demo.replace(from, to));
    expect(issues.map((i) => i.path)).toContain(path);
    expect(issues.find((i) => i.path === path)?.reason).toContain(reason);
  });

  it('reads the internal endpoint of a region node', () => {
    const config = parseConfig(
      demo.replace(
        'provider: oci, status: active }',
        'provider: oci, status: active, endpoint: "https://10.0.0.5:8443" }',
      ),
      'domicile.yaml',
    );
    expect(config.regions.get('oci-us-ashburn' as RegionId)?.endpoint).toBe('https://10.0.0.5:8443');
  });

  it('refuses text that is not YAML with its line', () => {
    const issues = issuesOf('version: 1\nregions: [\n');
    expect(issues[0]?.path).toBe('(yaml)');
    expect(issues[0]?.line).toBeGreaterThanOrEqual(2);
  });

  it('lists every problem at once', () => {
    const issues = issuesOf(
      demo
        .replace('home: oci-us-ashburn', 'home: sg-singapore')
        .replace('failover: [oci-us-phoenix]', 'failover: [nowhere]'),
    );
    expect(issues.length).toBe(2);
  });
});

describe('auth.issuers and access', () => {
  const withAuth = (yaml: string) => `${demo}\n${yaml}\n`;

  it('reads issuers with static keys or a JWKS URL, and the lockbox durations in seconds', () => {
    const config = parseConfig(
      withAuth(`auth:
  issuers:
    - { issuer: idp, audience: domicile, jwksUrl: "https://idp.example/jwks.json" }
access:
  policies: ./my-policies
  lockbox: { maxDuration: 4h, breakGlassMaxDuration: 30m }`),
      'domicile.yaml',
    );
    expect(config.auth.issuer).toBe('domicile.local');
    expect(config.auth.issuers[0]).toMatchObject({ issuer: 'idp', claims: { id: 'sub', country: 'loc' } });
    expect(config.access).toMatchObject({
      policies: './my-policies',
      lockbox: {
        maxDuration: 14_400,
        breakGlassMaxDuration: 1800,
        pendingExpiry: 43_200,
        reviewWithin: 86_400,
      },
    });
  });

  it.each([
    [
      'an issuer with both keys and a JWKS URL',
      `auth:\n  issuers:\n    - { issuer: idp, audience: a, jwksUrl: "https://x/j", keys: [{ alg: ES256, pem: "-----BEGIN PUBLIC KEY-----" }] }`,
    ],
    [
      'the deployment’s own issuer again',
      'auth:\n  issuers:\n    - { issuer: domicile.local, audience: a, jwksUrl: "https://x/j" }',
    ],
    [
      'an HMAC algorithm',
      'auth:\n  issuers:\n    - { issuer: idp, audience: a, jwksUrl: "https://x/j", algorithms: [HS256] }',
    ],
    [
      'a break-glass maximum above the maximum',
      'access:\n  lockbox: { maxDuration: 1h, breakGlassMaxDuration: 2h }',
    ],
  ])('refuses %s', (_name, yaml) => {
    expect(issuesOf(withAuth(yaml)).length).toBeGreaterThan(0);
  });
});
