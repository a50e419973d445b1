/**
 * Scheduled backups of `domicile up` (`backups.schedule` in domicile.yaml): every `every`, a
 * backup of the jurisdiction into the region, then the oldest beyond `keep` are deleted.
 */
import type { Config } from '../../domain/config.js';
import type { BackupService } from './backup.js';

/** Runs the configured backup schedule until stopped. */
export class BackupScheduler {
  private readonly timers: NodeJS.Timeout[] = [];
  private running: Promise<unknown> = Promise.resolve();

  private readonly config: Config;
  private readonly backups: BackupService;
  private readonly onError: (error: unknown) => void;

  constructor(config: Config, backups: BackupService, onError: (error: unknown) => void = () => {}) {
    this.config = config;
    this.backups = backups;
    this.onError = onError;
  }

  /** Starts one timer per schedule entry (none when the schedule is empty). */
  start(): void {
    for (const entry of this.config.backups.schedule) {
      const timer = setInterval(() => {
        this.running = this.running
          .then(async () => {
            await this.backups.create(
              { jurisdiction: entry.jurisdiction, to: entry.to },
              { requestId: 'backup-schedule', principal: undefined },
            );
            await this.backups.prune(entry.jurisdiction, entry.to, entry.keep);
          })
          .catch(this.onError);
      }, entry.every * 1000);
      timer.unref();
      this.timers.push(timer);
    }
  }

  /** Stops the timers and waits for a backup in progress. */
  async stop(): Promise<void> {
    for (const timer of this.timers) clearInterval(timer);
    this.timers.length = 0;
    await this.running;
  }
}
