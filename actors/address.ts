import type { ForeignClaim, NetAdapter } from '../adapters/net/types.ts';
import type { Logger } from './logger.ts';

/**
 * Keeps one VIP's address in the kernel as the IP actor wants it. Entry actions only state an
 * intent (`want`, `announce`); the work runs here, one operation at a time, so a bind and an
 * unbind never race, and a failed operation is reported, never thrown into the machine.
 *
 * While bound with a lifetime the address must be refreshed, or the kernel removes it by itself
 * (kernel fencing: what a dead or frozen agent relies on). The agent refreshes every bound VIP
 * in one batch (actors/refresher.ts) and asks a controller to `recheck` when its address needs
 * more than a refresh (a failed refresh, a bind to retry, a lifetime that may no longer be given).
 */

export interface AddressControllerOptions {
  cidr: string;
  net: NetAdapter;
  /** Lifetime to give the address now, in whole seconds; 0 = forever; null = must not hold it. */
  lifetimeSec: () => number | null;
  /**
   * A burst: `count` frames `intervalMs` apart. Then, while the address is wanted and bound, one
   * frame every `refreshIntervalMs` (ARP_REFRESH_INTERVAL; 0 = off).
   */
  announce: { count: number; intervalMs: number; refreshIntervalMs: number };
  onError: (code: 'BIND_FAILED' | 'UNBIND_FAILED' | 'ANNOUNCE_FAILED', err: unknown) => void;
  onAnnounced: () => void;
  /**
   * Once the kernel has dropped the address by its lifetime (the agent was frozen or stalled
   * past it), whether to put it back now. Never blindly: by then another host may own the VIP.
   */
  mayRecreate: () => boolean;
  logger: Logger;
  /**
   * RFC 5227 before this controller's first bind: the MAC of a host that is not a LinK holder of
   * the VIP and answers for it, or null to bind. It decides itself when no probe is needed (a
   * restart's address, a handover from a known LinK host). Absent: never probe.
   */
  probe?: () => Promise<string | null>;
  /** The probe found the address in use: nothing was bound; probing again in `inUseRetryMs`. */
  onInUse?: (mac: string, retryMs: number) => void;
  /** The probe itself failed: the bind goes ahead (the API already refused every known host's address). */
  onProbeError?: (err: unknown) => void;
  /** Default 10 s: a stranger holding the address is a misconfiguration someone has to fix. */
  inUseRetryMs?: number;
  /**
   * Frames from other MACs claiming the address (RFC 5227 §2.4), listened for exactly while it
   * is wanted and bound (net.watchClaims; an adapter without it: never). actors/conflicts.ts
   * decides what to answer.
   */
  onClaim?: (claim: ForeignClaim) => void;
  /** Listening failed (a socket error, a missing privilege): retried after CLAIM_WATCH_RETRY_MS. */
  onClaimWatchError?: (err: unknown) => void;
  /** Monotonic milliseconds (performance.now); tests pass their own. */
  now?: () => number;
}

const DEFAULT_IN_USE_RETRY_MS = 10_000;
/** A listener that failed is tried again this much later: not in a loop, not never. */
const CLAIM_WATCH_RETRY_MS = 5000;

export class AddressController {
  private wanted = false;
  /** Bumped by each burst and each change of mind, so a stale burst stops. */
  private burst = 0;
  private queue: Promise<void> = Promise.resolve();
  private closed = false;
  private pending = 0;
  private bound = false;
  /** When the kernel drops the address unless renewed before (monotonic ms); null: never. */
  private expiresAt: number | null = null;
  private lost = false;
  /** A first bind still needs its probe (cleared by a clean probe or the first bind). */
  private mustProbe: boolean;
  /** Waiting to probe again after finding the address in use: no bind, no announcement meanwhile. */
  private inUseTimer: NodeJS.Timeout | undefined;
  private refreshTimer: NodeJS.Timeout | undefined;
  /** Ends the claim watch; set exactly while it runs (see syncClaims). */
  private unwatchClaims: (() => void) | undefined;
  private claimRetry: NodeJS.Timeout | undefined;
  private readonly now: () => number;

