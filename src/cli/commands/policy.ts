/**
 * `domicile policy validate|test|diff|propose|approve|list`: the access policy as a protocol.
 * `validate` and `test` work offline on files; the others talk to the gateway with the caller's
 * own token, because every proposal and approval is a decision on the record.
 */
import { readFile, stat } from 'node:fs/promises';
import { basename, dirname, resolve } from 'node:path';
import type { Command } from 'commander';
import { parse as parseYaml } from 'yaml';
import type { Config } from '../../domain/config.js';
import { DomicileError } from '../../domain/errors.js';
import { SHIPPED_POLICY_DIRECTORY } from '../../policy/files.js';
import { loadConfigFile, policyDirectoryOf, readPolicyFolder } from '../../server/deployment.js';
import { parsePolicyCases, runPolicyCases } from '../../services/access/policy-cases.js';
import {
  loadPolicyFiles,
  type PolicyDiff,
  type PolicyFiles,
  type PolicyProposalView,
} from '../../services/access/policy-governance.js';
import { action, callApi, clientOptions, EXIT, globalOptions, output } from '../common.js';

/**
 * A policy folder, or one `.cedar` file checked against the `schema.cedarschema` next to it
 * (else the shipped schema).
 */
async function readPolicyPath(path: string): Promise<PolicyFiles> {
  let isDirectory: boolean;
  try {
    isDirectory = (await stat(path)).isDirectory();
  } catch (cause) {
    throw new DomicileError('DOMICILE_ERR_USAGE', `${path}: no such file or folder`, { cause });
  }
  if (isDirectory) return readPolicyFolder(path);
  const text = await readFile(path, 'utf8');
  let schemaText: string;
  try {
    schemaText = await readFile(resolve(dirname(path), 'schema.cedarschema'), 'utf8');
  } catch {
    schemaText = await readFile(resolve(SHIPPED_POLICY_DIRECTORY, 'schema.cedarschema'), 'utf8');
  }
  return { schemaText, policies: [{ file: basename(path), text }] };
}

const toBody = (files: PolicyFiles) => ({ schema: files.schemaText, policies: files.policies });

/** Reads a policy folder (or file) and posts it to the gateway with the caller's token. */
async function postPolicyPath(command: Command, path: string, dir: string): Promise<unknown> {
  const files = await readPolicyPath(resolve(dir));
  return callApi(clientOptions(command), 'POST', path, toBody(files));
}

function describeProposal(p: PolicyProposalView): string {
  const lines = [
    `policy set ${p.hash}: ${p.status}`,
    `  affected: ${p.affected.join(', ')}`,
    `  approvals: ${p.approvals.length === 0 ? 'none' : p.approvals.map((a) => `${a.principalId} (${a.capacity === 'auditor' ? 'auditor' : `steward of ${a.capacity.stewardOf.join(', ')}`})`).join(', ')}`,
  ];
  if (p.status === 'proposed') lines.push(`  missing: ${p.missing.join(', ')}`);
  return lines.join('\n');
}

function describeDiff(d: PolicyDiff): string {
  return [
    `active   ${d.fromHash}`,
    `proposed ${d.toHash}`,
    ...d.added.map((id) => `+ ${id}`),
    ...d.removed.map((id) => `- ${id}`),
    ...d.changed.map((id) => `~ ${id}`),
    ...(d.schemaChanged ? ['~ schema'] : []),
    ...(d.fromHash === d.toHash ? ['no change'] : []),
  ].join('\n');
}

async function configOrUndefined(file: string): Promise<Config | undefined> {
  try {
    return await loadConfigFile(file);
  } catch {
    return undefined;
  }
}

