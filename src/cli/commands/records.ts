/** `domicile records put|get|list|delete`: a subject's records, through the HTTP API. */
import type { Command } from 'commander';
import { DomicileError } from '../../domain/errors.js';
import { action, callApi, clientOptions, globalOptions, output } from '../common.js';

const path = (subjectId: string, key?: string): string =>
  `/v1/subjects/${encodeURIComponent(subjectId)}/records${key === undefined ? '' : `/${encodeURIComponent(key)}`}`;

interface Meta {
  subjectId: string;
  key: string;
  class: string;
  version: number;
  region: string;
}

export function register(program: Command): void {
  const records = program.command('records').description('write, read and list a subject’s records');
  records
    .command('put <subjectId> <key> <json>')
    .description('write a record; <json> is the value as JSON')
    .option('--class <class>', 'data class', 'protected')
    .action(
      action(
        async (subjectId: string, key: string, json: string, opts: { class: string }, command: Command) => {
          let value: unknown;
          try {
            value = JSON.parse(json);
          } catch (cause) {
            throw new DomicileError('DOMICILE_ERR_USAGE', 'value is not valid JSON', { cause });
          }
          const result = (await callApi(clientOptions(command), 'PUT', path(subjectId, key), {
            class: opts.class,
            value,
          })) as Meta;
          output(
            globalOptions(command),
            result,
            () => `stored ${result.key} v${result.version} (${result.class}) in ${result.region}`,
          );
        },
      ),
    );
  records
    .command('get <subjectId> <key>')
    .description('read a record')
    .action(
      action(async (subjectId: string, key: string, _opts: unknown, command: Command) => {
        const result = (await callApi(clientOptions(command), 'GET', path(subjectId, key))) as Meta & {
          value: unknown;
        };
        output(globalOptions(command), result, () => JSON.stringify(result.value, null, 2));
      }),
    );
  records
    .command('list <subjectId>')
    .description('list a subject’s record keys and classes')
    .action(
      action(async (subjectId: string, _opts: unknown, command: Command) => {
        const result = (await callApi(clientOptions(command), 'GET', path(subjectId))) as {
          region: string;
          records: { key: string; class: string; version: number; updatedAt: string }[];
        };
        output(globalOptions(command), result, () =>
          [
            `served by ${result.region}`,
            ...result.records.map((r) => `${r.key}\t${r.class}\tv${r.version}\t${r.updatedAt}`),
          ].join('\n'),
        );
      }),
    );
  records
    .command('delete <subjectId> <key>')
    .description('delete a record')
    .action(
      action(async (subjectId: string, key: string, _opts: unknown, command: Command) => {
        await callApi(clientOptions(command), 'DELETE', path(subjectId, key));
        output(globalOptions(command), { deleted: true }, () => `deleted ${key}`);
      }),
    );
}