  constructor(private readonly options: AddressControllerOptions) {
    this.now = options.now ?? (() => performance.now());
    this.mustProbe = options.probe !== undefined;
  }

  /** Another host answered for the address and the controller is waiting to probe again. */
  get isInUse(): boolean {
    return this.inUseTimer !== undefined;
  }

  get cidr(): string {
    return this.options.cidr;
  }

  get wantsBound(): boolean {
    return this.wanted;
  }

  /** The last bind succeeded and nothing has unbound it since. */
  get isBound(): boolean {
    return this.bound;
  }

  /** Still wanted, but the kernel dropped it when its lifetime ran out (see `mayRecreate`). */
  get isLost(): boolean {
    return this.lost;
  }

  /** See AddressControllerOptions.mayRecreate. */
  mayRecreate(): boolean {
    return this.options.mayRecreate();
  }

  /** The lifetime last given has run out: the kernel may have dropped the address already. */
  get mayHaveExpired(): boolean {
    return this.expiresAt !== null && this.now() >= this.expiresAt;
  }

  /** A renewal of `lifetimeSec` (0 = forever) sent at `sentAt` succeeded. */
  renewed(sentAt: number, lifetimeSec: number): void {
    if (!this.bound) return;
    this.expiresAt = lifetimeSec > 0 ? sentAt + lifetimeSec * 1000 : null;
  }

  /** The kernel no longer has the address although it is wanted: its lifetime ran out. */
  markLost(): void {
    this.bound = false;
    this.lost = true;
    this.expiresAt = null;
    this.syncRefresh();
  }

  /** No operation queued or running: a batch refresh cannot race one of ours. */
  get isIdle(): boolean {
    return this.pending === 0 && !this.closed;
  }

  /** Brings the kernel back in line with what is wanted (rebind, or unbind if no lifetime may be given). */
  recheck(): void {
    this.enqueue(() => this.reconcile());
  }

