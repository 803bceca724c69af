import { EventEmitter } from 'node:events';
import type {
  ICompare,
  IDeleteRangeRequest,
  IEvent,
  IKeyValue,
  IPutRequest,
  IRangeRequest,
  IRangeResponse,
  IRequestOp,
  IResponseHeader,
  IResponseOp,
  ITxnRequest,
  ITxnResponse,
  IWatchRequest,
} from 'etcd3';
import { EtcdUnavailableError } from '../../adapters/etcd/errors.ts';
import type { EtcdAdapterError } from '../../adapters/etcd/errors.ts';
import type { EtcdRpc } from '../../adapters/etcd/rpc.ts';

/**
 * An in-memory etcd behind the adapter's `EtcdRpc` port, for unit tests of the election and the
 * session with controlled time: one revision counter, keys with create/mod revisions and leases,
 * `txn` with Create/Value/Lease/Mod/Version compares, leases (granted, kept alive, revoked, or
 * expired by the test: they never expire on their own, time is the test's), and prefix watches
 * that replay history from their start revision. Several clients (hosts) share one store.
 * Answers arrive on a later turn of the event loop (setImmediate, which the tests do not fake),
 * as a network's would, so a loop of calls never starves the timers or the test.
 *
 * Fault injection: `down` makes every call fail (unary calls reject, streams error);
 * `beforeTxn` runs once just before the next transaction is applied (another host writing in
 * between); `holdWatchEvents` queues watch deliveries until `releaseWatchEvents` (or
 * `dropWatchEvents`, which loses them); `holdNextAnswer` applies a call but keeps its answer.
 */

interface StoredKv {
  value: Buffer;
  createRevision: bigint;
  modRevision: bigint;
  version: bigint;
  lease: string;
}

interface Lease {
  ttl: number;
  keys: Set<string>;
}

interface RevisionedEvent {
  revision: bigint;
  event: IEvent;
}

/** Keys are compared as etcd does, bytewise; latin1 maps each byte to one character. */
const text = (key: Buffer | undefined): string => (key ?? Buffer.alloc(0)).toString('latin1');

const inRange = (key: string, from: string, end: string | undefined): boolean => {
  if (end === undefined) return key === from;
  if (end === '\0') return key >= from;
  return key >= from && key < end;
};

export class FakeEtcd {
  revision = 1n;
  private readonly kvs = new Map<string, StoredKv>();
  private readonly leases = new Map<string, Lease>();
  private nextLeaseId = 7000n;
  private readonly history: RevisionedEvent[] = [];
  private readonly watches = new Set<FakeWatchStream>();
  private readonly keepAlives = new Set<FakeKeepAliveStream>();
  /** Every call any client made, in order (method and request). */
  readonly calls: { client: string; method: string; req: unknown }[] = [];
  /** Every call fails with this error while set. */
  private outage: EtcdAdapterError | null = null;
  /** Keep-alive requests are left unanswered while false (a partition that etcd never sees). */
  answerKeepAlives = true;
  private txnHooks: (() => void)[] = [];
  private readonly failures = new Map<string, EtcdAdapterError[]>();
  private readonly callHooks = new Map<string, (() => void)[]>();
  private heldWatch = false;
  private silence: { promise: Promise<void>; resume: () => void } | null = null;
  private readonly heldDeliveries: (() => void)[] = [];
  private readonly heldAnswers = new Map<string, { promise: Promise<void>; release: () => void }>();

