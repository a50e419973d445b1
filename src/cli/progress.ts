/** A progress line for long commands: a bar with rate and ETA on a terminal, JSON lines for scripts. */

/** Options of a `ProgressReporter`. */
export interface ProgressOptions {
  readonly json: boolean;
  /** Where it goes; a terminal gets a redrawn bar, anything else one line per update. */
  readonly stream: NodeJS.WriteStream;
  readonly label: string;
}

const WIDTH = 30;

function formatSeconds(seconds: number): string {
  if (!Number.isFinite(seconds)) return '?';
  if (seconds < 60) return `${Math.ceil(seconds)}s`;
  const m = Math.floor(seconds / 60);
  return m < 60
    ? `${m}m${String(Math.ceil(seconds % 60)).padStart(2, '0')}s`
    : `${Math.floor(m / 60)}h${String(m % 60).padStart(2, '0')}m`;
}

/** Reports `done` of `total` items with the rate since the reporter started and an ETA. */
export class ProgressReporter {
  readonly #options: ProgressOptions;
  readonly #started = Date.now();
  readonly #startDone: number;
  #lastDraw = 0;

  constructor(options: ProgressOptions, startDone = 0) {
    this.#options = options;
    this.#startDone = startDone;
  }

  update(
    done: number,
    total: number,
    extra: Readonly<Record<string, number | string>> = {},
    force = false,
  ): void {
    const elapsed = (Date.now() - this.#started) / 1000;
    const rate = elapsed > 0 ? (done - this.#startDone) / elapsed : 0;
    const eta = rate > 0 ? Math.max(0, total - done) / rate : Number.POSITIVE_INFINITY;
    const { stream, json, label } = this.#options;
    if (json) {
      stream.write(
        `${JSON.stringify({ event: 'progress', label, done, total, rate: Math.round(rate), etaSeconds: Number.isFinite(eta) ? Math.ceil(eta) : null, ...extra })}\n`,
      );
      return;
    }
    if (!stream.isTTY) return;
    const now = Date.now();
    if (!force && now - this.#lastDraw < 100) return;
    this.#lastDraw = now;
    const share = total > 0 ? Math.min(1, done / total) : 1;
    const filled = Math.round(share * WIDTH);
    const bar = `${'#'.repeat(filled)}${'-'.repeat(WIDTH - filled)}`;
    stream.write(
      `\r${label} [${bar}] ${(share * 100).toFixed(0).padStart(3)}% ${done.toLocaleString('en-US')}/${total.toLocaleString('en-US')} ${Math.round(rate).toLocaleString('en-US')} rec/s ETA ${formatSeconds(eta)}  `,
    );
  }

  /** Ends the bar's line on a terminal. */
  finish(): void {
    if (!this.#options.json && this.#options.stream.isTTY) this.#options.stream.write('\n');
  }
}
