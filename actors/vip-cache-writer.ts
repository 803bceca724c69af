import type { StoredVip } from '../adapters/etcd/types.ts';
import type { VipCache } from '../adapters/cache/vip-cache.ts';
import type { Logger } from './logger.ts';
import { STORAGE_RETRY_MS, WriteStatus, writeFailure } from './write-status.ts';

/**
 * The local cache holds every VIP, so one write is O(n): writing it on each add made adding n
 * VIPs O(n²) (bench/scale). Changes within this delay share one write; stop() flushes it.
 */
const CACHE_WRITE_DELAY_MS = 200;

/**
 * Debounced writes of the agent's VIPs to the local cache (used when etcd is down at start).
 * A failed write is the cache's own fault, never etcd's: it is reported through `writeStatus`
 * (/healthz, /metrics, a rate-limited log line) and retried every STORAGE_RETRY_MS with the
 * VIPs the agent then runs, so /healthz recovers once the disk does.
 */
export class VipCacheWriter {
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  readonly writeStatus: WriteStatus;

  constructor(
    private readonly cache: VipCache | undefined,
    logger: Logger,
    private readonly current: () => StoredVip[],
  ) {
    this.writeStatus = new WriteStatus('cache', logger);
  }

  /** Reads the cache: what start restores when etcd cannot be read. */
  read(): StoredVip[] {
    return this.cache?.read() ?? [];
  }

  schedule(delayMs = CACHE_WRITE_DELAY_MS): void {
    if (!this.cache || this.timer || this.stopped) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.save(this.current());
    }, delayMs);
    this.timer.unref();
  }

  /** Writes a pending cache update now; no more retries after it (the agent is stopping). */
  flush(): void {
    this.stopped = true;
    if (!this.timer) return;
    clearTimeout(this.timer);
    this.timer = undefined;
    this.save(this.current());
  }

  /** A failure is reported and retried: etcd holds the configuration, the cache only covers its absence. */
  save(vips: readonly StoredVip[]): void {
    if (!this.cache) return;
    try {
      this.cache.write(vips);
      this.writeStatus.succeeded();
    } catch (err) {
      this.writeStatus.failed(writeFailure(err, 'the local VIP cache'));
      this.schedule(STORAGE_RETRY_MS);
    }
  }
}
