/** `domicile subjects add|get|erase`: the subject directory, through the HTTP API. */
import type { Command } from 'commander';
import { action, callApi, clientOptions, globalOptions, output } from '../common.js';

export function register(program: Command): void {
  const subjects = program.command('subjects').description('register, show and erase subjects');
  subjects
    .command('add <subjectId>')
    .description('register a subject in its home jurisdiction')
    .requiredOption('--jurisdiction <id>', 'home jurisdiction, e.g. US')
    .action(
      action(async (subjectId: string, opts: { jurisdiction: string }, command: Command) => {
        const result = (await callApi(
          clientOptions(command),
          'PUT',
          `/v1/subjects/${encodeURIComponent(subjectId)}`,
          {
            jurisdiction: opts.jurisdiction,
          },
        )) as { subjectId: string; jurisdiction: string };
        output(
          globalOptions(command),
          result,
          () => `subject ${result.subjectId} lives in ${result.jurisdiction}`,
        );
      }),
    );
  subjects
    .command('get <subjectId>')
    .description('show where a subject lives')
    .action(
      action(async (subjectId: string, _opts: unknown, command: Command) => {
        const result = (await callApi(
          clientOptions(command),
          'GET',
          `/v1/subjects/${encodeURIComponent(subjectId)}`,
        )) as {
          subjectId: string;
          jurisdiction: string;
          homeRegion: string;
          records: number;
        };
        output(
          globalOptions(command),
          result,
          () =>
            `subject ${result.subjectId}: jurisdiction ${result.jurisdiction}, home ${result.homeRegion}, ${result.records} records`,
        );
      }),
    );
  subjects
    .command('relocate <subjectId>')
    .description('move a subject to another jurisdiction: re-encrypted there, erased here')
    .requiredOption('--to <jurisdiction>', 'the new home jurisdiction, e.g. EU')
    .action(
      action(async (subjectId: string, opts: { to: string }, command: Command) => {
        const result = (await callApi(
          clientOptions(command),
          'POST',
          `/v1/subjects/${encodeURIComponent(subjectId)}/relocate`,
          { jurisdiction: opts.to },
        )) as { subjectId: string; from: string; to: string; records: number; region: string };
        output(
          globalOptions(command),
          result,
          () =>
            `relocated ${result.subjectId} from ${result.from} to ${result.to} (${result.region}): ${result.records} records`,
        );
      }),
    );
  subjects
    .command('erase <subjectId>')
    .description('erase a subject everywhere: destroy its key and delete its records in every region')
    .action(
      action(async (subjectId: string, _opts: unknown, command: Command) => {
        const result = (await callApi(
          clientOptions(command),
          'DELETE',
          `/v1/subjects/${encodeURIComponent(subjectId)}`,
        )) as {
          subjectId: string;
          erasedAt: string;
          records: number;
        };
        output(
          globalOptions(command),
          result,
          () => `erased ${result.subjectId} at ${result.erasedAt}: ${result.records} records`,
        );
      }),
    );
}
