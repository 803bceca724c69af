import { EtcdWatchLostError, translateEtcdError } from './errors.ts';
import type { EtcdAdapterError } from './errors.ts';
import type { Clock } from './fence.ts';
import { prefixRangeEnd, type Keys } from './keys.ts';
import { backoffDelay } from '../backoff.ts';
import type { Logger } from '../logger.ts';
import type { EtcdRetryPolicy } from './options.ts';
import type { EtcdRpc, WatchStream } from './rpc.ts';

/** Who holds a lock key, as etcd reported it. */
export interface LockHolder {
  hostname: string;
  /** Decimal lease id the key is attached to ('0' for none). */
  lease: string;
  /** The revision the key was last written at (a failover's handover tells writes apart by it). */
  modRevision: bigint;
}

/** Every lock key as of `revision`, by CIDR, with the revision each was last written at. */
export interface LockSnapshot {
  holders: ReadonlyMap<string, LockHolder>;
  revision: bigint;
}

/** The state of one lock key as of `revision` (null holder: no key). */
export interface LockObservation {
  cidr: string;
  revision: bigint;
  holder: LockHolder | null;
}

export interface LockWatcherHooks {
  /** A full read of every lock key at `revision`; a lock missing from `holders` has no key. */
  snapshot(holders: ReadonlyMap<string, LockHolder>, revision: bigint): void;
  /** One change under the lock prefix, in revision order. */
  change(observation: LockObservation): void;
  /** A membership key of `cidr` changed (put or deleted): a candidate came, went or re-published. */
  memberChanged(cidr: string): void;
  /** The watch was lost (error, end, compaction, cancel); it re-reads and re-subscribes by itself. */
  lost(err: EtcdAdapterError, attempt: number): void;
}

/**
 * ONE watch for all the session's elections. See README.md for the rules; in short: read every
 * lock at revision R, watch from R+1; whenever the stream is lost (error, end, cancel,
 * compaction) read again and watch again, so it is never blind. Its range runs from
 * `<prefix>/default/` to the end of `<prefix>/ips/`, so membership changes come on the same
 * stream (an owner's preemption follows its candidates: election.ts); the keys between
 * (configuration records, fences) are rare writes and skipped.
 */
export class LockWatcher {
  private generation = 0;
  private stream: WatchStream | null = null;
  private retryTimer: ReturnType<typeof setTimeout> | null = null;
  private failures = 0;
  private readonly key: Buffer;
  private readonly rangeEnd: Buffer;
  private readonly watchEnd: Buffer;

  constructor(
    private readonly rpc: EtcdRpc,
    private readonly keys: Keys,
    private readonly options: { retry: EtcdRetryPolicy; clock: Clock; logger: Logger },
    private readonly hooks: LockWatcherHooks,
  ) {
    this.key = Buffer.from(keys.lockPrefix);
    this.rangeEnd = prefixRangeEnd(this.key);
    this.watchEnd = prefixRangeEnd(Buffer.from(keys.membershipRoot));
  }

  /** Reads and subscribes; resolves once the watch is created, rejects if that first round fails. */
  start(): Promise<void> {
    this.stop();
    this.failures = 0;
    return this.round(this.generation);
  }

  stop(): void {
    this.generation++;
    this.teardown();
  }

  /** Test hook: drop the stream as a network failure would. */
  dropStream(): void {
    this.stream?.cancel();
  }

  private teardown(): void {
    if (this.retryTimer !== null) this.options.clock.clearTimeout(this.retryTimer);
    this.retryTimer = null;
    const stream = this.stream;
    this.stream = null;
    if (stream !== null) closeStream(stream);
  }

  /** Every lock key now, in one range request (the watch's first step, and the session's recheck). */
  async read(): Promise<LockSnapshot> {
    const res = await this.rpc.range({ key: this.key, range_end: this.rangeEnd });
    const holders = new Map<string, LockHolder>();
    for (const kv of res.kvs) {
      const cidr = this.keys.cidrOfLock(kv.key.toString());
      if (cidr !== null) {
        holders.set(cidr, {
          hostname: kv.value.toString(),
          lease: kv.lease,
          modRevision: BigInt(kv.mod_revision),
        });
      }
    }
    return { holders, revision: BigInt(res.header.revision) };
  }

  private async round(generation: number): Promise<void> {
    const stale = () => generation !== this.generation;
    const { holders, revision } = await this.read();
    if (stale()) return;
    this.hooks.snapshot(holders, revision);
    const stream = await this.rpc.watch();
    if (stale()) {
      closeStream(stream);
      return;
    }
    this.stream = stream;
    await new Promise<void>((resolve, reject) => {
      let created = false;
      const lost = (err: EtcdAdapterError) => {
        if (stale()) return;
        if (!created) {
          this.teardown();
          reject(err);
          return;
        }
        this.lost(generation, err);
      };
      stream.on('data', (msg) => {
        if (stale()) return;
        if (msg.canceled || msg.compact_revision !== '0') {
          lost(
            new EtcdWatchLostError(
              `watch ${this.keys.lockPrefix} canceled (compact revision ${msg.compact_revision}): ${msg.cancel_reason}`,
            ),
          );
          return;
        }
        if (msg.created && !created) {
          created = true;
          this.failures = 0;
          resolve();
        }
        for (const event of msg.events) {
          const key = event.kv.key.toString();
          const cidr = this.keys.cidrOfLock(key);
          if (cidr === null) {
            const member = this.keys.memberOf(key);
            if (member !== null) this.hooks.memberChanged(member.cidr);
            continue;
          }
          const isDelete = String(event.type).toLowerCase() === 'delete';
          this.hooks.change({
            cidr,
            revision: BigInt(event.kv.mod_revision),
            holder: isDelete
              ? null
              : {
                  hostname: event.kv.value.toString(),
                  lease: event.kv.lease,
                  modRevision: BigInt(event.kv.mod_revision),
                },
          });
        }
      });
      stream.on('error', (err) => lost(translateEtcdError(err, `watch ${this.keys.lockPrefix}`)));
      stream.on('end', () => lost(new EtcdWatchLostError(`watch ${this.keys.lockPrefix}: stream ended`)));
      stream.write({
        create_request: {
          key: this.key,
          range_end: this.watchEnd,
          start_revision: (revision + 1n).toString(),
        },
      });
    });
  }

  /** Lost after it was established: re-read and re-subscribe, at once the first time, then with backoff. */
  private lost(generation: number, err: EtcdAdapterError): void {
    this.teardown();
    this.failures++;
    this.hooks.lost(err, this.failures);
    const delay = this.failures === 1 ? 0 : backoffDelay(this.options.retry, this.failures - 1);
    this.retryTimer = this.options.clock.setTimeout(() => {
      this.retryTimer = null;
      if (generation !== this.generation) return;
      this.round(generation).catch((error: unknown) => {
        if (generation === this.generation) this.lost(generation, translateEtcdError(error, 'watch re-read'));
      });
    }, delay);
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
