import { EtcdLeaseLostError, EtcdUnavailableError, translateEtcdError } from './errors.ts';
import type { EtcdAdapterError } from './errors.ts';
import type { Clock, FenceDeadline } from './fence.ts';
import { backoffDelay } from '../backoff.ts';
import type { Logger } from '../logger.ts';
import type { EtcdRetryPolicy } from './options.ts';
import type { EtcdRpc, KeepAliveStream } from './rpc.ts';

export interface LeaseKeeperOptions {
  ttlSeconds: number;
  keepAliveIntervalMs: number;
  retry: EtcdRetryPolicy;
  clock: Clock;
  logger: Logger;
}

export interface LeaseKeeperHooks {
  /** etcd confirmed the lease (the fence was extended). */
  confirmed(): void;
  /** etcd says the lease no longer exists: keys under it are gone. */
  lost(err: EtcdAdapterError): void;
  /** The keep-alive stream failed; `attempt` counts failures since the last confirmation. */
  streamFailed(err: EtcdAdapterError, attempt: number): void;
}

/** etcd's lease times are whole seconds: a renewal of a lease reported at 0 s left waits no longer. */
const RENEW_ONCE_TIMEOUT_MS = 1000;

/**
 * The agent's one lease. etcd3's `Lease` class cannot attach to an existing lease id (it always
 * grants a new one), and a restarted agent must reuse its lease to keep its locks, so this keeper
 * drives etcd's LeaseKeepAlive stream itself: one request every keep-alive interval, each
 * confirmation extends the fence deadline from the request's send time.
 */
export class LeaseKeeper {
  private leaseId: string | null = null;
  private grantedTtl: number | null = null;
  private stream: KeepAliveStream | null = null;
  private generation = 0;
  private tick: ReturnType<typeof setTimeout> | null = null;
  private reconnect: ReturnType<typeof setTimeout> | null = null;
  private sentAt: number[] = [];
  private failures = 0;
  private paused = false;

  constructor(
    private readonly rpc: EtcdRpc,
    private readonly options: LeaseKeeperOptions,
    private readonly fence: FenceDeadline,
    private readonly hooks: LeaseKeeperHooks,
  ) {}

  get id(): string | null {
    return this.leaseId;
  }

  /** The TTL etcd granted the current lease with (a restart's bridge lease has a longer one). */
  get grantedTtlSeconds(): number | null {
    return this.grantedTtl;
  }

  /** Takes over a lease granted elsewhere (a lease migration); call before start(). */
  adopt(id: string, sentAt: number, ttlSeconds: number): void {
    this.leaseId = id;
    this.grantedTtl = ttlSeconds;
    this.fence.extend(sentAt, ttlSeconds * 1000);
  }

  /**
   * Reuses `candidateId` when etcd still knows it (TTL > 0), else grants a new lease. Sets the
   * fence deadline from etcd's answer. Resolves with whether the lease was reused.
   */
  async acquire(candidateId: string | null): Promise<boolean> {
    const { clock, ttlSeconds } = this.options;
    if (candidateId !== null && candidateId !== '0') {
      const sentAt = clock.now();
      const res = await this.rpc.leaseTimeToLive(candidateId);
      const ttl = Number(res.TTL);
      if (ttl > 0) {
        this.leaseId = candidateId;
        this.grantedTtl = Number(res.grantedTTL);
        this.fence.extend(sentAt, this.boundedTtlMs(ttl));
        return true;
      }
      // etcd reports the time left in whole seconds, rounded down: 0 is a lease with less than
      // a second left (or expired, its revocation pending; -1 is gone). A crashed agent
      // restarted at once found its lease so more often than not with a TTL of 2 s (kept alive
      // every 0.67 s, ~0.5 s to start): taken for gone, a new lease cost it its locks and its VIPs.
      if (ttl === 0) {
        const renewedAt = clock.now();
        const renewed = await this.renewOnce(candidateId);
        if (renewed > 0) {
          this.leaseId = candidateId;
          this.grantedTtl = Number(res.grantedTTL);
          this.fence.extend(renewedAt, this.boundedTtlMs(renewed));
          return true;
        }
      }
    }
    const sentAt = clock.now();
    const res = await this.rpc.leaseGrant(ttlSeconds);
    this.leaseId = res.ID;
    this.grantedTtl = Number(res.TTL);
    this.fence.extend(sentAt, Number(res.TTL) * 1000);
    return false;
  }

  /**
   * A lease can never have more time left than it was granted with, whatever etcd reports: a
   * leader that has not yet taken over the leases (just elected, e.g. when quorum returns)
   * reports their time left as "forever" (2^63 ns, 9223372036 s). Taken as is, that moved the
   * fence and the VIP's kernel lifetime ~292 years ahead, so a killed owner's address never
   * expired (test/chaos: restart during a failover, after a quorum loss).
   */
  private boundedTtlMs(reportedSeconds: number): number {
    const granted =
      this.grantedTtl !== null && this.grantedTtl > 0 ? this.grantedTtl : this.options.ttlSeconds;
    return Math.min(reportedSeconds, granted) * 1000;
  }

