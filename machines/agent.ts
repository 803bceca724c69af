import { enqueueActions, setup, type ActorRefFrom, type SnapshotFrom } from 'xstate';
import { type FaultPolicy, type IpMachine, type IpState } from './ip.ts';
import { vipShardMachine, type ShardVip } from './vip-shard.ts';

/**
 * The supervisor: one IP actor per configured VIP (actor id = VIP id), spawned under one of
 * SHARD_COUNT shard actors (machines/vip-shard.ts) chosen by the VIP id. Pure like the IP
 * machine; `actors/` provides the IP machine's implementations with `supervisorWith(ip)`.
 *
 * Nothing here costs O(VIPs) per change: the indexes are split into buckets by the same hash,
 * and a change copies only the buckets it touches (context is immutable), where one map of
 * every VIP was copied on every add.
 */

export type AgentVip = ShardVip;

export const SHARD_COUNT = 64;

/** FNV-1a: a stable, well-spread bucket for a VIP id or an address. */
export function shardOf(key: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) {
    hash ^= key.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  return (hash >>> 0) % SHARD_COUNT;
}

/** A map split into SHARD_COUNT buckets by `shardOf(key)`. */
export type Buckets<V> = readonly ReadonlyMap<string, V>[];

function emptyBuckets<V>(): Buckets<V> {
  return Array.from({ length: SHARD_COUNT }, () => new Map<string, V>());
}

function lookup<V>(buckets: Buckets<V>, key: string): V | undefined {
  return buckets[shardOf(key)]?.get(key);
}

/** Copy-on-write edits of buckets: each touched bucket is copied once per change. */
class BucketEdit<V> {
  private readonly next: ReadonlyMap<string, V>[];
  private readonly copied = new Set<number>();

  constructor(buckets: Buckets<V>) {
    this.next = [...buckets];
  }

  get(key: string): V | undefined {
    return lookup(this.next, key);
  }

  set(key: string, value: V): void {
    this.writable(key).set(key, value);
  }

  delete(key: string): void {
    this.writable(key).delete(key);
  }

  done(): Buckets<V> {
    return this.next;
  }

  private writable(key: string): Map<string, V> {
    const shard = shardOf(key);
    if (!this.copied.has(shard)) {
      this.next[shard] = new Map(this.next[shard]);
      this.copied.add(shard);
    }
    return this.next[shard] as Map<string, V>;
  }
}

export interface AgentContext {
  faultPolicy: FaultPolicy;
  shards: readonly ActorRefFrom<typeof vipShardMachine>[];
  /** Every VIP by id, bucketed by `shardOf(vipId)` (its shard). */
  vips: Buckets<AgentVip>;
  /**
   * VIP id by address, bucketed by `shardOf(ip)`: the duplicate-address check is O(1). The
   * agent's one index: it also holds addresses reserved (`vip.reserve`) for a VIP not added yet,
   * whose etcd put is in flight, so a second add of the address is refused meanwhile.
   */
  vipIdsByIp: Buckets<string>;
}

export interface AgentInput {
  faultPolicy: FaultPolicy;
}

export type AgentEvent =
  /**
   * One VIP or many (the agent's start, or adds that completed together): each shard gets its
   * part as one event, and spawns it with one copy of its children map.
   */
  | { type: 'vip.add'; vips: readonly AgentVip[] }
  | { type: 'vip.remove'; vipId: string }
  /** Takes the addresses of VIPs about to be added (first one wins); taken ones are skipped. */
  | { type: 'vip.reserve'; vips: readonly AgentVip[] }
  /** Frees an address reserved for a VIP that will not be added (its etcd put failed, or it was removed first). */
  | { type: 'vip.unreserve'; vipId: string; ip: string };

export type NewVipVerdict =
  { ok: true } | { ok: false; reason: 'duplicate-id' | 'duplicate-ip'; existingId: string };

/** What the duplicate check reads: the context's buckets, or the edits of a batch under way. */
interface VipLookup {
  vip(vipId: string): AgentVip | undefined;
  vipIdOf(ip: string): string | undefined;
}

function verdict(lookups: VipLookup, vip: AgentVip): NewVipVerdict {
  if (lookups.vip(vip.vipId)) return { ok: false, reason: 'duplicate-id', existingId: vip.vipId };
  const sameIp = lookups.vipIdOf(vip.ip);
  if (sameIp !== undefined && sameIp !== vip.vipId)
    return { ok: false, reason: 'duplicate-ip', existingId: sameIp };
  return { ok: true };
}

/** The supervisor's rule for a new VIP, read on its context. */
export function checkNewVip(context: AgentContext, vip: AgentVip): NewVipVerdict {
  return verdict(
    { vip: (id) => lookup(context.vips, id), vipIdOf: (ip) => lookup(context.vipIdsByIp, ip) },
    vip,
  );
}

