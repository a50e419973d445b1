/**
 * Reading a policy folder: `schema.cedarschema` plus every `*.cedar` file, in name order.
 */
import { readdir, readFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type LoadPolicySetOptions, loadPolicySet, type PolicyEngine } from './engine.js';

/** The `policies/` folder shipped with Domicile. */
export const SHIPPED_POLICY_DIRECTORY = shippedDirectory();

function shippedDirectory(): string {
  const here = dirname(fileURLToPath(import.meta.url)); // <root>/src/policy or <root>/dist/src/policy
  const up = basename(dirname(dirname(here))) === 'dist' ? ['..', '..', '..'] : ['..', '..'];
  return join(here, ...up, 'policies');
}

/**
 * Reads `schema.cedarschema` and the `*.cedar` files of a folder, as {@link loadPolicySet} options.
 * File names in the options are relative to the folder.
 */
export async function readPolicyDirectory(directory: string): Promise<LoadPolicySetOptions> {
  const names = (await readdir(directory)).filter((n) => n.endsWith('.cedar')).sort();
  const schemaText = await readFile(join(directory, 'schema.cedarschema'), 'utf8');
  const policies = await Promise.all(
    names.map(async (file) => ({ file, text: await readFile(join(directory, file), 'utf8') })),
  );
  return { schemaText, policies };
}

/** Loads the shipped policies (`policies/` at the repository root). */
export async function loadShippedPolicySet(
  directory: string = SHIPPED_POLICY_DIRECTORY,
): Promise<PolicyEngine> {
  return loadPolicySet(await readPolicyDirectory(directory));
}