  /** The adapter's port for one host; `name` labels its calls. */
  client(name: string): EtcdRpc {
    const unary =
      <A extends unknown[], R>(method: string, fn: (...args: A) => R) =>
      async (...args: A): Promise<R> => {
        this.calls.push({ client: name, method, req: args[0] });
        await new Promise<void>((resolve) => setImmediate(resolve));
        while (this.silence !== null) await this.silence.promise;
        if (this.outage !== null) throw this.outage;
        const failure = this.failures.get(method)?.shift();
        if (failure !== undefined) throw failure;
        for (const hook of this.callHooks.get(method)?.splice(0) ?? []) hook();
        const answer = fn(...args);
        const held = this.heldAnswers.get(method);
        if (held !== undefined) {
          this.heldAnswers.delete(method);
          await held.promise;
        }
        return answer;
      };
    return {
      range: unary('range', (req: IRangeRequest) => this.range(req)),
      put: unary('put', (req: IPutRequest) => {
        const revision = this.applyPut(req);
        return { header: this.header(revision), prev_kv: undefined as unknown as IKeyValue };
      }),
      deleteRange: unary('deleteRange', (req: IDeleteRangeRequest) => {
        const deleted = this.applyDelete(req);
        return { header: this.header(), deleted: String(deleted), prev_kvs: [] };
      }),
      txn: unary('txn', (req: ITxnRequest) => this.txn(req)),
      compact: unary('compact', () => undefined),
      leaseGrant: unary('leaseGrant', (ttl: number) => {
        const id = String(this.nextLeaseId++);
        this.leases.set(id, { ttl, keys: new Set() });
        return { header: this.header(), ID: id, TTL: String(ttl), error: '' };
      }),
      leaseRevoke: unary('leaseRevoke', (id: string) => {
        this.expireLease(id);
      }),
      leaseTimeToLive: unary('leaseTimeToLive', (id: string) => {
        const lease = this.leases.get(String(id));
        return {
          header: this.header(),
          ID: String(id),
          TTL: lease === undefined ? '-1' : String(lease.ttl),
          grantedTTL: lease === undefined ? '0' : String(lease.ttl),
          keys: [],
        };
      }),
      leaseKeepAlive: unary('leaseKeepAlive', () => {
        const stream = new FakeKeepAliveStream(this);
        this.keepAlives.add(stream);
        return stream;
      }),
      watch: unary('watch', () => {
        const stream = new FakeWatchStream(this);
        this.watches.add(stream);
        return stream;
      }),
      close: () => undefined,
    };
  }

  // ---- the test's handles ----

  /**
   * A frozen etcd (SIGSTOP, a stalled disk): calls get no answer until it is unfrozen, then are
   * answered; keep-alive requests sent meanwhile are never answered.
   */
  set silent(silent: boolean) {
    if (silent && this.silence === null) {
      let resume = () => undefined as void;
      const promise = new Promise<void>((resolve) => (resume = resolve));
      this.silence = { promise, resume };
    } else if (!silent && this.silence !== null) {
      const { resume } = this.silence;
      this.silence = null;
      resume();
    }
  }

  get silent(): boolean {
    return this.silence !== null;
  }

  /** Starts (or ends, with null) an outage: every call and open stream fails. */
  set down(error: EtcdAdapterError | null) {
    this.outage = error;
    if (error === null) return;
    for (const stream of [...this.keepAlives, ...this.watches]) stream.fail(error);
  }

  get down(): EtcdAdapterError | null {
    return this.outage;
  }

  static unavailable(): EtcdAdapterError {
    return new EtcdUnavailableError('fake etcd: no member answers');
  }

  /** The next `times` calls of `method` (any client) reject with `error`. */
  failNext(method: keyof EtcdRpc, error: EtcdAdapterError, times = 1): void {
    const queue = this.failures.get(method) ?? [];
    for (let i = 0; i < times; i++) queue.push(error);
    this.failures.set(method, queue);
  }

  /** Runs `fn` right before the next call of `method` is answered (a write landing in between). */
  beforeNext(method: keyof EtcdRpc, fn: () => void): void {
    this.callHooks.set(method, [...(this.callHooks.get(method) ?? []), fn]);
  }

  /** etcd compacted past every open watch: each is canceled with a compact revision. */
  compactWatches(): void {
    for (const watch of [...this.watches]) watch.compacted(this.revision);
  }

