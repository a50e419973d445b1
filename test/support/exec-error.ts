/**
 * The text of a failed child process for an error message. No Vitest here: the benchmarks import
 * `postgres-server.ts`, which uses it.
 */

/**
 * An error's message followed by the child's stderr and stdout, when `execFile` attached them and
 * the message does not already hold them.
 *
 * @example
 * try { await run('apt-get', args); } catch (err) { throw new Error(`apt-get failed: ${describeExecError(err)}`, { cause: err }); }
 */
export function describeExecError(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  const stderr = 'stderr' in err && typeof err.stderr === 'string' ? err.stderr.trim() : '';
  const stdout = 'stdout' in err && typeof err.stdout === 'string' ? err.stdout.trim() : '';
  // execFile's message already holds the command and its stderr
  return [err.message, stderr, stdout]
    .filter((s) => s !== '' && (s === err.message || !err.message.includes(s)))
    .join('\n');
}
