import type { NetAdapter } from '../adapters/net/types.ts';
import type { Logger } from './logger.ts';

/**
 * Keeps one VIP's address in the kernel as the IP actor wants it. Entry actions only state an
 * intent (`want`, `announce`); the work runs here, one operation at a time, so a bind and an
 * unbind never race, and a failed operation is reported, never thrown into the machine.
 *
 * While bound with a lifetime, the address is refreshed every third of it: the kernel then
 * removes the address by itself if this process dies or freezes (kernel fencing).
 */

export interface AddressControllerOptions {
  cidr: string;
  net: NetAdapter;
  /** Lifetime to give the address now, in whole seconds; 0 = forever; null = must not hold it. */
  lifetimeSec: () => number | null;
  /** Period of refreshes while bound (ms); ignored when the lifetime is 0. */
  refreshEveryMs: () => number;
  announce: { count: number; intervalMs: number };
  onError: (
    code: 'BIND_FAILED' | 'UNBIND_FAILED' | 'ANNOUNCE_FAILED' | 'REFRESH_FAILED',
    err: unknown,
  ) => void;
  onAnnounced: () => void;
  logger: Logger;
}

export class AddressController {
  private wanted = false;
  /** Bumped by each burst and each change of mind, so a stale burst stops. */
  private burst = 0;
  private queue: Promise<void> = Promise.resolve();
  private refreshTimer: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(private readonly options: AddressControllerOptions) {}

  get wantsBound(): boolean {
    return this.wanted;
  }

  want(bound: boolean): void {
    if (!bound) this.burst++;
    this.wanted = bound;
    this.enqueue(() => this.reconcile());
  }

  /**
   * A burst of `count` announcements `intervalMs` apart. Each frame is its own short queued
   * operation, so refreshes and an unbind are never stuck behind a burst, and no frame leaves
   * once the address is no longer wanted (announcing an address we dropped would mislead
   * every neighbour).
   */
  announce(): void {
    const burst = ++this.burst;
    const { count, intervalMs } = this.options.announce;
    const frame = (index: number): void => {
      this.enqueue(async () => {
        if (!this.wanted || this.closed || burst !== this.burst) return;
        try {
          await this.options.net.announce(this.options.cidr, { count: 1 });
          if (index === 0) this.options.onAnnounced();
        } catch (err) {
          this.options.onError('ANNOUNCE_FAILED', err);
          return;
        }
        if (index + 1 < count) {
          const timer = setTimeout(() => frame(index + 1), intervalMs);
          timer.unref();
        }
      });
    };
    frame(0);
  }

  /** Resolves once every queued operation has run. */
  settled(): Promise<void> {
    return this.queue;
  }

  /** Stops refreshing; leaves the kernel as it is (the caller decides to unbind first). */
  close(): void {
    this.closed = true;
    this.stopRefresh();
  }

  private enqueue(operation: () => Promise<void>): void {
    this.queue = this.queue.then(operation, operation);
  }

  private async reconcile(): Promise<void> {
    if (this.closed) return;
    const lifetime = this.wanted ? this.options.lifetimeSec() : null;
    if (lifetime === null) {
      this.stopRefresh();
      try {
        await this.options.net.unbind(this.options.cidr);
      } catch (err) {
        this.options.onError('UNBIND_FAILED', err);
      }
      // Wanted but not allowed now (fence deadline too close): look again at the next tick.
      if (this.wanted) this.scheduleRefresh(-1);
      return;
    }
    try {
      await this.options.net.bind(this.options.cidr, { lifetimeSec: lifetime });
      // bind keeps an existing address as it is; a restart must renew what the old process set.
      if (lifetime > 0) await this.options.net.refresh(this.options.cidr, { lifetimeSec: lifetime });
      this.scheduleRefresh(lifetime);
    } catch (err) {
      this.options.onError('BIND_FAILED', err);
      this.scheduleRefresh(lifetime);
    }
  }

  /** `lifetime` -1 means "not bound yet, try again". */
  private scheduleRefresh(lifetime: number): void {
    this.stopRefresh();
    if (lifetime === 0 || this.closed) return;
    this.refreshTimer = setTimeout(() => {
      this.refreshTimer = undefined;
      this.enqueue(() => (lifetime < 0 ? this.reconcile() : this.refresh()));
    }, this.options.refreshEveryMs());
    this.refreshTimer.unref();
  }

  private async refresh(): Promise<void> {
    if (!this.wanted || this.closed) return;
    const lifetime = this.options.lifetimeSec();
    if (lifetime === null) {
      // The fence deadline is too close to promise the address: drop it now.
      await this.reconcile();
      return;
    }
    try {
      await this.options.net.refresh(this.options.cidr, { lifetimeSec: lifetime });
    } catch (err) {
      this.options.onError('REFRESH_FAILED', err);
      // A refresh fails when the address vanished (link flap, expiry): put it back.
      await this.reconcile();
      return;
    }
    this.scheduleRefresh(lifetime);
  }

  private stopRefresh(): void {
    if (this.refreshTimer) clearTimeout(this.refreshTimer);
    this.refreshTimer = undefined;
  }
}