  /** Runs `fn` right before the next transaction is evaluated (state another host wrote meanwhile). */
  beforeTxn(fn: () => void): void {
    this.txnHooks.push(fn);
  }

  /**
   * The next call of `method` is applied (its watch events go out) but its answer waits until the
   * returned function is called: a reply that arrives after the watch has told the news.
   */
  holdNextAnswer(method: string): () => void {
    let release = () => undefined as void;
    const promise = new Promise<void>((resolve) => (release = resolve));
    this.heldAnswers.set(method, { promise, release });
    return release;
  }

  holdWatchEvents(): void {
    this.heldWatch = true;
  }

  /** The held deliveries never arrive (a consumer that lost them); later ones flow again. */
  dropWatchEvents(): void {
    this.heldWatch = false;
    this.heldDeliveries.splice(0);
  }

  releaseWatchEvents(): void {
    this.heldWatch = false;
    for (const deliver of this.heldDeliveries.splice(0)) deliver();
  }

  /** A lease granted outside any client (an earlier run's, another host's). */
  grantLease(ttl: number): string {
    const id = String(this.nextLeaseId++);
    this.leases.set(id, { ttl, keys: new Set() });
    return id;
  }

  /** etcd expires (or revokes) a lease: its keys are deleted, one revision each, as etcd does. */
  expireLease(id: string): void {
    const lease = this.leases.get(String(id));
    if (lease === undefined) return;
    this.leases.delete(String(id));
    for (const key of lease.keys) this.applyDelete({ key: Buffer.from(key, 'latin1') });
  }

  hasLease(id: string): boolean {
    return this.leases.has(String(id));
  }

  /** Writes as another client would (no call recorded). */
  put(key: string, value: string, lease = '0'): bigint {
    return this.applyPut({ key: Buffer.from(key), value: Buffer.from(value), lease });
  }

  delete(key: string): void {
    this.applyDelete({ key: Buffer.from(key) });
  }

  get(key: string): { value: string; lease: string } | undefined {
    const kv = this.kvs.get(text(Buffer.from(key)));
    return kv === undefined ? undefined : { value: kv.value.toString(), lease: kv.lease };
  }

  /** The transactions sent so far (by `client`, or any) whose first compare is on `key`. */
  txnsOn(key: string, client?: string): ITxnRequest[] {
    return this.calls
      .filter((c) => c.method === 'txn' && (client === undefined || c.client === client))
      .map((c) => c.req as ITxnRequest)
      .filter((req) => req.compare?.[0]?.key?.toString() === key);
  }

  // ---- etcd's rules ----

  header(revision = this.revision): IResponseHeader {
    return { cluster_id: '1', member_id: '1', revision: String(revision), raft_term: '1' };
  }

  private toKv(key: string, kv: StoredKv, keysOnly = false): IKeyValue {
    return {
      key: Buffer.from(key, 'latin1'),
      value: keysOnly ? Buffer.alloc(0) : kv.value,
      create_revision: String(kv.createRevision),
      mod_revision: String(kv.modRevision),
      version: String(kv.version),
      lease: kv.lease,
    };
  }

  private range(req: IRangeRequest): IRangeResponse {
    const from = text(req.key);
    const end = req.range_end === undefined ? undefined : text(req.range_end);
    const kvs = [...this.kvs.entries()]
      .filter(([key]) => inRange(key, from, end))
      .sort(([a], [b]) => (a < b ? -1 : 1))
      .map(([key, kv]) => this.toKv(key, kv, req.keys_only === true));
    return { header: this.header(), kvs, more: false, count: String(kvs.length) };
  }

