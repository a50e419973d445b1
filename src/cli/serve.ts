/** What the long-running commands (`up`, `region`, `gateway`) share. */
import { DomicileError } from '../domain/errors.js';

/** `host:port` or `[v6]:port` → host and port; `DOMICILE_ERR_USAGE` when malformed. */
export function parseListen(text: string): { host: string; port: number } {
  const match = /^(?:\[([0-9a-fA-F:.]+)\]|([A-Za-z0-9.-]+)):(\d{1,5})$/.exec(text);
  const port = Number(match?.[3]);
  if (!match || port > 65535) {
    throw new DomicileError(
      'DOMICILE_ERR_USAGE',
      `--listen: expected host:port, got \`${text.slice(0, 64)}\``,
    );
  }
  return { host: match[1] ?? match[2] ?? '', port };
}

/** Closes `close` and exits on SIGINT or SIGTERM. */
export function runUntilSignal(close: () => Promise<void>): void {
  const shutdown = async (): Promise<void> => {
    try {
      await close();
    } finally {
      process.exit(0);
    }
  };
  process.once('SIGINT', () => void shutdown());
  process.once('SIGTERM', () => void shutdown());
}
