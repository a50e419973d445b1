/**
 * `domicile audit verify|prove|verify-proof`: what an independent auditor runs. It needs the
 * log's URL and verifier key only — no access to the operator's database — and keeps the last
 * checkpoint it trusted, so a rollback or fork between two audits is caught.
 */
import { createHash } from 'node:crypto';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { Command } from 'commander';
import { DomicileError } from '../../domain/errors.js';
import { decodeLogEntry } from '../../services/audit/entry.js';
import { decodeBase64 } from '../../tlog/encoding.js';
import { TlogError } from '../../tlog/errors.js';
import { parseVerifierKey } from '../../tlog/note.js';
import { formatTlogProof, parseTlogProof, verifyTlogProof } from '../../tlog/proof-file.js';
import { decodeEntryBundle, entryBundlePath } from '../../tlog/tiles.js';
import { verifyLog } from '../../tlog/verify-log.js';
import { action, globalOptions, output } from '../common.js';

const collect = (value: string, previous: string[]): string[] => [...previous, value];

async function fetchBytes(url: string): Promise<Uint8Array | undefined> {
  let response: Response;
  try {
    response = await fetch(url);
  } catch (cause) {
    throw new DomicileError('DOMICILE_ERR_REGION_UNAVAILABLE', `cannot reach ${url}`, { cause });
  }
  if (response.status === 404) return undefined;
  if (!response.ok) {
    // the log answers but cannot produce what it must: for an auditor that is a failed verification
    throw new TlogError('DOMICILE_ERR_TLOG_NOT_FOUND', `${url}: the log answered HTTP ${response.status}`);
  }
  return new Uint8Array(await response.arrayBuffer());
}

function stateFile(dir: string, origin: string): string {
  return join(resolve(dir), `${createHash('sha256').update(origin).digest('hex').slice(0, 32)}.checkpoint`);
}