  private applyPut(req: IPutRequest, revision = ++this.revision): bigint {
    const key = text(req.key);
    const lease = String(req.lease ?? '0');
    if (lease !== '0' && !this.leases.has(lease)) throw new Error(`fake etcd: lease ${lease} not found`);
    const before = this.kvs.get(key);
    if (before !== undefined && before.lease !== '0') this.leases.get(before.lease)?.keys.delete(key);
    const kv: StoredKv = {
      value: Buffer.from(req.value ?? Buffer.alloc(0)),
      createRevision: before?.createRevision ?? revision,
      modRevision: revision,
      version: (before?.version ?? 0n) + 1n,
      lease,
    };
    this.kvs.set(key, kv);
    if (lease !== '0') this.leases.get(lease)?.keys.add(key);
    this.record(revision, {
      type: 'Put',
      kv: this.toKv(key, kv),
      prev_kv: undefined as unknown as IKeyValue,
    });
    return revision;
  }

  private applyDelete(req: IDeleteRangeRequest, revision?: bigint): number {
    const from = text(req.key);
    const end = req.range_end === undefined ? undefined : text(req.range_end);
    const doomed = [...this.kvs.keys()].filter((key) => inRange(key, from, end));
    if (doomed.length === 0) return 0;
    const rev = revision ?? ++this.revision;
    for (const key of doomed) {
      const kv = this.kvs.get(key)!;
      this.kvs.delete(key);
      if (kv.lease !== '0') this.leases.get(kv.lease)?.keys.delete(key);
      const tombstone = { ...kv, value: Buffer.alloc(0), modRevision: rev, lease: '0' };
      this.record(rev, {
        type: 'Delete',
        kv: this.toKv(key, tombstone),
        prev_kv: undefined as unknown as IKeyValue,
      });
    }
    return doomed.length;
  }

  private compare(c: ICompare): boolean {
    const kv = this.kvs.get(text(c.key));
    const target = String(c.target);
    let left: bigint | string;
    let right: bigint | string;
    if (target === 'Create') {
      left = kv?.createRevision ?? 0n;
      right = BigInt(c.create_revision ?? 0);
    } else if (target === 'Mod') {
      left = kv?.modRevision ?? 0n;
      right = BigInt(c.mod_revision ?? 0);
    } else if (target === 'Version') {
      left = kv?.version ?? 0n;
      right = BigInt(c.version ?? 0);
    } else if (target === 'Lease') {
      // etcd: a compare on a missing key's value or lease fails.
      if (kv === undefined) return false;
      left = BigInt(kv.lease);
      right = BigInt(c.lease ?? 0);
    } else if (target === 'Value') {
      if (kv === undefined) return false;
      left = kv.value.toString('latin1');
      right = text(c.value);
    } else {
      throw new Error(`fake etcd: compare target ${target} not modelled`);
    }
    const result = String(c.result ?? 'Equal');
    if (result === 'Equal') return left === right;
    if (result === 'NotEqual') return left !== right;
    if (result === 'Greater') return left > right;
    if (result === 'Less') return left < right;
    throw new Error(`fake etcd: compare result ${result} not modelled`);
  }

  private txn(req: ITxnRequest): ITxnResponse {
    for (const hook of this.txnHooks.splice(0)) hook();
    const succeeded = (req.compare ?? []).every((c) => this.compare(c));
    const ops = (succeeded ? req.success : req.failure) ?? [];
    const writes = ops.some((op) => op.request_put !== undefined || op.request_delete_range !== undefined);
    // One revision for the whole transaction, as etcd does.
    const revision = writes ? ++this.revision : this.revision;
    const responses = ops.map((op) => this.applyOp(op, revision));
    return { header: this.header(), succeeded, responses };
  }

  private applyOp(op: IRequestOp, revision: bigint): IResponseOp {
    const none = undefined as never;
    if (op.request_range !== undefined) {
      return {
        response_range: this.range(op.request_range),
        response_put: none,
        response_delete_range: none,
        response_txn: none,
      };
    }
    if (op.request_put !== undefined) {
      this.applyPut(op.request_put, revision);
      return {
        response_range: none,
        response_put: { header: this.header(), prev_kv: none },
        response_delete_range: none,
        response_txn: none,
      };
    }
    if (op.request_delete_range !== undefined) {
      const deleted = this.applyDelete(op.request_delete_range, revision);
      return {
        response_range: none,
        response_put: none,
        response_delete_range: { header: this.header(), deleted: String(deleted), prev_kvs: [] },
        response_txn: none,
      };
    }
    throw new Error('fake etcd: nested transactions are not modelled');
  }

