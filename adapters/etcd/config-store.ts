import type { ICompare, IKeyValue, IRequestOp, ITxnRequest, ITxnResponse } from 'etcd3';
import { backoffDelay, type BackoffPolicy } from '../backoff.ts';
import { EtcdBadValueError, EtcdRequestError, isRecoverable } from './errors.ts';
import { isVipConfigName } from './keys.ts';
import type { Keys } from './keys.ts';
import type { Logger } from '../logger.ts';
import type { EtcdRpc } from './rpc.ts';
import type { AddResult, ConfigStore, StoredVip } from './types.ts';
import { prefixRangeEnd } from './keys.ts';

export function parseStoredVip(raw: string, key: string): StoredVip {
  let value: unknown;
  try {
    value = JSON.parse(raw);
  } catch (err) {
    throw new EtcdBadValueError(`${key}: not JSON`, { cause: err });
  }
  return toStoredVip(value, key);
}

/** One VIP configuration already parsed from JSON (etcd's value, a local cache's entry), checked. */
export function toStoredVip(value: unknown, where: string): StoredVip {
  const vip = value as { id?: unknown; ip?: unknown; checks?: unknown };
  if (
    typeof value !== 'object' ||
    value === null ||
    typeof vip.id !== 'string' ||
    typeof vip.ip !== 'string' ||
    !(vip.checks === undefined || vip.checks === null || Array.isArray(vip.checks))
  ) {
    throw new EtcdBadValueError(`${where}: not a VIP configuration (id, ip, checks)`);
  }
  // LinK v2 omits `checks` when there are none (Go's omitempty).
  return { ...(value as StoredVip), checks: Array.isArray(vip.checks) ? vip.checks : [] };
}

/** How often a refused write's undo is retried while etcd cannot be reached. */
const UNDO_RETRY: BackoffPolicy = { initialDelayMs: 100, maxDelayMs: 2000, factor: 2, jitter: 0.2 };

/** A write whose fence moved under it (another writer for this host) is sent again this often. */
const FENCE_ATTEMPTS = 4;

/** Steps of the start's index migration sent in one transaction (etcd allows 128 operations). */
const MIGRATION_BATCH = 64;

interface FoundRecord {
  vip: StoredVip;
  kv: IKeyValue;
}

/** One guarded write of the start's index migration. */
interface MigrationStep {
  compare: ICompare[];
  op: IRequestOp;
}

const FENCE_VALUE_NOTE = 'the revision of this key fences LinK configuration writes';

/**
 * This host's VIP configuration at `<prefix>/hosts/<hostname>/<vip-id>` (JSON, no lease: it
 * survives the agent), with its address index `<prefix>/addresses/<hostname>/<storable-ip>` (the
 * VIP's id) written in the same transactions: an add is `if createRevision(index) == 0 then put
 * index, put record`, so one address has one record per host whatever the agent knows
 * (adapters/etcd/README.md, "Configuration writes").
 *
 * A write that fails with a recoverable error (a timeout, etcd unreachable) may still be applied
 * later: its request can sit in a TCP buffer behind a partition and reach etcd when it heals. The
 * caller reports such a write as refused and changes nothing locally, so the store makes etcd agree:
 * every write is conditioned on the revision of the host's fence key `<prefix>/fences/<hostname>`,
 * and the undo of a refused write (etcd put back to the last accepted state of that VIP) moves the
 * fence in the same transaction. A late copy of the refused write then fails its comparison. Undos
 * run in the background until etcd takes them, and before any other write. `list()` (the agent's
 * start) moves the fence too, so a write left behind by an earlier process of this host cannot
 * land after it.
 *
 * The lease id key in the hosts folder is skipped; an unreadable value is logged and skipped so one
 * bad key does not stop the agent. Records written without an index (LinK before the index, LinK
 * v2, etcdctl) are indexed by `list()`; a second record of the same address is deleted there.
 */
export class EtcdConfigStore implements ConfigStore {
  private readonly prefix: string;
  private readonly fenceKey: Buffer;
  /** The fence's mod revision every write compares with; null: not read yet (the first write moves it). */
  private fence: string | null = null;
  /** What etcd must hold for each VIP written or read (null: no record), the undos' target. */
  private readonly accepted = new Map<string, StoredVip | null>();
  /** VIPs whose last write was refused and may still land (by id): undone before any other write. */
  private readonly refused = new Map<string, StoredVip>();
  private readonly inFlight = new Set<Promise<unknown>>();
  private settling: Promise<void> | null = null;
  private retryTimer: NodeJS.Timeout | undefined;
  private undoFailures = 0;

