import { isVipConfigName, type Keys } from './keys.ts';
import { decodeMember, placementOf, type MemberInfo } from './member.ts';

/**
 * The cluster view (issue 16 part 6, `GET /cluster`, `linkctl status`): every VIP some host of
 * the cluster has a record of, holds the lock of or competes for, with each host's state as etcd
 * tells it. Pure: the session reads the ranges (session.ts `clusterView()`), this decides.
 *
 * A host's state for one VIP, first match wins:
 * | state       | what etcd shows                                                                       |
 * | ----------- | ------------------------------------------------------------------------------------- |
 * | `owner`     | the lock `<prefix>/default/<ip>` names it                                              |
 * | `candidate` | its membership key `<prefix>/ips/<ip>/<host>`: it is healthy and competes             |
 * | `withdrawn` | it has a record of the VIP and a live agent key, no membership key: its checks fail    |
 * |             | (FAILING) or it is drained (`drained`)                                                 |
 * | `down`      | a record of the VIP but no live agent key `<prefix>/agents/<host>`: its agent is gone |
 *
 * A lease-less membership key is a LinK v2 host's (candidates.ts): `v2` says so, since etcd
 * alone does not tell whether that host still runs. Priority and preemption are the membership
 * key's (what the election ranks) and otherwise the host's record's; null when it has neither
 * (an owner without a record: a v2 host, or one removing the VIP).
 */

export type ClusterHostState = 'owner' | 'candidate' | 'withdrawn' | 'down';

export interface ClusterHost {
  hostname: string;
  state: ClusterHostState;
  priority: number | null;
  preempt: boolean | null;
  /** The id of this host's record of the VIP (`<prefix>/hosts/<host>/<id>`); null without one. */
  id: string | null;
  /** Its drain flag `<prefix>/drain/<host>` is set (POST /drain). */
  drained: boolean;
  /** Its membership key has no lease: a LinK v2 host's. */
  v2: boolean;
}

export interface ClusterVip {
  /** Canonical CIDR. */
  ip: string;
  /** The host the lock names, or null when the lock is free. */
  owner: string | null;
  /** The owner first, then candidates by priority (highest first), withdrawn, down; ties by name. */
  hosts: ClusterHost[];
}

export interface ClusterView {
  /** The etcd revision every range was read at (decimal). */
  revision: string;
  /** Ordered by address. */
  vips: ClusterVip[];
}

/** One key-value as read from etcd; `lease` is the decimal id, '0' for none. */
export interface RawKv {
  key: string;
  value: string;
  lease: string;
}

/** The ranges the view is built from, all read at `revision`. */
export interface ClusterRanges {
  revision: string;
  /** `<prefix>/default/` */
  locks: readonly RawKv[];
  /** `<prefix>/ips/` */
  members: readonly RawKv[];
  /** `<prefix>/hosts/` */
  records: readonly RawKv[];
  /** `<prefix>/agents/` */
  agents: readonly RawKv[];
  /** `<prefix>/drain/` */
  drains: readonly RawKv[];
}

interface Seen {
  member?: { info: MemberInfo; lease: string };
  record?: { id: string; priority: number; preempt: boolean };
}

const STATE_ORDER: Record<ClusterHostState, number> = { owner: 0, candidate: 1, withdrawn: 2, down: 3 };

/** `rest` of `key` after `prefix`, split on `/`; null when the key is not under the prefix. */
function segments(key: string, prefix: string): string[] | null {
  return key.startsWith(prefix) ? key.slice(prefix.length).split('/') : null;
}

/** Records that do not parse are skipped (one bad writer must not hide the cluster). */
function parseRecord(value: string): { ip: string; id: string; priority: number; preempt: boolean } | null {
  let parsed: unknown;
  try {
    parsed = JSON.parse(value);
  } catch {
    return null;
  }
  if (parsed === null || typeof parsed !== 'object') return null;
  const o = parsed as Record<string, unknown>;
  if (typeof o.ip !== 'string' || typeof o.id !== 'string') return null;
  const placement = placementOf({
    ...(typeof o.priority === 'number' ? { priority: o.priority } : {}),
    ...(typeof o.preempt === 'boolean' ? { preempt: o.preempt } : {}),
  });
  return { ip: o.ip, id: o.id, priority: placement.priority, preempt: placement.preempt };
}

