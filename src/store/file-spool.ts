/**
 * A durable first-in first-out queue of JSON items in one file: what a region node keeps of a
 * jurisdiction's audit events while the jurisdiction's home region (which holds its log) cannot
 * be reached. `append` resolves once the item is on disk (written and fdatasync'd); `drop`
 * removes items from the front by rewriting the file atomically (temporary file, fsync, rename).
 *
 * One process owns a spool file at a time. Lines are `JSON\n`; a torn last line (a crash in the
 * middle of a write) is discarded when the file is opened, since its append never resolved.
 */
import {
  closeSync,
  fdatasyncSync,
  fsyncSync,
  mkdirSync,
  openSync,
  readFileSync,
  renameSync,
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

  /** Opens (creating when missing, mode 0600) the spool in `file`. */
  static open<T>(file: string): FileSpool<T> {
    try {
      mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
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

  close(): void {
    if (this.fd >= 0) closeSync(this.fd);
    this.fd = -1;
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
