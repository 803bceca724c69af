import type { Logger } from './logger.ts';

/**
 * Whether one store under STATE_DIR (the journal, the local VIP cache) can be written, for
 * /healthz and /metrics, and the log lines that say so. A failed write never stops anything
 * (issue 18: storage faults degrade, never kill): the journal keeps its in-memory ring, etcd
 * keeps the configuration. So the log is rate-limited: the first failure at error with its path,
 * then at most one line per LOG_EVERY_MS while writes keep failing (with how many failed), and
 * one line when they work again.
 */

export type StoreName = 'journal' | 'cache';

/** How often a failing store is retried (its owner's timer), so /healthz recovers unasked. */
export const STORAGE_RETRY_MS = 5_000;
/** At most one "still failing" log line per store per minute. */
export const STORAGE_LOG_EVERY_MS = 60_000;

export interface StoreHealth {
  store: StoreName;
  /** The last write worked (or none failed yet). */
  writable: boolean;
  /** Failed writes since the agent started (link_storage_write_failures_total). */
  failures: number;
  /** While not writable: the last failure, its path and since when (ISO time). */
  error?: { code: string; path: string; message: string; since: string };
}

/** What a failed write hands over: adapters/storage-error.ts's StorageError fits. */
export interface WriteFailure {
  code: string;
  path: string;
  message: string;
}

export class WriteStatus {
  private failures = 0;
  private failing: { failure: WriteFailure; since: number } | undefined;
  private lastLogAt = -Infinity;
  private failuresSinceLog = 0;

  constructor(
    readonly store: StoreName,
    private readonly logger: Pick<Logger, 'error' | 'warn' | 'info'>,
    private readonly now: () => number = Date.now,
  ) {}

  get writable(): boolean {
    return this.failing === undefined;
  }

  failed(failure: WriteFailure): void {
    this.failures++;
    this.failuresSinceLog++;
    const first = this.failing === undefined;
    this.failing = { failure, since: this.failing?.since ?? this.now() };
    const fields = { store: this.store, path: failure.path, code: failure.code, err: failure.message };
    if (first) {
      this.logger.error(`${this.store} writes fail: VIPs are still served, kept in memory only`, fields);
    } else if (this.now() - this.lastLogAt >= STORAGE_LOG_EVERY_MS) {
      this.logger.warn(`${this.store} writes still fail`, { ...fields, failures: this.failuresSinceLog });
    } else {
      return;
    }
    this.lastLogAt = this.now();
    this.failuresSinceLog = 0;
  }

  succeeded(): void {
    if (this.failing === undefined) return;
    const { failure, since } = this.failing;
    this.failing = undefined;
    this.logger.info(`${this.store} writes work again`, {
      store: this.store,
      path: failure.path,
      failedForMs: this.now() - since,
    });
  }

  health(): StoreHealth {
    const health: StoreHealth = { store: this.store, writable: this.writable, failures: this.failures };
    if (this.failing) {
      const { failure, since } = this.failing;
      health.error = {
        code: failure.code,
        path: failure.path,
        message: failure.message,
        since: new Date(since).toISOString(),
      };
    }
    return health;
  }
}

/** The failure of a write: a StorageError's fields, or what any other error says. */
export function writeFailure(err: unknown, fallbackPath: string): WriteFailure {
  const e = err as { code?: unknown; path?: unknown; message?: unknown };
  return {
    code: typeof e.code === 'string' ? e.code : 'STORAGE_FAILED',
    path: typeof e.path === 'string' ? e.path : fallbackPath,
    message: typeof e.message === 'string' ? e.message : String(err),
  };
}