  private record(revision: bigint, event: IEvent): void {
    this.history.push({ revision, event });
    for (const watch of this.watches) watch.offer(event);
  }

  /** Events at or after `from` under the watch's range, for a new watch. */
  replay(from: bigint, key: string, end: string | undefined): RevisionedEvent[] {
    return this.history.filter((e) => e.revision >= from && inRange(text(e.event.kv.key), key, end));
  }

  deliver(fn: () => void): void {
    if (this.heldWatch) this.heldDeliveries.push(fn);
    else setImmediate(fn);
  }

  forget(stream: FakeWatchStream | FakeKeepAliveStream): void {
    this.watches.delete(stream as FakeWatchStream);
    this.keepAlives.delete(stream as FakeKeepAliveStream);
  }

  leaseTtl(id: string): number {
    return this.leases.get(String(id))?.ttl ?? 0;
  }
}

class FakeStream extends EventEmitter {
  ended = false;
  constructor(protected readonly etcd: FakeEtcd) {
    super();
  }
  end(): void {
    this.ended = true;
    this.etcd.forget(this as never);
  }
  /** As gRPC does: a stream canceled while still open reports an error. */
  cancel(): void {
    this.fail(Object.assign(new Error('1 CANCELLED: Cancelled on client'), { code: 1 }));
  }
  fail(error: Error): void {
    if (this.ended) return;
    this.end();
    setImmediate(() => this.emit('error', error));
  }
}

/** LeaseKeepAlive: each request is answered with the lease's TTL (0 once it is gone). */
export class FakeKeepAliveStream extends FakeStream {
  write(req: { ID?: string | number }): void {
    if (this.ended || !this.etcd.answerKeepAlives || this.etcd.silent) return;
    const id = String(req.ID);
    setImmediate(() => {
      if (this.ended || !this.etcd.answerKeepAlives) return;
      this.emit('data', { header: this.etcd.header(), ID: id, TTL: String(this.etcd.leaseTtl(id)) });
    });
  }
}

/** Watch: one create request per stream (what watch.ts sends); history is replayed from its start revision. */
export class FakeWatchStream extends FakeStream {
  private range: { key: string; end: string | undefined } | null = null;

  write(req: IWatchRequest): void {
    const create = req.create_request;
    if (this.ended || create === undefined) return;
    const key = text(create.key);
    const end = create.range_end === undefined ? undefined : text(create.range_end);
    const from = BigInt(create.start_revision ?? this.etcd.revision + 1n);
    const past = this.etcd.replay(from, key, end);
    this.range = { key, end };
    this.etcd.deliver(() => {
      if (this.ended) return;
      this.emit('data', this.response({ created: true, events: [] }));
      if (past.length > 0) this.emit('data', this.response({ events: past.map((e) => e.event) }));
    });
  }

  offer(event: IEvent): void {
    const range = this.range;
    if (this.ended || range === null || !inRange(text(event.kv.key), range.key, range.end)) return;
    this.etcd.deliver(() => {
      if (!this.ended) this.emit('data', this.response({ events: [event] }));
    });
  }

  compacted(revision: bigint): void {
    if (this.ended) return;
    setImmediate(() => {
      if (this.ended) return;
      this.emit('data', {
        ...this.response({ events: [] }),
        canceled: true,
        compact_revision: String(revision),
      });
    });
  }

  private response(part: { created?: boolean; events: IEvent[] }) {
    return {
      header: this.etcd.header(),
      watch_id: '1',
      created: part.created ?? false,
      canceled: false,
      compact_revision: '0',
      cancel_reason: '',
      fragment: false,
      events: part.events,
    };
  }
}
