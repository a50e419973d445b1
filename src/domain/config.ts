/**
 * The configuration schema (`domicile.yaml`) and its validation. Pure: parsing takes the file's
 * text and name; reading the file is the caller's business. Every problem names the file, the
 * path inside it (and the line when known) and the reason, so an operator can fix it at once.
 */
import { createHash } from 'node:crypto';
import { z } from 'zod';
import type { ClassId, JurisdictionId, RegionId } from './ids.js';
import { COUNTRY_PATTERN, JURISDICTION_PATTERN, LABEL_PATTERN } from './ids.js';
import { parseYamlFile, type YamlFile, type YamlIssue, yamlIssuesError } from './yaml-issues.js';

const COUNTRY = z.string().regex(COUNTRY_PATTERN, 'expected an ISO 3166-1 alpha-2 country code such as `US`');
const REGION_ID = z
  .string()
  .regex(/^[a-z0-9][a-z0-9-]{0,62}$/, 'expected a lowercase region id such as `oci-us-ashburn`');
const JURISDICTION_ID = z
  .string()
  .regex(JURISDICTION_PATTERN, 'expected an uppercase jurisdiction id such as `US`');
const DEPARTMENT = z.string().regex(LABEL_PATTERN, 'expected a department id such as `us-data-security`');

/** Where a region keeps its data: the embedded SQLite default, or a PostgreSQL URL. */
const STORE = z.union([
  z.literal('sqlite'),
  z.string().regex(/^postgres(ql)?:\/\//, 'expected `sqlite` or a postgres:// URL'),
]);

const RegionSchema = z.strictObject({
  id: REGION_ID,
  country: COUNTRY,
  provider: z.string().min(1).max(64),
  status: z.enum(['active', 'draining', 'retired']),
  store: STORE.default('sqlite'),
  /**
   * Where the region node's internal API listens when it runs as its own process
   * (`domicile region`): reached by gateways and other regions over mutual TLS only.
   */
  endpoint: z
    .string()
    .regex(
      /^https:\/\/[^\s/?#]+(:\d{1,5})?\/?$/,
      'expected `https://host:port`: region nodes are reached over mutual TLS, never plain HTTP',
    )
    .optional(),
});

const JurisdictionSchema = z.strictObject({
  id: JURISDICTION_ID,
  countries: z.array(COUNTRY).min(1),
  home: REGION_ID,
  failover: z.array(REGION_ID).default([]),
  legacy: z.array(REGION_ID).default([]),
  backup: z.array(REGION_ID).default([]),
  steward: DEPARTMENT,
  restrictedCountries: z.array(COUNTRY).default([]),
  logOrigin: z
    .string()
    .regex(/^[^\s+]+$/, 'expected a schema-less URL without spaces or `+`')
    .optional(),
});

/**
 * Residency rule of a data class:
 * - `jurisdiction`: plaintext-decryptable copies only in regions of the subject's jurisdiction (R1);
 * - `global`: non-personal, replicated to every active region and readable anywhere;
 * - `export-after-check`: stays home like `jurisdiction`, may leave only through a de-identifying export.
 */
export const RESIDENCY_RULES = ['jurisdiction', 'global', 'export-after-check'] as const;
export type ResidencyRule = (typeof RESIDENCY_RULES)[number];

const ClassSchema = z.strictObject({
  id: z.string().regex(/^[a-z][a-z0-9-]{0,31}$/, 'expected a lowercase class id'),
  residency: z.enum(RESIDENCY_RULES),
});

const ServerSchema = z.strictObject({
  port: z.number().int().min(0).max(65535).default(8080),
  host: z.string().default('127.0.0.1'),
  bodyLimit: z
    .number()
    .int()
    .min(1024)
    .max(64 * 1024 * 1024)
    .default(1024 * 1024),
});

/** `90s`, `15m`, `8h`, `1d` → seconds. */
const DURATION = z
  .string()
  .regex(/^\d{1,6}[smhd]$/, 'expected a duration such as `90s`, `15m`, `8h` or `1d`')
  .transform((text) => Number(text.slice(0, -1)) * { s: 1, m: 60, h: 3600, d: 86400 }[text.slice(-1) as 's']);

/** Token signature algorithms Domicile accepts (never `none`, never a shared-secret HMAC). */
export const TOKEN_ALGORITHMS = ['EdDSA', 'ES256', 'RS256'] as const;
export type TokenAlgorithm = (typeof TOKEN_ALGORITHMS)[number];

/** A static public key of an issuer: PEM (SPKI) or a JWK, with the algorithm it signs with. */
const IssuerKeySchema = z
  .strictObject({
    alg: z.enum(TOKEN_ALGORITHMS),
    kid: z.string().min(1).max(256).optional(),
    pem: z
      .string()
      .regex(/-----BEGIN PUBLIC KEY-----/, 'expected an SPKI PEM public key')
      .optional(),
    jwk: z.record(z.string(), z.unknown()).optional(),
  })
  .refine((k) => (k.pem === undefined) !== (k.jwk === undefined), 'give exactly one of `pem` and `jwk`');

/** The claim names of Domicile's own tokens, and the default of every configured issuer. */
export const DEFAULT_CLAIM_NAMES: ClaimNames = {
  id: 'sub',
  type: 'ptype',
  department: 'dept',
  roles: 'roles',
  country: 'loc',
  mfa: 'mfa',
  jurisdiction: 'jur',
};

/** Which claim carries which principal attribute. */
const ClaimNamesSchema = z.strictObject({
  id: z.string().min(1).default(DEFAULT_CLAIM_NAMES.id),
  type: z.string().min(1).default(DEFAULT_CLAIM_NAMES.type),
  department: z.string().min(1).default(DEFAULT_CLAIM_NAMES.department),
  roles: z.string().min(1).default(DEFAULT_CLAIM_NAMES.roles),
  country: z.string().min(1).default(DEFAULT_CLAIM_NAMES.country),
  mfa: z.string().min(1).default(DEFAULT_CLAIM_NAMES.mfa),
  jurisdiction: z.string().min(1).default(DEFAULT_CLAIM_NAMES.jurisdiction),
});

/** An identity provider whose tokens are accepted, by static keys or a JWKS URL. */
const IssuerSchema = z
  .strictObject({
    issuer: z.string().min(1),
    audience: z.string().min(1),
    keys: z.array(IssuerKeySchema).min(1).optional(),
    jwksUrl: z
      .string()
      .regex(/^https?:\/\/\S+$/, 'expected an http(s) URL')
      .optional(),
    /** Accepted algorithms of a JWKS issuer (static keys name theirs); default all of TOKEN_ALGORITHMS. */
    algorithms: z.array(z.enum(TOKEN_ALGORITHMS)).min(1).optional(),
    claims: ClaimNamesSchema.default(DEFAULT_CLAIM_NAMES),
    /** Principal type when the type claim is absent (an IdP that issues only employee tokens). */
    defaultType: z.enum(['employee', 'service']).optional(),
  })
  .refine(
    (i) => (i.keys === undefined) !== (i.jwksUrl === undefined),
    'give exactly one of `keys` and `jwksUrl`',
  );

const AuthSchema = z.strictObject({
  /** The deployment's own EdDSA issuer (key pair from `domicile init`): always trusted. */
  issuer: z.string().min(1).default('domicile.local'),
  audience: z.string().min(1).default('domicile'),
  /** Further trusted issuers. */
  issuers: z.array(IssuerSchema).default([]),
  /** Verified tokens kept in memory. */
  tokenCacheSize: z.number().int().min(0).max(1_000_000).default(10_000),
});

/** The lockbox's limits when `access.lockbox` (or `access`) is left out (durations in seconds). */
const LOCKBOX_DEFAULTS = {
  maxDuration: 8 * 3600,
  pendingExpiry: 12 * 3600,
  breakGlassMaxDuration: 3600,
  reviewWithin: 24 * 3600,
  sweepIntervalMs: 60_000,
};

const LockboxSchema = z.strictObject({
  /** Longest grant an approved request may give. */
  maxDuration: DURATION.default(LOCKBOX_DEFAULTS.maxDuration),
  /** A pending request nobody acts on expires after this. */
  pendingExpiry: DURATION.default(LOCKBOX_DEFAULTS.pendingExpiry),
  /** Longest break-glass grant. */
  breakGlassMaxDuration: DURATION.default(LOCKBOX_DEFAULTS.breakGlassMaxDuration),
  /** A break-glass grant must be reviewed within this. */
  reviewWithin: DURATION.default(LOCKBOX_DEFAULTS.reviewWithin),
  /** How often expiries and overdue reviews are swept into the log. */
  sweepIntervalMs: z.number().int().min(100).max(3_600_000).default(LOCKBOX_DEFAULTS.sweepIntervalMs),
});

const AccessSchema = z.strictObject({
  /** Folder of `schema.cedarschema` and `*.cedar` (relative to the configuration file); default: shipped. */
  policies: z.string().min(1).optional(),
  lockbox: LockboxSchema.default(LOCKBOX_DEFAULTS),
});

const WitnessSchema = z.strictObject({
  url: z.string().regex(/^https?:\/\/\S+$/, 'expected the witness `add-checkpoint` URL'),
  key: z
    .string()
    .regex(/^[^\s+]+\+[0-9a-f]{8}\+[A-Za-z0-9+/=]+$/, 'expected a witness verifier key `name+hex8+base64`'),
});

const AuditSchema = z.strictObject({
  /** How often new entries are integrated into the tree and a checkpoint signed. */
  integrateIntervalMs: z.number().int().min(10).max(60_000).default(1000),
  /** Witnesses every new checkpoint is submitted to (C2SP tlog-witness `add-checkpoint`). */
  witnesses: z.array(WitnessSchema).default([]),
});

/** Data categories of the bulk thresholds (28 CFR §202.205; `government-related` is §202.222). */
export const DATA_CATEGORIES = [
  'human-genomic',
  'human-omic',
  'biometric',
  'precise-geolocation',
  'health',
  'financial',
  'covered-identifiers',
  'government-related',
] as const;
export type DataCategory = (typeof DATA_CATEGORIES)[number];

/**
 * Shipped bulk thresholds of jurisdiction `US` (`shared/specs/bulk-thresholds.md`): a volume above
 * the number, per counterparty and category over a rolling 12 months, is bulk.
 * Government-related data has no threshold: any volume counts.
 */
export const US_BULK_THRESHOLDS: Readonly<Record<DataCategory, number>> = {
  'human-genomic': 100,
  'human-omic': 1000,
  biometric: 1000,
  'precise-geolocation': 1000,
  health: 10_000,
  financial: 10_000,
  'covered-identifiers': 100_000,
  'government-related': 0,
};

/**
 * How an export treats a field (a record key): `direct` identifiers are dropped, quasi-identifiers
 * kept as they are (`quasi`) or generalised (`range`: numbers to a `width`-wide bucket, `prefix`:
 * text to its first `keep` characters), `attribute`s kept. A field not listed is dropped.
 */
const FieldRuleSchema = z.union([
  z.enum(['direct', 'quasi', 'attribute']),
  z.strictObject({ generalise: z.literal('range'), width: z.number().int().min(1) }),
  z.strictObject({ generalise: z.literal('prefix'), keep: z.number().int().min(0).max(64) }),
]);
export type ExportFieldRule = z.infer<typeof FieldRuleSchema>;

/** Shipped field rules of exports. */
export const DEFAULT_EXPORT_FIELDS: Readonly<Record<string, ExportFieldRule>> = {
  email: 'direct',
  name: 'direct',
  phone: 'direct',
  address: 'direct',
  ssn: 'direct',
  zip: { generalise: 'prefix', keep: 3 },
  birthYear: { generalise: 'range', width: 10 },
  age: { generalise: 'range', width: 10 },
  gender: 'quasi',
  country: 'quasi',
  plan: 'attribute',
};

const TransfersSchema = z.strictObject({
  /** How often allowed replication volumes are summed into `transfer.replication` log entries. */
  summaryIntervalMs: z.number().int().min(10).max(3_600_000).default(60_000),
  /** Per jurisdiction: data category → bulk when more than this many persons within 12 months. */
  bulkThresholds: z
    .record(JURISDICTION_ID, z.partialRecord(z.enum(DATA_CATEGORIES), z.number().int().min(0)))
    .default({ US: { ...US_BULK_THRESHOLDS } }),
  exports: z
    .strictObject({
      /** Smallest group of identical quasi-identifiers an export may contain. */
      k: z.number().int().min(2).max(1_000_000).default(10),
      fields: z.record(z.string().regex(/^[A-Za-z0-9._:-]{1,128}$/), FieldRuleSchema).default({
        ...DEFAULT_EXPORT_FIELDS,
      }),
    })
    .default({ k: 10, fields: { ...DEFAULT_EXPORT_FIELDS } }),
});

const BackupsSchema = z.strictObject({
  /** Records per content file of a backup. */
  chunkRecords: z.number().int().min(1).max(1_000_000).default(10_000),
  /** Scheduled backups run by `domicile up`; none by default. */
  schedule: z
    .array(
      z.strictObject({
        jurisdiction: JURISDICTION_ID,
        to: REGION_ID,
        every: DURATION,
        /** Backups of this jurisdiction kept in that region; older ones are deleted. */
        keep: z.number().int().min(1).max(10_000).default(7),
      }),
    )
    .default([]),
});

const ConfigSchema = z.strictObject({
  version: z.literal(1),
  regions: z.array(RegionSchema).min(1),
  jurisdictions: z.array(JurisdictionSchema).min(1),
  classes: z.array(ClassSchema).min(1),
  server: ServerSchema.default({ port: 8080, host: '127.0.0.1', bodyLimit: 1024 * 1024 }),
  auth: AuthSchema.default({
    issuer: 'domicile.local',
    audience: 'domicile',
    issuers: [],
    tokenCacheSize: 10_000,
  }),
  audit: AuditSchema.default({ integrateIntervalMs: 1000, witnesses: [] }),
  transfers: TransfersSchema.default({
    summaryIntervalMs: 60_000,
    bulkThresholds: { US: { ...US_BULK_THRESHOLDS } },
    exports: { k: 10, fields: { ...DEFAULT_EXPORT_FIELDS } },
  }),
  backups: BackupsSchema.default({ chunkRecords: 10_000, schedule: [] }),
  access: AccessSchema.default({ lockbox: LOCKBOX_DEFAULTS }),
});

type RawConfig = z.infer<typeof ConfigSchema>;

/** A configured region. */
export interface Region {
  readonly id: RegionId;
  readonly country: string;
  readonly provider: string;
  readonly status: 'active' | 'draining' | 'retired';
  readonly store: string;
  /** The node's internal API (`https://host:port`) when it runs as its own process. */
  readonly endpoint?: string | undefined;
}

/** A configured jurisdiction: where its data may live and who looks after it. */
export interface Jurisdiction {
  readonly id: JurisdictionId;
  readonly countries: readonly string[];
  readonly home: RegionId;
  readonly failover: readonly RegionId[];
  readonly legacy: readonly RegionId[];
  readonly backup: readonly RegionId[];
  readonly steward: string;
  readonly restrictedCountries: readonly string[];
  readonly logOrigin: string;
}

/** A configured data class and its residency rule. */
export interface DataClass {
  readonly id: ClassId;
  readonly residency: ResidencyRule;
}

/** The validated configuration, with lookup maps. */
export interface Config {
  readonly file: string;
  /** SHA-256 (hex) of the file's text: which configuration was in force, for the audit log. */
  readonly sha256: string;
  readonly regions: ReadonlyMap<RegionId, Region>;
  readonly jurisdictions: ReadonlyMap<JurisdictionId, Jurisdiction>;
  readonly classes: ReadonlyMap<ClassId, DataClass>;
  readonly server: { readonly port: number; readonly host: string; readonly bodyLimit: number };
  readonly auth: AuthConfig;
  readonly access: AccessConfig;
  readonly transfers: TransfersConfig;
  readonly backups: BackupsConfig;
  readonly audit: {
    readonly integrateIntervalMs: number;
    readonly witnesses: readonly { readonly url: string; readonly key: string }[];
  };
  /**
   * `<region>/<jurisdiction>` pairs whose legacy copy was wiped (`domicile wipe`): the region is
   * retired for that jurisdiction and may no longer hold or serve its data. Absent: none.
   */
  readonly retiredHoldings?: ReadonlySet<string>;
}

/** The key of a (region, jurisdiction) pair in `Config.retiredHoldings`. */
export function holdingKey(region: RegionId, jurisdiction: JurisdictionId): string {
  return `${region}/${jurisdiction}`;
}

/** The configuration with regions retired for jurisdictions (as persisted by `domicile wipe`). */
export function withRetiredHoldings(
  config: Config,
  retired: Iterable<{ readonly region: RegionId; readonly jurisdiction: JurisdictionId }>,
): Config {
  const keys = new Set(config.retiredHoldings ?? []);
  for (const r of retired) keys.add(holdingKey(r.region, r.jurisdiction));
  return { ...config, retiredHoldings: keys };
}

/** Transfers: replication summaries, bulk thresholds, exports. */
export interface TransfersConfig {
  readonly summaryIntervalMs: number;
  readonly bulkThresholds: Readonly<Record<string, Partial<Record<DataCategory, number>>>>;
  readonly exports: { readonly k: number; readonly fields: Readonly<Record<string, ExportFieldRule>> };
}

/** Backups: content file size and the schedule of `domicile up` (`every` in seconds). */
export interface BackupsConfig {
  readonly chunkRecords: number;
  readonly schedule: readonly {
    readonly jurisdiction: string;
    readonly to: string;
    readonly every: number;
    readonly keep: number;
  }[];
}

/** Claim names of the principal attributes. */
export interface ClaimNames {
  readonly id: string;
  readonly type: string;
  readonly department: string;
  readonly roles: string;
  readonly country: string;
  readonly mfa: string;
  readonly jurisdiction: string;
}

/** A static public key of a trusted issuer. */
export interface IssuerKeyConfig {
  readonly alg: TokenAlgorithm;
  readonly kid?: string | undefined;
  readonly pem?: string | undefined;
  readonly jwk?: Readonly<Record<string, unknown>> | undefined;
}

/** A trusted token issuer besides the deployment's own. */
export interface IssuerConfig {
  readonly issuer: string;
  readonly audience: string;
  readonly keys?: readonly IssuerKeyConfig[] | undefined;
  readonly jwksUrl?: string | undefined;
  readonly algorithms?: readonly TokenAlgorithm[] | undefined;
  readonly claims: ClaimNames;
  readonly defaultType?: 'employee' | 'service' | undefined;
}

/** Who may present tokens. */
export interface AuthConfig {
  /** The deployment's own issuer (EdDSA key from `domicile init`). */
  readonly issuer: string;
  readonly audience: string;
  readonly issuers: readonly IssuerConfig[];
  readonly tokenCacheSize: number;
}

/** Access control: the policy folder and the lockbox's limits (durations in seconds). */
export interface AccessConfig {
  readonly policies?: string | undefined;
  readonly lockbox: {
    readonly maxDuration: number;
    readonly pendingExpiry: number;
    readonly breakGlassMaxDuration: number;
    readonly reviewWithin: number;
    readonly sweepIntervalMs: number;
  };
}

/** One problem in a configuration file. */
export type ConfigIssue = YamlIssue;

/**
 * Parses and validates `domicile.yaml`.
 *
 * @throws DomicileError `DOMICILE_ERR_CONFIG` whose message lists every problem as
 *   `file:line: path: reason`.
 * @example
 * const config = parseConfig(readFileSync('domicile.yaml', 'utf8'), 'domicile.yaml');
 */
export function parseConfig(text: string, file: string): Config {
  const yaml = parseYamlFile(text);
  const fail = (issues: readonly ConfigIssue[]): never => {
    throw yamlIssuesError('configuration', file, issues);
  };
  if (yaml.syntaxIssues.length > 0) fail(yaml.syntaxIssues);
  const parsed = ConfigSchema.safeParse(yaml.doc.toJS());
  if (!parsed.success) {
    fail(parsed.error.issues.map((i) => yaml.issueAt(i.path, i.message)));
    throw new Error('unreachable');
  }
  const issues = checkTopology(parsed.data, yaml.issueAt);
  if (issues.length > 0) fail(issues);
  return buildConfig(parsed.data, file, createHash('sha256').update(text).digest('hex'));
}

function checkTopology(raw: RawConfig, issueAt: YamlFile['issueAt']): ConfigIssue[] {
  const issues: ConfigIssue[] = [];
  const add = (path: readonly PropertyKey[], reason: string): void => {
    issues.push(issueAt(path, reason));
  };
  const regions = new Map<string, RawConfig['regions'][number]>();
  raw.regions.forEach((r, i) => {
    if (regions.has(r.id)) add(['regions', i, 'id'], `duplicate region \`${r.id}\``);
    regions.set(r.id, r);
  });
  const jurisdictionIds = new Set<string>();
  raw.jurisdictions.forEach((j, i) => {
    if (jurisdictionIds.has(j.id)) add(['jurisdictions', i, 'id'], `duplicate jurisdiction \`${j.id}\``);
    jurisdictionIds.add(j.id);
    const inJurisdiction = (field: 'home' | 'failover' | 'legacy', id: string, path: PropertyKey[]): void => {
      const region = regions.get(id);
      if (!region) {
        add(path, `unknown region \`${id}\``);
      } else if (!j.countries.includes(region.country)) {
        add(
          path,
          `${field} region \`${id}\` is in country \`${region.country}\`, which is not a country of jurisdiction \`${j.id}\``,
        );
      }
    };
    inJurisdiction('home', j.home, ['jurisdictions', i, 'home']);
    const home = regions.get(j.home);
    if (home && home.status !== 'active') {
      add(['jurisdictions', i, 'home'], `home region \`${j.home}\` must be active, not ${home.status}`);
    }
    j.failover.forEach((id, k) => {
      inJurisdiction('failover', id, ['jurisdictions', i, 'failover', k]);
      if (id === j.home)
        add(['jurisdictions', i, 'failover', k], `failover region \`${id}\` is the home region`);
    });
    j.legacy.forEach((id, k) => {
      inJurisdiction('legacy', id, ['jurisdictions', i, 'legacy', k]);
    });
    j.backup.forEach((id, k) => {
      if (!regions.has(id)) add(['jurisdictions', i, 'backup', k], `unknown region \`${id}\``);
    });
    j.restrictedCountries.forEach((c, k) => {
      if (j.countries.includes(c)) {
        add(
          ['jurisdictions', i, 'restrictedCountries', k],
          `country \`${c}\` is both a country and restricted`,
        );
      }
    });
  });
  const issuers = new Set([raw.auth.issuer]);
  raw.auth.issuers.forEach((i, k) => {
    if (issuers.has(i.issuer)) {
      add(
        ['auth', 'issuers', k, 'issuer'],
        i.issuer === raw.auth.issuer
          ? `issuer \`${i.issuer}\` is the deployment's own issuer`
          : `duplicate issuer \`${i.issuer}\``,
      );
    }
    issuers.add(i.issuer);
  });
  const lockbox = raw.access.lockbox;
  if (lockbox.breakGlassMaxDuration > lockbox.maxDuration) {
    add(['access', 'lockbox', 'breakGlassMaxDuration'], 'must not exceed `maxDuration`');
  }
  raw.backups.schedule.forEach((b, i) => {
    const j = raw.jurisdictions.find((x) => x.id === b.jurisdiction);
    if (!j) add(['backups', 'schedule', i, 'jurisdiction'], `unknown jurisdiction \`${b.jurisdiction}\``);
    else if (!j.backup.includes(b.to) && !j.countries.includes(regions.get(b.to)?.country ?? '')) {
      add(['backups', 'schedule', i, 'to'], `region \`${b.to}\` is not a backup region of \`${j.id}\``);
    }
  });
  for (const id of Object.keys(raw.transfers.bulkThresholds)) {
    if (!jurisdictionIds.has(id)) add(['transfers', 'bulkThresholds', id], `unknown jurisdiction \`${id}\``);
  }
  const classIds = new Set(raw.classes.map((c) => c.id));
  for (const required of ['protected', 'interoperable', 'deidentified']) {
    if (!classIds.has(required)) add(['classes'], `missing data class \`${required}\``);
  }
  raw.classes.forEach((c, i) => {
    if (c.id === 'protected' && c.residency !== 'jurisdiction') {
      add(['classes', i, 'residency'], 'class `protected` must have residency `jurisdiction`');
    }
  });
  return issues;
}

function buildConfig(raw: RawConfig, file: string, sha256: string): Config {
  const regions = new Map<RegionId, Region>();
  for (const r of raw.regions) regions.set(r.id as RegionId, { ...r, id: r.id as RegionId });
  const jurisdictions = new Map<JurisdictionId, Jurisdiction>();
  for (const j of raw.jurisdictions) {
    jurisdictions.set(j.id as JurisdictionId, {
      id: j.id as JurisdictionId,
      countries: j.countries,
      home: j.home as RegionId,
      failover: j.failover as RegionId[],
      legacy: j.legacy as RegionId[],
      backup: j.backup as RegionId[],
      steward: j.steward,
      restrictedCountries: j.restrictedCountries,
      logOrigin: j.logOrigin ?? `domicile.local/log/${j.id}`,
    });
  }
  const classes = new Map<ClassId, DataClass>();
  for (const c of raw.classes) classes.set(c.id as ClassId, { id: c.id as ClassId, residency: c.residency });
  return {
    file,
    sha256,
    regions,
    jurisdictions,
    classes,
    server: raw.server,
    auth: raw.auth,
    access: raw.access,
    audit: raw.audit,
    transfers: raw.transfers,
    backups: raw.backups,
  };
}
