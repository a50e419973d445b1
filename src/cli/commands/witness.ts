/** `domicile witness keygen|serve`: an independent witness that cosigns consistent checkpoints. */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import type { Command } from 'commander';
import { buildWitnessApp } from '../../server/witness-app.js';
import { cosignerVerifierKey, newCosignatureSigner } from '../../tlog/cosignature.js';
import { generateEd25519Key, parseVerifierKey } from '../../tlog/note.js';
import { FileWitnessStateStore, Witness } from '../../tlog/witness.js';
import { action, globalOptions, output } from '../common.js';

const collect = (value: string, previous: string[]): string[] => [...previous, value];

export function register(program: Command): void {
  const witness = program.command('witness').description('run an independent witness (C2SP tlog-witness)');
  witness
    .command('keygen')
    .description('create a witness key; prints the verifier key to give to log operators and auditors')
    .requiredOption('--name <name>', 'witness name, a schema-less URL such as witness.example/w1')
    .requiredOption('--out <file>', 'where to write the private key (mode 0600)')
    .action(
      action(async (opts: { name: string; out: string }, command: Command) => {
        const key = generateEd25519Key(opts.name);
        await writeFile(resolve(opts.out), `${key.privateKey}\n`, { mode: 0o600, flag: 'wx' });
        const vkey = cosignerVerifierKey(key.privateKey);
        output(globalOptions(command), { verifierKey: vkey }, () => vkey);
      }),
    );
  witness
    .command('serve')
    .description('serve POST /add-checkpoint for the given logs, keeping its state in --state')
    .requiredOption('--key <file>', 'the witness private key file (from `witness keygen`)')
    .requiredOption('--log <vkey>', 'verifier key of a log to witness (repeatable)', collect, [])
    .option('--state <dir>', 'folder for the witness state', 'witness-state')
    .option('--port <port>', 'port', '8090')
    .option('--host <host>', 'address', '127.0.0.1')
    .action(
      action(
        async (
          opts: { key: string; log: string[]; state: string; port: string; host: string },
          command: Command,
        ) => {
          const skey = (await readFile(resolve(opts.key), 'utf8')).trim();
          const signer = newCosignatureSigner(skey);
          await mkdir(resolve(opts.state), { recursive: true });
          const logs = opts.log.map((vkey) => ({
            origin: parseVerifierKey(vkey).name,
            verifierKeys: [vkey],
          }));
          const app = buildWitnessApp(
            new Witness({ signer, logs, store: new FileWitnessStateStore(resolve(opts.state)) }),
          );
          const url = await app.listen({ port: Number(opts.port), host: opts.host });
          output(
            globalOptions(command),
            { url, verifierKey: signer.verifierKey, logs: logs.map((l) => l.origin) },
            () =>
              [
                `witness ${signer.verifierKey}`,
                `  listening at ${url}/add-checkpoint`,
                ...logs.map((l) => `  witnessing ${l.origin}`),
              ].join('\n'),
          );
          const stop = async (): Promise<void> => {
            await app.close();
            process.exit(0);
          };
          process.once('SIGINT', () => void stop());
          process.once('SIGTERM', () => void stop());
        },
      ),
    );
}
