/**
 * Benchmark entry point: `npm run bench -- <name> [options]`, where <name> is a file
 * `bench/<name>.ts` exporting `run(args: string[]): Promise<void>`. Every benchmark measures a
 * baseline in the same invocation and prints ratios, because the machine is shared and noisy.
 */
import { availableParallelism, loadavg } from 'node:os';

const names = ['vault', 'tlog', 'policy', 'migrate'] as const;

/** How busy the machine was: a ratio measured under load from other processes reads differently. */
function machineLoad(): string {
  const [one, five] = loadavg().map((l) => l.toFixed(2));
  return `${availableParallelism()} cores, load average ${one} (1 min), ${five} (5 min)`;
}

async function main(): Promise<void> {
  const [name, ...args] = process.argv.slice(2);
  const selected = name ? [name] : [...names];
  for (const n of selected) {
    if (!(names as readonly string[]).includes(n)) {
      console.error(`unknown benchmark \`${n}\`: expected one of ${names.join(', ')}`);
      process.exit(1);
    }
    const mod = (await import(`./${n}.js`)) as { run: (args: string[]) => Promise<void> };
    console.log(`\n## ${n}\n\nmachine: ${machineLoad()} at the start`);
    await mod.run(args);
    console.log(`machine: ${machineLoad()} at the end`);
  }
}

await main();