  /**
   * One keep-alive on a stream of its own: the TTL etcd renewed `id` to, or 0 when it is gone
   * (etcd answers a renewal of an expired lease only once its revocation is done). Waits at most
   * RENEW_ONCE_TIMEOUT_MS: the lease had less than a second left, after that it is gone anyway.
   */
  private async renewOnce(id: string): Promise<number> {
    const stream = await this.rpc.leaseKeepAlive();
    const { clock } = this.options;
    try {
      return await new Promise<number>((resolve) => {
        const timer = clock.setTimeout(() => resolve(0), RENEW_ONCE_TIMEOUT_MS);
        const done = (ttl: number) => {
          clock.clearTimeout(timer);
          resolve(ttl);
        };
        stream.on('data', (res) => done(Number(res.TTL) > 0 ? Number(res.TTL) : 0));
        stream.on('error', () => done(0));
        stream.on('end', () => done(0));
        try {
          stream.write({ ID: id });
        } catch {
          done(0);
        }
      });
    } finally {
      closeStream(stream);
    }
  }

  /** Starts keeping the acquired lease alive (first keep-alive at once). */
  start(): void {
    this.failures = 0;
    this.connect();
  }

  /** Stops sending keep-alives; the lease then expires after its TTL unless revoked. */
  stop(): void {
    this.generation++;
    this.teardown();
  }

  async revoke(): Promise<void> {
    const id = this.leaseId;
    try {
      if (id !== null) await this.rpc.leaseRevoke(id);
    } catch (err) {
      if (!(err instanceof EtcdLeaseLostError)) throw err;
    } finally {
      this.stop();
    }
  }

  /** Test hook: a frozen agent sends no keep-alive (its fence then passes). */
  setPaused(paused: boolean): void {
    this.paused = paused;
  }

  private connect(): void {
    const generation = ++this.generation;
    const stale = () => generation !== this.generation;
    this.rpc.leaseKeepAlive().then(
      (stream) => {
        if (stale()) {
          closeStream(stream);
          return;
        }
        this.stream = stream;
        this.sentAt = [];
        stream.on('data', (res) => {
          if (stale()) return;
          const sentAt = this.sentAt.shift() ?? this.options.clock.now();
          const ttl = Number(res.TTL);
          if (!(ttl > 0)) {
            this.stop();
            this.hooks.lost(new EtcdLeaseLostError(`lease ${this.leaseId ?? '?'} expired or was revoked`));
            return;
          }
          this.failures = 0;
          this.fence.extend(sentAt, this.boundedTtlMs(ttl));
          this.hooks.confirmed();
        });
        stream.on('error', (err) => {
          if (!stale()) this.failed(translateEtcdError(err, 'lease keep-alive'));
        });
        stream.on('end', () => {
          if (!stale()) this.failed(new EtcdUnavailableError('lease keep-alive: stream ended'));
        });
        this.send();
      },
      (err: unknown) => {
        if (!stale()) this.failed(translateEtcdError(err, 'lease keep-alive'));
      },
    );
  }

  private send(): void {
    const { clock, keepAliveIntervalMs } = this.options;
    this.tick = clock.setTimeout(() => this.send(), keepAliveIntervalMs);
    if (this.paused || this.stream === null || this.leaseId === null) return;
    this.sentAt.push(clock.now());
    try {
      this.stream.write({ ID: this.leaseId });
    } catch (err) {
      this.failed(translateEtcdError(err, 'lease keep-alive'));
    }
  }

  private failed(err: EtcdAdapterError): void {
    this.generation++;
    this.teardown();
    this.failures++;
    this.options.logger.debug('etcd lease keep-alive failed', { error: err.message, attempt: this.failures });
    this.hooks.streamFailed(err, this.failures);
    const generation = this.generation;
    this.reconnect = this.options.clock.setTimeout(
      () => {
        this.reconnect = null;
        if (generation === this.generation) this.connect();
      },
      backoffDelay(this.options.retry, this.failures),
    );
  }

  private teardown(): void {
    const { clock } = this.options;
    if (this.tick !== null) clock.clearTimeout(this.tick);
    if (this.reconnect !== null) clock.clearTimeout(this.reconnect);
    this.tick = null;
    this.reconnect = null;
    const stream = this.stream;
    this.stream = null;
    this.sentAt = [];
    if (stream !== null) closeStream(stream);
  }
}

/**
 * Ends our side first: etcd3 marks the host failed (and closes every channel to it, killing the
 * other streams and calls) when a stream errors while still writable, and cancel() makes it error.
 */
function closeStream(stream: { end(): void; cancel(): void }): void {
  try {
    stream.end();
    stream.cancel();
  } catch {
    // already closed
  }
}
