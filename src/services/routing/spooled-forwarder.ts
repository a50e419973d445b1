/**
 * Delivery to another process that survives its absence: items go straight to the node while it
 * answers; while it cannot be reached they wait in a durable spool in this region and are
 * delivered in order, at least once, when it can. Used for audit events bound for a
 * jurisdiction's home region (`audit/relay.ts`) and for replicas bound for a region that was
 * down when a write happened (`region-process.ts`), so a region that comes back catches up.
 */
import { DomicileError } from '../../domain/errors.js';

/** Errors that mean "this node cannot take it now": try another, or spool. */
const UNAVAILABLE = new Set([
  'DOMICILE_ERR_REGION_UNAVAILABLE',
  'DOMICILE_ERR_STORE_UNAVAILABLE',
  'DOMICILE_ERR_AUDIT_UNAVAILABLE',
]);

/** Whether an error means the node cannot take anything now (try another, or spool). */
export function isUnavailable(error: unknown): boolean {
  return error instanceof DomicileError && UNAVAILABLE.has(error.code);
}

/**
 * Whether the node refused the item itself, for good (a 4xx, or the form of the request it was
 * sent in): sending it again cannot succeed.
 */
function isRefusal(error: unknown): error is DomicileError {
  if (!(error instanceof DomicileError)) return false;
  return (error.statusCode >= 400 && error.statusCode < 500) || error.code === 'DOMICILE_ERR_REGION_REFUSED';
}

/**
 * An item the node refused for good, as it is set aside: the item, and the refusal's code and
 * time (no message: the operator needs to know why, e.g. to requeue what a node of another
 * version refused, not what the node said).
 */
export interface RejectedItem<T> {
  readonly item: T;
  readonly refusal: { readonly code: string; readonly at: string };
}

/** Items delivered from a spool between two rewrites of the spool file. */
const DELIVERY_BATCH = 256;

/** A durable queue (`FileSpool`): what waits for a node that cannot be reached. */
export interface Spool<T> {
  readonly size: number;
  peek(max: number): readonly T[];
  append(item: T): void;
  drop(count: number): void;
}

/** Options of a `SpooledForwarder`. */
export interface SpooledForwarderOptions<T> {
  /** Delivers one item to the node; throws a coded error when it cannot. */
  readonly send: (item: T) => Promise<void>;
  readonly spool: Spool<T>;
  /** How often delivery from the spool is retried; default 1000 ms. */
  readonly retryMs?: number;
  /**
   * Where a spooled item goes that the node refuses for good (a 4xx, e.g. a replica of a subject
   * erased there meanwhile), so that it does not hold back every item behind it; it is kept there
   * for the operator. Without it such an item stays first in the spool and is retried.
   */
  readonly rejected?: Spool<RejectedItem<T>>;
  /** Receives delivery failures other than "node unavailable" (refusals included). */
  readonly onError?: (error: unknown) => void;
}

/**
 * Forwards items to a node in order: directly while it answers; while it cannot be reached, into
 * a durable spool, delivered in order (at least once) once it can. `forward` resolves when the
 * item is with the node or durably spooled.
 */
export class SpooledForwarder<T> {
  private readonly options: SpooledForwarderOptions<T>;
  private timer: NodeJS.Timeout | undefined;
  private draining: Promise<void> | undefined;
  private closed = false;

  constructor(options: SpooledForwarderOptions<T>) {
    this.options = options;
    if (options.spool.size > 0) this.schedule();
  }

  /** Items waiting in the spool. */
  get pending(): number {
    return this.options.spool.size;
  }

  async forward(item: T): Promise<void> {
    // while older items wait, new ones queue behind them: the node receives them in order
    if (this.options.spool.size === 0) {
      try {
        await this.options.send(item);
        return;
      } catch (error) {
        if (!isUnavailable(error)) throw error;
      }
    }
    this.options.spool.append(item);
    this.schedule();
  }

  /** Delivers what the spool holds (resolves when it is empty or the node is still down). */
  async drain(): Promise<void> {
    this.draining ??= this.deliver().finally(() => {
      this.draining = undefined;
    });
    return this.draining;
  }

  /** Stops retrying; what is spooled stays on disk for the next start. */
  async close(): Promise<void> {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    await this.draining;
  }

  private schedule(): void {
    if (this.timer || this.closed) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.drain().then(() => {
        if (this.options.spool.size > 0) this.schedule();
      });
    }, this.options.retryMs ?? 1000);
    this.timer.unref();
  }

  private async deliver(): Promise<void> {
    const { spool, send, rejected } = this.options;
    while (spool.size > 0 && !this.closed) {
      // delivered items leave the spool a batch at a time (one file rewrite per batch)
      let delivered = 0;
      try {
        for (const item of spool.peek(DELIVERY_BATCH)) {
          try {
            await send(item);
          } catch (error) {
            if (rejected === undefined || !isRefusal(error)) throw error;
            // kept before it leaves the spool: a crash in between delivers it twice, never loses it
            rejected.append({ item, refusal: { code: error.code, at: new Date().toISOString() } });
            this.options.onError?.(error);
          }
          delivered++;
        }
      } catch (error) {
        if (!isUnavailable(error)) this.options.onError?.(error);
        return;
      } finally {
        spool.drop(delivered);
      }
    }
  }
}