  constructor(
    private readonly rpc: EtcdRpc,
    private readonly keys: Keys,
    private readonly hostname: string,
    private readonly logger: Logger,
  ) {
    this.prefix = keys.hostPrefix(hostname);
    this.fenceKey = Buffer.from(keys.configFence(hostname));
  }

  async list(): Promise<StoredVip[]> {
    while (this.undoing()) await this.settleOnce();
    return this.track(this.listNow());
  }

  add(vip: StoredVip): Promise<AddResult> {
    return this.write(vip, null, () => this.addNow(vip));
  }

  update(previous: StoredVip, next: StoredVip): Promise<void> {
    return this.write(previous, previous, async () => {
      await this.fenced(() => ({ success: [this.putRecord(next)] }));
      this.accept(next.id, next);
    });
  }

  delete(vip: StoredVip): Promise<void> {
    return this.write(vip, vip, async () => {
      await this.deleteRecord(vip, false);
      this.accept(vip.id, null);
    });
  }

  /** Resolves once no refused write can land any more; rejects while etcd cannot take the undos. */
  settle(): Promise<void> {
    if (this.refused.size === 0) return Promise.resolve();
    this.settling ??= this.undoAll().finally(() => (this.settling = null));
    return this.settling;
  }

  /** VIP ids whose refused write is not undone yet (tests, logs). */
  get pendingUndos(): readonly string[] {
    return [...this.refused.keys()];
  }

  // ---- writes ----

  /**
   * Runs one write after the pending undos. A recoverable failure marks the VIP refused: its state
   * before this write (`before`, or what an earlier write of it was accepted as) is put back.
   */
  private async write<T>(vip: StoredVip, before: StoredVip | null, work: () => Promise<T>): Promise<T> {
    // No await between the last check and track(): an undo starting later waits for this write.
    while (this.undoing()) await this.settleOnce();
    try {
      return await this.track(work());
    } catch (err) {
      if (isRecoverable(err)) {
        if (!this.accepted.has(vip.id)) this.accepted.set(vip.id, before);
        this.refused.set(vip.id, vip);
        this.scheduleUndo(0);
      }
      throw err;
    }
  }

  /** What etcd holds for a VIP once a write of it is taken; a deleted VIP is forgotten unless refused. */
  private accept(id: string, vip: StoredVip | null): void {
    if (vip === null && !this.refused.has(id)) this.accepted.delete(id);
    else this.accepted.set(id, vip);
  }

  private async addNow(vip: StoredVip): Promise<AddResult> {
    const index = Buffer.from(this.keys.addressIndex(this.hostname, vip.ip));
    let guard: ICompare = { key: index, target: 'Create', result: 'Equal', create_revision: 0 };
    for (let attempt = 0; attempt < FENCE_ATTEMPTS; attempt++) {
      const res = await this.fenced(() => ({
        compare: [guard],
        success: [this.putIndex(vip), this.putRecord(vip)],
        failure: [{ request_range: { key: index } }],
      }));
      if (res.succeeded) {
        this.accept(vip.id, vip);
        return { added: true };
      }
      const holder = res.responses[1]?.response_range.kvs[0];
      if (holder === undefined) {
        guard = { key: index, target: 'Create', result: 'Equal', create_revision: 0 };
        continue;
      }
      const existingId = holder.value.toString();
      if (await this.recordExists(existingId)) return { added: false, existingId };
      // The index names a record that is gone (deleted with etcdctl): this add takes the address.
      guard = { key: index, target: 'Mod', result: 'Equal', mod_revision: holder.mod_revision };
    }
    throw new EtcdRequestError(`add ${vip.ip}: the address index of ${this.hostname} keeps changing`);
  }

  /** Deletes the record, and its index key when it names this VIP; `moveFence` for an undo. */
  private async deleteRecord(vip: StoredVip, moveFence: boolean): Promise<void> {
    const index = Buffer.from(this.keys.addressIndex(this.hostname, vip.ip));
    const fence = moveFence ? [this.putFence()] : [];
    const res = await this.fenced(() => ({
      compare: [{ key: index, target: 'Value', result: 'Equal', value: Buffer.from(vip.id) }],
      success: [
        { request_delete_range: { key: index } },
        { request_delete_range: { key: this.recordKey(vip.id) } },
        ...fence,
      ],
    }));
    // The index names another VIP or nothing (a record from before the index): the record alone.
    if (!res.succeeded) {
      await this.fenced(() => ({
        success: [{ request_delete_range: { key: this.recordKey(vip.id) } }, ...fence],
      }));
    }
  }