export function register(program: Command): void {
  const policy = program
    .command('policy')
    .description('validate, test, compare, propose and approve policy sets');
  policy
    .command('validate <path>')
    .description('parse and validate a policy folder or a .cedar file against its schema (exit 3 on error)')
    .action(
      action(async (path: string, _opts: unknown, command: Command) => {
        const engine = loadPolicyFiles(await readPolicyPath(resolve(path)));
        const result = {
          valid: true,
          policyHash: engine.policyHash,
          policies: engine.policies.map((p) => p.id),
        };
        output(
          globalOptions(command),
          result,
          () => `valid: ${result.policies.length} policies, policy hash ${result.policyHash}`,
        );
      }),
    );
  policy
    .command('test <file>')
    .description('run test cases (JSON or YAML: request → expected decision); exit 2 on any mismatch')
    .option('--policies <dir>', 'policy folder (default: the file’s `policies`, else the configured folder)')
    .action(
      action(async (file: string, opts: { policies?: string }, command: Command) => {
        const options = globalOptions(command);
        const path = resolve(file);
        const text = await readFile(path, 'utf8').catch((cause: unknown) => {
          throw new DomicileError('DOMICILE_ERR_USAGE', `${file}: cannot read`, { cause });
        });
        let content: unknown;
        try {
          content = path.endsWith('.json') ? JSON.parse(text) : parseYaml(text);
        } catch (cause) {
          throw new DomicileError('DOMICILE_ERR_USAGE', `${file}: not valid JSON or YAML`, { cause });
        }
        const cases = parsePolicyCases(content, file);
        const config = await configOrUndefined(options.config);
        const directory =
          opts.policies !== undefined
            ? resolve(opts.policies)
            : cases.policies !== undefined
              ? resolve(dirname(path), cases.policies)
              : config
                ? policyDirectoryOf(config)
                : SHIPPED_POLICY_DIRECTORY;
        const engine = loadPolicyFiles(await readPolicyFolder(directory));
        const results = runPolicyCases(engine, cases.cases, config);
        const failed = results.filter((r) => !r.passed);
        output(
          options,
          {
            policyHash: engine.policyHash,
            passed: results.length - failed.length,
            failed: failed.length,
            results,
          },
          () =>
            [
              ...results.map((r) => (r.passed ? `ok       ${r.name}` : `MISMATCH ${r.name}: ${r.mismatch}`)),
              `${results.length - failed.length} passed, ${failed.length} failed (policy hash ${engine.policyHash})`,
            ].join('\n'),
        );
        if (failed.length > 0) process.exitCode = EXIT.denied;
      }),
    );
  policy
    .command('diff <dir>')
    .description(
      'compare a policy folder with the active set: added, removed, changed policy ids, both hashes',
    )
    .action(
      action(async (dir: string, _opts: unknown, command: Command) => {
        const result = (await postPolicyPath(command, '/v1/policies/diff', dir)) as PolicyDiff;
        output(globalOptions(command), result, () => describeDiff(result));
      }),
    );
  policy
    .command('propose <dir>')
    .description(
      'stage a policy folder as a new set; it becomes active once the stewards and the auditor approve',
    )
    .action(
      action(async (dir: string, _opts: unknown, command: Command) => {
        const result = (await postPolicyPath(command, '/v1/policies/proposals', dir)) as PolicyProposalView;
        output(globalOptions(command), result, () =>
          [describeProposal(result), ...(result.diff ? [describeDiff(result.diff)] : [])].join('\n'),
        );
      }),
    );
  policy
    .command('approve <hash>')
    .description(
      'approve a proposed policy set with your own token (a steward of an affected jurisdiction or the auditor)',
    )
    .action(
      action(async (hash: string, _opts: unknown, command: Command) => {
        const result = (await callApi(
          clientOptions(command),
          'POST',
          `/v1/policies/proposals/${encodeURIComponent(hash)}/approve`,
        )) as PolicyProposalView;
        output(globalOptions(command), result, () => describeProposal(result));
      }),
    );
  policy
    .command('list')
    .description('list policy sets: proposed, active, superseded, with their approvals')
    .action(
      action(async (_opts: unknown, command: Command) => {
        const result = (await callApi(clientOptions(command), 'GET', '/v1/policies/proposals')) as {
          proposals: PolicyProposalView[];
        };
        output(globalOptions(command), result, () => result.proposals.map(describeProposal).join('\n'));
      }),
    );
}
