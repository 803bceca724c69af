import type { StoredVip } from '../adapters/etcd/types.ts';
import type { VipCache } from '../adapters/cache/vip-cache.ts';
import type { Logger } from './logger.ts';
import { errorText } from './vip-runtime.ts';

/**
 * The local cache holds every VIP, so one write is O(n): writing it on each add made adding n
 * VIPs O(n²) (bench/scale). Changes within this delay share one write; stop() flushes it.
 */
const CACHE_WRITE_DELAY_MS = 200;

/** Debounced writes of the agent's VIPs to the local cache (used when etcd is down at start). */
export class VipCacheWriter {
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly cache: VipCache | undefined,
    private readonly logger: Logger,
    private readonly current: () => StoredVip[],
  ) {}

  /** Reads the cache: what start restores when etcd cannot be read. */
  read(): StoredVip[] {
    return this.cache?.read() ?? [];
  }

  schedule(): void {
    if (!this.cache || this.timer) return;
    this.timer = setTimeout(() => this.flush(), CACHE_WRITE_DELAY_MS);
    this.timer.unref();
  }

  /** Writes a pending cache update now. */
  flush(): void {
    if (!this.timer) return;
    clearTimeout(this.timer);
    this.timer = undefined;
    this.save(this.current());
  }

  /** A failure is logged: etcd holds the configuration, the cache only covers its absence. */
  save(vips: readonly StoredVip[]): void {
    try {
      this.cache?.write(vips);
    } catch (err) {
      this.logger.warn('cannot write the local VIP cache', { err: errorText(err) });
    }
  }
}
