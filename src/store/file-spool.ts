/**
 * A durable first-in first-out queue of JSON items in one file: what a region node keeps of a
 * jurisdiction's audit events while the jurisdiction's home region (which holds its log) cannot
 * be reached. `append` resolves once the item is on disk (written and fdatasync'd); `drop`
 * removes items from the front by rewriting the file atomically (temporary file, fsync, rename).
 *
 * One process owns a spool file at a time: `open` takes `<file>.lock` (holding its pid) and
 * `close` gives it back; another live process's lock is refused, a dead one's is taken over.
 * Lines are `JSON\n`; a torn last line (a crash in the middle of a write) is discarded when the
 * file is opened, since its append never resolved.
 */
import {
  closeSync,
  fdatasyncSync,
  fsyncSync,
  mkdirSync,
  openSync,
  readFileSync,
  renameSync,
  rmSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { dirname } from 'node:path';
import { DomicileError } from '../domain/errors.js';

/** A durable FIFO of JSON items. */
export class FileSpool<T> {
  private readonly file: string;
  private readonly items: T[];
  private fd: number;

  private constructor(file: string, items: T[], fd: number) {
    this.file = file;
    this.items = items;
    this.fd = fd;
  }

  /**
   * Opens (creating when missing, mode 0600) the spool in `file`, taking its lock.
   * @throws DOMICILE_ERR_STATE_CONFLICT when another live process holds it
   */
  static open<T>(file: string): FileSpool<T> {
    try {
      mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
      lock(file);
      const items: T[] = [];
      let text = '';
      try {
        text = readFileSync(file, 'utf8');
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
      }
      const complete = text.endsWith('\n') ? text : text.slice(0, text.lastIndexOf('\n') + 1);
      for (const line of complete.split('\n')) if (line !== '') items.push(JSON.parse(line) as T);
      const spool = new FileSpool<T>(file, items, -1);
      // a torn tail is dropped by writing back what is whole
      spool.fd = complete === text && text !== '' ? openSync(file, 'a', 0o600) : spool.rewrite(items);
      return spool;
    } catch (cause) {
      if (cause instanceof DomicileError) throw cause;
      unlock(file);
      throw new DomicileError('DOMICILE_ERR_STORE_UNAVAILABLE', `${file}: cannot open the spool`, { cause });
    }
  }

  /** Items waiting, oldest first. */
  get size(): number {
    return this.items.length;
  }

  /** The oldest `max` items. */
  peek(max: number): readonly T[] {
    return this.items.slice(0, max);
  }

  /** Appends an item; returns once it is durable. */
  append(item: T): void {
    const line = Buffer.from(`${JSON.stringify(item)}\n`, 'utf8');
    try {
      writeSync(this.fd, line);
      fdatasyncSync(this.fd);
    } catch (cause) {
      throw new DomicileError('DOMICILE_ERR_STORE_UNAVAILABLE', `${this.file}: cannot write the spool`, {
        cause,
      });
    }
    this.items.push(item);
  }

  /** Removes the oldest `count` items (they were delivered). */
  drop(count: number): void {
    if (count <= 0) return;
    const rest = this.items.slice(count);
    const fd = this.rewrite(rest);
    closeSync(this.fd);
    this.fd = fd;
    this.items.splice(0, count);
  }

  /** Closes the file and gives its lock back; closing twice is a no-op. */
  close(): void {
    if (this.fd < 0) return;
    closeSync(this.fd);
    this.fd = -1;
    unlock(this.file);
  }

  /** Writes `items` to a new file that replaces the spool; returns its descriptor (for appends). */
  private rewrite(items: readonly T[]): number {
    const temporary = `${this.file}.tmp`;
    const fd = openSync(temporary, 'w', 0o600);
    if (items.length > 0) writeSync(fd, items.map((item) => `${JSON.stringify(item)}\n`).join(''));
    fsyncSync(fd);
    renameSync(temporary, this.file);
    const dir = openSync(dirname(this.file), 'r');
    try {
      fsyncSync(dir);
    } finally {
      closeSync(dir);
    }
    closeSync(fd);
    return openSync(this.file, 'a', 0o600);
  }
}

/** The pid in a spool's lock file, or undefined when there is none (or it is unreadable). */
function lockHolder(file: string): number | undefined {
  try {
    const pid = Number(readFileSync(`${file}.lock`, 'utf8').trim());
    return Number.isSafeInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

/** Whether a process with this pid runs (one of another user counts: it exists). */
function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Takes the lock of a spool file for this process. A lock of this process (a spool it did not
 * close) or of a process that is gone is taken over.
 */
function lock(file: string): void {
  for (let attempt = 0; ; attempt++) {
    try {
      // created only if absent: of two processes opening at once, one gets it
      writeFileSync(`${file}.lock`, `${process.pid}\n`, { mode: 0o600, flag: 'wx' });
      return;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST' || attempt > 0) throw error;
    }
    const holder = lockHolder(file);
    if (holder !== undefined && holder !== process.pid && isAlive(holder)) {
      throw new DomicileError(
        'DOMICILE_ERR_STATE_CONFLICT',
        `${file}: the spool is in use by process ${holder} (stop that region node first)`,
      );
    }
    rmSync(`${file}.lock`, { force: true });
  }
}

/** Gives a spool's lock back, if this process holds it. */
function unlock(file: string): void {
  if (lockHolder(file) === process.pid) rmSync(`${file}.lock`, { force: true });
}
