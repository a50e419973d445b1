/**
 * Application-database sources of `domicile migrate` and `domicile wipe`: reading a mapping file
 * (`--from crm.mapping.yaml`) and opening the database it names with the matching adapter.
 */
import { readFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import type { Config } from '../domain/config.js';
import { DomicileError } from '../domain/errors.js';
import type { RegionId } from '../domain/ids.js';
import { mappingError, parseSourceMapping, type SourceMapping } from '../domain/source-mapping.js';
import type { ForeignDatabase } from '../store/foreign-database.js';
import { openPostgresForeignDatabase } from '../store/postgres/postgres-foreign-database.js';
import { openSqliteForeignDatabase } from '../store/sqlite/sqlite-foreign-database.js';

/** Whether `--from` names a mapping file rather than a region. */
export function isMappingFile(config: Config, from: string): boolean {
  return !config.regions.has(from as RegionId) && /\.ya?ml$/i.test(from);
}

/**
 * Reads and validates a mapping file against the configuration.
 *
 * @throws DomicileError `DOMICILE_ERR_CONFIG` when it cannot be read or is invalid.
 */
export async function loadMapping(file: string, config: Config): Promise<SourceMapping> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (cause) {
    throw new DomicileError('DOMICILE_ERR_CONFIG', `${file}: cannot read mapping file`, { cause });
  }
  return parseSourceMapping(text, file, config);
}

/**
 * Opens the database a mapping names: a SQLite file (relative to the mapping file) or a
 * PostgreSQL URL (given, or from the environment). `read` never writes; `wipe` may delete.
 */
export async function openMappedDatabase(
  mapping: SourceMapping,
  mode: 'read' | 'wipe',
  env: Readonly<Record<string, string | undefined>>,
): Promise<ForeignDatabase> {
  const { database } = mapping;
  switch (database.kind) {
    case 'sqlite':
      return openSqliteForeignDatabase({
        mapping,
        file: resolve(dirname(resolve(mapping.file)), database.file),
        mode,
      });
    case 'postgres':
      return openPostgresForeignDatabase({ mapping, url: database.url, mode });
    case 'postgres-env': {
      const url = env[database.variable];
      if (url === undefined || !/^postgres(ql)?:\/\//.test(url)) {
        throw mappingError(
          mapping,
          'database.postgresEnv',
          `environment variable \`${database.variable}\` does not hold a postgres:// URL`,
        );
      }
      return openPostgresForeignDatabase({ mapping, url, mode });
    }
  }
}