  want(bound: boolean): void {
    if (!bound) {
      this.burst++;
      this.stopInUseWait();
    }
    this.wanted = bound;
    this.syncRefresh();
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
        // An address found in use is not ours: announcing it would take a stranger's traffic.
        if (!this.wanted || this.closed || burst !== this.burst || this.isInUse) return;
        try {
          await this.options.net.announce(this.options.cidr);
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

  /**
   * One announcement now, outside the queue (a defence must not wait behind a burst, a bind or a
   * refresh's kernel read); true when it went out. Safe to bypass the queue: `wanted` turns false
   * before an unbind is queued, so no frame leaves for an address being given up.
   */
  announceNow(): boolean {
    if (!this.wanted || !this.bound || this.closed || this.isInUse) return false;
    this.options.net
      .announce(this.options.cidr)
      .catch((err: unknown) => this.options.onError('ANNOUNCE_FAILED', err));
    return true;
  }

  /** Resolves once every queued operation has run. */
  settled(): Promise<void> {
    return this.queue;
  }

  /** Stops working; leaves the kernel as it is (the caller decides to unbind first). */
  close(): void {
    this.closed = true;
    this.stopInUseWait();
    this.syncRefresh();
  }

  /** The refresh timer (and the claim watch) run exactly while the address is wanted and bound. */
  private syncRefresh(): void {
    this.syncClaims();
    const periodMs = this.options.announce.refreshIntervalMs;
    const due = periodMs > 0 && this.wanted && this.bound && !this.closed;
    if (due && !this.refreshTimer) {
      this.refreshTimer = setInterval(() => this.enqueue(() => this.refreshFrame()), periodMs);
      this.refreshTimer.unref(); // a refresh alone never keeps the process alive
    } else if (!due && this.refreshTimer) {
      clearInterval(this.refreshTimer);
      this.refreshTimer = undefined;
    }
  }

  /**
   * The kernel is asked first: an address removed by hand or dropped by its lifetime, which
   * `bound` does not know of yet, would pull traffic into a void if announced.
   */
  private async refreshFrame(): Promise<void> {
    if (!this.refreshTimer || this.isInUse) return;
    const { cidr, net } = this.options;
    try {
      if (await net.isBound(cidr)) await net.announce(cidr);
    } catch (err) {
      // Once a period: a journal note each time would flood the journal; the next period retries.
      this.options.logger.warn('announcement refresh failed', {
        cidr,
        err: err instanceof Error ? err.message : String(err),
      });
    }
  }

  private syncClaims(): void {
    const onClaim = this.options.onClaim;
    const watch = this.options.net.watchClaims?.bind(this.options.net);
    const due = onClaim !== undefined && watch !== undefined && this.wanted && this.bound && !this.closed;
    if (!due) {
      this.unwatchClaims?.();
      this.unwatchClaims = undefined;
      if (this.claimRetry) clearTimeout(this.claimRetry);
      this.claimRetry = undefined;
      return;
    }
    if (this.unwatchClaims || this.claimRetry) return;
    const failed = (err: unknown): void => {
      this.unwatchClaims = undefined;
      this.options.onClaimWatchError?.(err);
      this.claimRetry = setTimeout(() => {
        this.claimRetry = undefined;
        this.syncClaims();
      }, CLAIM_WATCH_RETRY_MS);
      this.claimRetry.unref();
    };
    try {
      this.unwatchClaims = watch(this.options.cidr, { claim: onClaim, error: failed });
    } catch (err) {
      failed(err);
    }
  }

  private stopInUseWait(): void {
    if (this.inUseTimer) clearTimeout(this.inUseTimer);
    this.inUseTimer = undefined;
  }

  /** Runs the probe if this is still the first bind; false when the address is in use. */
  private async probeClean(): Promise<boolean> {
    const probe = this.options.probe;
    if (!this.mustProbe || !probe) return true;
    let mac: string | null;
    try {
      mac = await probe();
    } catch (err) {
      this.options.onProbeError?.(err);
      mac = null;
    }
    if (mac === null) {
      this.mustProbe = false;
      return true;
    }
    const retryMs = this.options.inUseRetryMs ?? DEFAULT_IN_USE_RETRY_MS;
    this.inUseTimer = setTimeout(() => {
      this.inUseTimer = undefined;
      if (!this.wanted || this.closed) return;
      this.enqueue(async () => {
        await this.reconcile();
        // The burst the machine asked for was held back while the address was in use.
        if (this.bound) this.announce();
      });
    }, retryMs);
    this.inUseTimer.unref();
    this.options.onInUse?.(mac, retryMs);
    return false;
  }

  private enqueue(operation: () => Promise<void>): void {
    this.pending++;
    const run = () =>
      operation().finally(() => {
        this.pending--;
        this.syncRefresh(); // an operation may have bound or unbound the address
      });
    this.queue = this.queue.then(run, run);
  }

  private async reconcile(): Promise<void> {
    if (this.closed) return;
    const lifetime = this.wanted ? this.options.lifetimeSec() : null;
    if (lifetime === null) {
      this.bound = false;
      this.lost = false;
      this.expiresAt = null;
      try {
        await this.options.net.unbind(this.options.cidr);
      } catch (err) {
        this.options.onError('UNBIND_FAILED', err);
      }
      return;
    }
    // Waiting out an address in use: the refresher's rechecks must not probe (or bind) early.
    if (this.isInUse) return;
    if (!(await this.probeClean())) {
      this.bound = false;
      return;
    }
    // The probe listened a while: the machine may have let go of the VIP meanwhile.
    if (!this.wanted || this.closed) return;
    try {
      const sentAt = this.now();
      await this.options.net.bind(this.options.cidr, { lifetimeSec: lifetime });
      // bind keeps an existing address as it is; a restart must renew what the old process set.
      if (lifetime > 0) await this.options.net.refresh(this.options.cidr, { lifetimeSec: lifetime });
      this.bound = this.wanted;
      this.lost = false;
      this.renewed(sentAt, lifetime);
    } catch (err) {
      this.bound = false;
      this.options.onError('BIND_FAILED', err);
    }
  }
}