export const agentMachine = setup({
  types: {
    context: {} as AgentContext,
    events: {} as AgentEvent,
    input: {} as AgentInput,
  },
  actors: {
    shard: vipShardMachine,
  },
}).createMachine({
  id: 'agent',
  context: ({ input, spawn }) => ({
    faultPolicy: input.faultPolicy,
    shards: Array.from({ length: SHARD_COUNT }, (_, i) =>
      spawn('shard', { id: `shard-${i}`, input: { faultPolicy: input.faultPolicy } }),
    ),
    vips: emptyBuckets(),
    vipIdsByIp: emptyBuckets(),
  }),
  on: {
    'vip.add': {
      // A VIP whose id or address is taken (by an existing VIP or earlier in the batch) is
      // refused: the first one wins.
      actions: enqueueActions(({ context, event, enqueue }) => {
        const vips = new BucketEdit(context.vips);
        const vipIdsByIp = new BucketEdit(context.vipIdsByIp);
        const byShard = new Map<number, AgentVip[]>();
        for (const vip of event.vips) {
          if (!verdict({ vip: (id) => vips.get(id), vipIdOf: (ip) => vipIdsByIp.get(ip) }, vip).ok) continue;
          vips.set(vip.vipId, vip);
          vipIdsByIp.set(vip.ip, vip.vipId);
          const shard = shardOf(vip.vipId);
          const batch = byShard.get(shard);
          if (batch) batch.push(vip);
          else byShard.set(shard, [vip]);
        }
        if (byShard.size === 0) return;
        enqueue.assign({ vips: vips.done(), vipIdsByIp: vipIdsByIp.done() });
        for (const [shard, batch] of byShard) {
          const ref = context.shards[shard];
          if (ref) enqueue.sendTo(ref, { type: 'vip.add', vips: batch });
        }
      }),
    },
    'vip.reserve': {
      actions: enqueueActions(({ context, event, enqueue }) => {
        const vipIdsByIp = new BucketEdit(context.vipIdsByIp);
        let changed = false;
        for (const vip of event.vips) {
          if (vipIdsByIp.get(vip.ip) !== undefined) continue;
          vipIdsByIp.set(vip.ip, vip.vipId);
          changed = true;
        }
        if (changed) enqueue.assign({ vipIdsByIp: vipIdsByIp.done() });
      }),
    },
    'vip.unreserve': {
      actions: enqueueActions(({ context, event, enqueue }) => {
        if (lookup(context.vipIdsByIp, event.ip) !== event.vipId || lookup(context.vips, event.vipId)) return;
        const vipIdsByIp = new BucketEdit(context.vipIdsByIp);
        vipIdsByIp.delete(event.ip);
        enqueue.assign({ vipIdsByIp: vipIdsByIp.done() });
      }),
    },
    'vip.remove': {
      actions: enqueueActions(({ context, event, enqueue }) => {
        const removed = lookup(context.vips, event.vipId);
        if (!removed) return;
        const vips = new BucketEdit(context.vips);
        const vipIdsByIp = new BucketEdit(context.vipIdsByIp);
        vips.delete(removed.vipId);
        vipIdsByIp.delete(removed.ip);
        enqueue.assign({ vips: vips.done(), vipIdsByIp: vipIdsByIp.done() });
        const ref = context.shards[shardOf(removed.vipId)];
        if (ref) enqueue.sendTo(ref, { type: 'vip.remove', vipId: removed.vipId });
      }),
    },
  },
});

/** The supervisor with the IP machine's implementations (actors/ provides them). */
export function supervisorWith(ip: IpMachine): typeof agentMachine {
  return agentMachine.provide({ actors: { shard: vipShardMachine.provide({ actors: { ip } }) } });
}

export type AgentMachine = typeof agentMachine;
export type AgentSnapshot = SnapshotFrom<AgentMachine>;

export interface VipState extends AgentVip {
  state: IpState;
}

/** The IP actor of one VIP, if it runs. */
export function ipActorOf(snapshot: AgentSnapshot, vipId: string): ActorRefFrom<IpMachine> | undefined {
  const shard = snapshot.context.shards[shardOf(vipId)];
  return shard?.getSnapshot().children[vipId];
}

/** The VIP that holds or has reserved this address, if any. */
export function vipIdOfAddress(snapshot: AgentSnapshot, ip: string): string | undefined {
  return lookup(snapshot.context.vipIdsByIp, ip);
}

/** Every address held or reserved by a VIP of the agent. */
export function addressesOf(snapshot: AgentSnapshot): string[] {
  return snapshot.context.vipIdsByIp.flatMap((bucket) => [...bucket.keys()]);
}

/** The ids of every running IP actor (tests, leak checks). */
export function ipActorIds(snapshot: AgentSnapshot): string[] {
  return snapshot.context.shards.flatMap((shard) => Object.keys(shard.getSnapshot().children));
}

/** The current state of one VIP's IP actor (BOOTING until it runs). */
export function vipStateOf(snapshot: AgentSnapshot, vipId: string): IpState {
  return ipActorOf(snapshot, vipId)?.getSnapshot().value ?? 'BOOTING';
}

/** Every VIP of the agent with its IP actor's current state. */
export function listVipStates(snapshot: AgentSnapshot): VipState[] {
  return snapshot.context.vips.flatMap((bucket) =>
    [...bucket.values()].map((vip) => ({ ...vip, state: vipStateOf(snapshot, vip.vipId) })),
  );
}
