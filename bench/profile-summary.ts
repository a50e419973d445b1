/**
 * Summarises a V8 CPU profile (`node --cpu-prof`, e.g. from `npm run bench -- vault --cpu-prof
 * DIR`): the share of samples per source file or package, and the functions with the most self
 * time. `--last S` keeps only the last S seconds, so that start-up and set-up do not count when
 * the load ran at the end.
 *
 * `node dist/bench/profile-summary.js <file.cpuprofile> [--last S] [--top N]`
 */
import { readFileSync } from 'node:fs';
import { argValue } from './support.js';

interface ProfileNode {
  readonly id: number;
  readonly callFrame: { readonly functionName: string; readonly url: string; readonly lineNumber: number };
}

interface Profile {
  readonly nodes: readonly ProfileNode[];
  readonly samples: readonly number[];
  readonly timeDeltas: readonly number[];
  readonly endTime: number;
  readonly startTime: number;
}

/** `npm:<package>` for a dependency, the path below `dist/` for the project, else the V8 name. */
function sourceOf(frame: ProfileNode['callFrame']): string {
  const { url, functionName } = frame;
  const dependency = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (dependency) return `npm:${dependency[1]}`;
  if (url === '') return `(${functionName || 'native'})`.replace(/^\(\((.*)\)\)$/, '($1)');
  return url.replace(/^.*\/dist\//, '').replace(/^file:\/\//, '');
}

function top(counts: ReadonlyMap<string, number>, total: number, n: number): string[] {
  return [...counts]
    .sort((a, b) => b[1] - a[1])
    .slice(0, n)
    .map(([name, time]) => `${((100 * time) / total).toFixed(1).padStart(5)}%  ${name}`);
}

function summarise(profile: Profile, lastSeconds: number | undefined, n: number): void {
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const from = lastSeconds === undefined ? -Infinity : profile.endTime - lastSeconds * 1e6;
  const bySource = new Map<string, number>();
  const byFunction = new Map<string, number>();
  let total = 0;
  let time = profile.startTime;
  profile.samples.forEach((id, i) => {
    const delta = profile.timeDeltas[i] ?? 0;
    time += delta;
    const node = byId.get(id);
    if (time < from || node === undefined) return;
    total += delta;
    const source = sourceOf(node.callFrame);
    const fn = `${node.callFrame.functionName || '(anonymous)'}  ${source}:${node.callFrame.lineNumber + 1}`;
    bySource.set(source, (bySource.get(source) ?? 0) + delta);
    byFunction.set(fn, (byFunction.get(fn) ?? 0) + delta);
  });
  if (total === 0) throw new Error('no samples in that window');
  console.log(`${(total / 1e6).toFixed(2)} s of samples (idle included)\n\nby source:`);
  console.log(top(bySource, total, n).join('\n'));
  console.log('\nby function (self time):');
  console.log(top(byFunction, total, n).join('\n'));
}

const [file, ...args] = process.argv.slice(2);
if (file === undefined) {
  console.error('usage: profile-summary <file.cpuprofile> [--last SECONDS] [--top N]');
  process.exit(2);
}
const last = argValue(args, 'last');
summarise(
  JSON.parse(readFileSync(file, 'utf8')) as Profile,
  last === undefined ? undefined : Number(last),
  Number(argValue(args, 'top') ?? 30),
);