  /**
   * One transaction conditioned on the fence (its first comparison; the first response of the
   * failure branch reads it). A moved fence (another writer for this host: an earlier process's
   * start, a second agent with this hostname) is read again and the transaction sent again; the
   * answer is the first one etcd decided on other grounds than the fence.
   */
  private async fenced(
    build: () => Omit<ITxnRequest, 'compare'> & { compare?: ICompare[] },
  ): Promise<ITxnResponse> {
    if (this.fence === null) await this.moveFence();
    for (let attempt = 0; attempt < FENCE_ATTEMPTS; attempt++) {
      const fence = this.fence!;
      const req = build();
      const res = await this.rpc.txn({
        compare: [
          { key: this.fenceKey, target: 'Mod', result: 'Equal', mod_revision: fence },
          ...(req.compare ?? []),
        ],
        success: req.success ?? [],
        failure: [{ request_range: { key: this.fenceKey } }, ...(req.failure ?? [])],
      });
      if (res.succeeded) {
        if ((req.success ?? []).some((op) => op.request_put?.key?.equals(this.fenceKey))) {
          this.fence = res.header.revision;
        }
        return res;
      }
      const now = res.responses[0]?.response_range.kvs[0]?.mod_revision ?? '0';
      if (now === fence) return res;
      this.fence = now;
    }
    throw new EtcdRequestError(`configuration of ${this.hostname}: its fence keeps moving`);
  }

  private async moveFence(): Promise<void> {
    const res = await this.rpc.put({ key: this.fenceKey, value: Buffer.from(FENCE_VALUE_NOTE) });
    this.fence = res.header.revision;
  }

  // ---- undos ----

  /** Whether an undo is pending or running: writes wait for it, and fail with it. */
  private undoing(): boolean {
    return this.settling !== null || this.refused.size > 0;
  }

  private settleOnce(): Promise<void> {
    return this.settling ?? this.settle();
  }

  /** Waits for the writes in flight (a refusal may come from them), then undoes every refused one. */
  private async undoAll(): Promise<void> {
    while (this.inFlight.size > 0) await Promise.allSettled([...this.inFlight]);
    try {
      for (const [id, vip] of [...this.refused]) {
        await this.undo(vip);
        this.refused.delete(id);
      }
      this.undoFailures = 0;
    } catch (err) {
      this.undoFailures++;
      this.scheduleUndo(backoffDelay(UNDO_RETRY, this.undoFailures));
      throw err;
    }
  }

  /** Puts etcd back to the VIP's accepted state, moving the fence in the same transaction. */
  private async undo(vip: StoredVip): Promise<void> {
    const target = this.accepted.get(vip.id) ?? null;
    if (target === null) {
      // An add that was refused (or a VIP whose delete etcd took before a refused write of it).
      await this.deleteRecord(vip, true);
      this.accepted.delete(vip.id);
    } else {
      await this.fenced(() => ({
        success: [this.putIndex(target), this.putRecord(target), this.putFence()],
      }));
    }
    this.logger.info('etcd: a refused configuration write is undone', { vipId: vip.id, ip: vip.ip });
  }