export function buildClusterView(keys: Keys, ranges: ClusterRanges): ClusterView {
  const vips = new Map<string, { owner: string | null; hosts: Map<string, Seen> }>();
  const vip = (ip: string) => {
    let entry = vips.get(ip);
    if (!entry) vips.set(ip, (entry = { owner: null, hosts: new Map() }));
    return entry;
  };
  const seen = (ip: string, hostname: string): Seen => {
    const hosts = vip(ip).hosts;
    let entry = hosts.get(hostname);
    if (!entry) hosts.set(hostname, (entry = {}));
    return entry;
  };

  for (const kv of ranges.locks) {
    const ip = keys.cidrOfLock(kv.key);
    if (ip === null || kv.value.length === 0) continue;
    vip(ip).owner = kv.value;
    seen(ip, kv.value);
  }
  for (const kv of ranges.members) {
    const member = keys.memberOf(kv.key);
    if (member === null) continue;
    seen(member.cidr, member.hostname).member = {
      info: decodeMember(member.hostname, kv.value),
      lease: kv.lease,
    };
  }
  for (const kv of ranges.records) {
    const parts = segments(kv.key, keys.hostsRoot);
    const [hostname, name] = parts ?? [];
    if (parts?.length !== 2 || !hostname || !name || !isVipConfigName(name)) continue;
    const record = parseRecord(kv.value);
    if (record === null) continue;
    seen(record.ip, hostname).record = { id: record.id, priority: record.priority, preempt: record.preempt };
  }
  const hostsUnder = (kvs: readonly RawKv[], prefix: string) =>
    new Set(kvs.flatMap((kv) => (kv.key.startsWith(prefix) ? [kv.key.slice(prefix.length)] : [])));
  const live = hostsUnder(ranges.agents, keys.agentsPrefix);
  const drained = hostsUnder(ranges.drains, keys.drainPrefix);

  const out: ClusterVip[] = [...vips.entries()].map(([ip, { owner, hosts }]) => ({
    ip,
    owner,
    hosts: [...hosts.entries()]
      .map(([hostname, { member, record }]): ClusterHost => {
        const state: ClusterHostState =
          hostname === owner ? 'owner' : member ? 'candidate' : live.has(hostname) ? 'withdrawn' : 'down';
        return {
          hostname,
          state,
          priority: member?.info.priority ?? record?.priority ?? null,
          preempt: member?.info.preempt ?? record?.preempt ?? null,
          id: record?.id ?? null,
          drained: drained.has(hostname),
          v2: member !== undefined && (member.lease === '0' || member.lease === ''),
        };
      })
      .sort(
        (a, b) =>
          STATE_ORDER[a.state] - STATE_ORDER[b.state] ||
          (b.priority ?? -1) - (a.priority ?? -1) ||
          a.hostname.localeCompare(b.hostname),
      ),
  }));
  out.sort((a, b) => compareCidrs(a.ip, b.ip));
  return { revision: ranges.revision, vips: out };
}

/** IPv4 before IPv6, then by address (numerically per group), then by prefix length. */
function compareCidrs(a: string, b: string): number {
  const key = (cidr: string) => {
    const [address = '', prefix = '0'] = cidr.split('/');
    const v6 = address.includes(':');
    return { v6, address, prefix: Number(prefix) };
  };
  const x = key(a);
  const y = key(b);
  if (x.v6 !== y.v6) return x.v6 ? 1 : -1;
  return (
    x.address.localeCompare(y.address, 'en', { numeric: true }) || x.prefix - y.prefix || a.localeCompare(b)
  );
}