export function register(program: Command): void {
  const audit = program.command('audit').description('verify a transparency log as an independent auditor');
  audit
    .command('verify')
    .description(
      'fetch the checkpoint, check signatures, consistency with the last trusted checkpoint, every tile and entry',
    )
    .requiredOption('--url <prefix>', 'the log prefix, e.g. http://127.0.0.1:8080/v1/logs/US')
    .requiredOption('--key <vkey>', 'the log verifier key (printed by `domicile init`)')
    .option(
      '--witness <vkey>',
      'a witness verifier key whose cosignature is required (repeatable)',
      collect,
      [],
    )
    .option('--quorum <n>', 'how many of the witnesses must have cosigned (default: all given)')
    .option('--state <dir>', 'folder keeping the last trusted checkpoint; without it nothing is remembered')
    .option('--full', 'recheck every entry, not only those after the trusted checkpoint', false)
    .action(
      action(
        async (
          opts: {
            url: string;
            key: string;
            witness: string[];
            quorum?: string;
            state?: string;
            full: boolean;
          },
          command: Command,
        ) => {
          const prefix = opts.url.replace(/\/$/, '');
          const origin = parseVerifierKey(opts.key).name;
          const file = opts.state === undefined ? undefined : stateFile(opts.state, origin);
          const trusted =
            file === undefined ? undefined : await readFile(file, 'utf8').catch(() => undefined);
          const started = performance.now();
          const result = await verifyLog({
            fetch: (path) => fetchBytes(`${prefix}/${path}`),
            logKey: opts.key,
            witnessKeys: opts.witness,
            witnessQuorum: opts.quorum === undefined ? opts.witness.length : Number(opts.quorum),
            ...(trusted === undefined ? {} : { trusted }),
            incremental: !opts.full,
            // every entry must be a well-formed, canonical Domicile entry
            parseEntry: (entry) => {
              decodeLogEntry(entry);
            },
          });
          if (file !== undefined && opts.state !== undefined) {
            await mkdir(resolve(opts.state), { recursive: true });
            await writeFile(`${file}.tmp`, result.signedCheckpoint);
            await rename(`${file}.tmp`, file);
          }
          const size = Number(result.checkpoint.size);
          const root = Buffer.from(result.checkpoint.root).toString('base64');
          const seconds = (performance.now() - started) / 1000;
          output(
            globalOptions(command),
            {
              ok: true,
              origin,
              size,
              root,
              entriesVerified: result.entriesVerified,
              verifiedFrom: result.verifiedFrom,
              cosignatures: result.cosignatures.length,
              trustedSize: trusted === undefined ? null : Number(trusted.split('\n')[1]),
              seconds,
            },
            () =>
              [
                `log ${origin}: consistent`,
                `  size ${size}, root ${root}`,
                `  entries verified: ${result.entriesVerified} (from index ${result.verifiedFrom}) in ${seconds.toFixed(2)} s`,
                `  witness cosignatures: ${result.cosignatures.length}`,
                trusted === undefined
                  ? '  no earlier checkpoint trusted'
                  : `  consistent with the trusted checkpoint of size ${trusted.split('\n')[1]}`,
              ].join('\n'),
          );
        },
      ),
    );

  audit
    .command('prove')
    .description('write a portable C2SP tlog-proof of entry N (the entry itself in its `extra` line)')
    .requiredOption('--url <prefix>', 'the log prefix, e.g. http://127.0.0.1:8080/v1/logs/US')
    .requiredOption('--index <n>', 'entry index')
    .option('--out <file>', 'output file (default: entry-<n>.tlog-proof)')
    .action(
      action(async (opts: { url: string; index: string; out?: string }, command: Command) => {
        const prefix = opts.url.replace(/\/$/, '');
        if (!/^\d{1,15}$/.test(opts.index))
          throw new DomicileError('DOMICILE_ERR_USAGE', `invalid --index \`${opts.index}\``);
        const index = Number(opts.index);
        const checkpoint = new TextDecoder().decode(await fetchBytes(`${prefix}/checkpoint`));
        const size = Number(checkpoint.split('\n')[1]);
        if (!(index < size))
          throw new DomicileError(
            'DOMICILE_ERR_NOT_FOUND',
            `entry ${index} is not in the tree of size ${size}`,
          );
        const proofJson = await fetchBytes(`${prefix}/proof/inclusion?index=${index}&size=${size}`);
        const proof = (JSON.parse(new TextDecoder().decode(proofJson)) as { proof: string[] }).proof;
        const bundleIndex = Math.floor(index / 256);
        const width = Math.min(256, size - bundleIndex * 256);
        const bundle = await fetchBytes(`${prefix}/${entryBundlePath(bundleIndex, width)}`);
        if (!bundle)
          throw new DomicileError('DOMICILE_ERR_NOT_FOUND', `entry bundle of entry ${index} not found`);
        const entry = decodeEntryBundle(bundle)[index % 256];
        if (!entry) throw new DomicileError('DOMICILE_ERR_NOT_FOUND', `entry ${index} not in its bundle`);
        const text = formatTlogProof({
          extra: entry,
          index: BigInt(index),
          proof: proof.map((p) => decodeBase64(p, 'DOMICILE_ERR_TLOG_PROOF_MALFORMED', 'proof hash')),
          checkpoint,
        });
        const out = resolve(opts.out ?? `entry-${index}.tlog-proof`);
        await writeFile(out, text);
        output(
          globalOptions(command),
          { file: out, index, size },
          () => `wrote ${out} (entry ${index} of ${size})`,
        );
      }),
    );

  audit
    .command('verify-proof <file>')
    .description('verify a .tlog-proof offline: log signature, witness cosignatures and the inclusion path')
    .requiredOption('--key <vkey>', 'the log verifier key')
    .option(
      '--witness <vkey>',
      'a witness verifier key whose cosignature is required (repeatable)',
      collect,
      [],
    )
    .action(
      action(async (file: string, opts: { key: string; witness: string[] }, command: Command) => {
        const text = await readFile(resolve(file));
        const verified = verifyTlogProof(text, {
          logKey: opts.key,
          witnessKeys: opts.witness,
          witnessQuorum: opts.witness.length,
          entry: entryOf(text),
        });
        const entry = verified.extra === undefined ? undefined : decodeLogEntry(verified.extra);
        output(
          globalOptions(command),
          { ok: true, index: Number(verified.index), size: Number(verified.checkpoint.size), entry },
          () =>
            [
              `proof verified: entry ${verified.index} is in ${verified.checkpoint.origin} at size ${verified.checkpoint.size}`,
              ...(entry ? [`  ${entry.time} ${entry.type} ${entry.decision}: ${entry.reason}`] : []),
            ].join('\n'),
        );
      }),
    );
}

/** The entry a proof file carries in its `extra` line, which the verifier hashes as the leaf. */
function entryOf(text: Uint8Array): Uint8Array {
  const parsed = parseTlogProof(text);
  if (parsed.extra === undefined) {
    throw new DomicileError('DOMICILE_ERR_BAD_REQUEST', 'proof file has no `extra` line carrying the entry');
  }
  return parsed.extra;
}