  private scheduleUndo(delayMs: number): void {
    if (this.retryTimer !== undefined) return;
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      this.settle().catch(() => undefined);
    }, delayMs);
    this.retryTimer.unref();
  }

  private track<T>(work: Promise<T>): Promise<T> {
    this.inFlight.add(work);
    const forget = (): void => void this.inFlight.delete(work);
    work.then(forget, forget);
    return work;
  }

  // ---- start: read and index ----

  private async listNow(): Promise<StoredVip[]> {
    // Moved first: whatever an earlier process of this host left in flight cannot land after the read.
    await this.moveFence();
    const records = Buffer.from(this.prefix);
    const indexPrefix = this.keys.addressIndexPrefix(this.hostname);
    const index = Buffer.from(indexPrefix);
    // One transaction: the records and the index as of one revision.
    const res = await this.rpc.txn({
      success: [
        {
          request_range: {
            key: records,
            range_end: prefixRangeEnd(records),
            sort_target: 'Key',
            sort_order: 'Ascend',
          },
        },
        { request_range: { key: index, range_end: prefixRangeEnd(index) } },
      ],
    });
    const byAddress = new Map<string, FoundRecord[]>();
    for (const kv of res.responses[0]?.response_range.kvs ?? []) {
      const name = kv.key.toString().slice(this.prefix.length);
      if (!isVipConfigName(name)) continue;
      try {
        const vip = parseStoredVip(kv.value.toString(), kv.key.toString());
        byAddress.set(vip.ip, [...(byAddress.get(vip.ip) ?? []), { vip, kv }]);
      } catch (err) {
        this.logger.warn('etcd: skipping unreadable VIP configuration', {
          key: kv.key.toString(),
          error: String(err),
        });
      }
    }
    const indexed = new Map<string, IKeyValue>();
    for (const kv of res.responses[1]?.response_range.kvs ?? []) indexed.set(kv.key.toString(), kv);
    const vips: StoredVip[] = [];
    const steps: MigrationStep[] = [];
    for (const [ip, found] of byAddress) {
      const indexKey = this.keys.addressIndex(this.hostname, ip);
      const entry = indexed.get(indexKey);
      indexed.delete(indexKey);
      const kept = this.keepOne(found, entry);
      vips.push(kept.vip);
      steps.push(...this.migration(ip, kept, found, entry));
    }
    // Index keys whose record is gone (deleted with etcdctl): the address is free again.
    for (const kv of indexed.values()) {
      steps.push({
        compare: [{ key: kv.key, target: 'Mod', result: 'Equal', mod_revision: kv.mod_revision }],
        op: { request_delete_range: { key: kv.key } },
      });
    }
    await this.runMigration(steps).catch((err: unknown) =>
      this.logger.warn('etcd: the address index is not complete (tried again at the next start)', {
        error: String(err),
      }),
    );
    vips.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    for (const vip of vips) this.accepted.set(vip.id, vip);
    return vips;
  }

  /** The record the index names, else the oldest (the one LinK without the index ran first). */
  private keepOne(found: FoundRecord[], entry: IKeyValue | undefined): FoundRecord {
    const named = entry === undefined ? undefined : found.find((f) => f.vip.id === entry.value.toString());
    if (named !== undefined) return named;
    return found.reduce((a, b) => (BigInt(b.kv.create_revision) < BigInt(a.kv.create_revision) ? b : a));
  }

  /** Indexing the kept record and deleting the other records of its address, each on its guard. */
  private migration(
    ip: string,
    kept: FoundRecord,
    found: FoundRecord[],
    entry: IKeyValue | undefined,
  ): MigrationStep[] {
    const steps: MigrationStep[] = [];
    if (entry?.value.toString() !== kept.vip.id) {
      const index = Buffer.from(this.keys.addressIndex(this.hostname, ip));
      steps.push({
        compare: [
          entry === undefined
            ? { key: index, target: 'Create', result: 'Equal', create_revision: 0 }
            : { key: index, target: 'Mod', result: 'Equal', mod_revision: entry.mod_revision },
        ],
        op: this.putIndex(kept.vip),
      });
    }
    for (const duplicate of found.filter((f) => f !== kept)) {
      this.logger.warn('etcd: deleting a second VIP configuration of one address', {
        key: duplicate.kv.key.toString(),
        ip,
        kept: kept.vip.id,
      });
      steps.push({
        compare: [
          { key: duplicate.kv.key, target: 'Mod', result: 'Equal', mod_revision: duplicate.kv.mod_revision },
        ],
        op: { request_delete_range: { key: duplicate.kv.key } },
      });
    }
    return steps;
  }

  /**
   * Up to MIGRATION_BATCH steps a transaction (a store of 2,000 VIPs without the index took 2 s
   * one by one at the first start); a batch etcd refuses on a guard is redone step by step, and a
   * step whose guard fails (the key changed since the read) is left for the next start.
   */
  private async runMigration(steps: MigrationStep[]): Promise<void> {
    for (let at = 0; at < steps.length; at += MIGRATION_BATCH) {
      const batch = steps.slice(at, at + MIGRATION_BATCH);
      const res = await this.fenced(() => ({
        compare: batch.flatMap((step) => step.compare),
        success: batch.map((step) => step.op),
      }));
      if (res.succeeded || batch.length === 1) continue;
      for (const step of batch) await this.fenced(() => ({ compare: step.compare, success: [step.op] }));
    }
  }

  // ---- keys and ops ----

  private recordKey(id: string): Buffer {
    return Buffer.from(this.keys.config(this.hostname, id));
  }

  private async recordExists(id: string): Promise<boolean> {
    if (!isVipConfigName(id)) return false;
    const res = await this.rpc.range({ key: this.recordKey(id), keys_only: true });
    return res.kvs.length > 0;
  }

  private putRecord(vip: StoredVip): IRequestOp {
    return { request_put: { key: this.recordKey(vip.id), value: Buffer.from(JSON.stringify(vip)) } };
  }

  private putIndex(vip: StoredVip): IRequestOp {
    return {
      request_put: {
        key: Buffer.from(this.keys.addressIndex(this.hostname, vip.ip)),
        value: Buffer.from(vip.id),
      },
    };
  }

  private putFence(): IRequestOp {
    return { request_put: { key: this.fenceKey, value: Buffer.from(FENCE_VALUE_NOTE) } };
  }
}
