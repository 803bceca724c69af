/**
 * Every etcd key LinK uses, built in one place. Layout (prefix default `/link`):
 *
 * | key                                       | value            | lease   |
 * |-------------------------------------------|------------------|---------|
 * | `<prefix>/default/<storable-ip>`          | owner's hostname | owner's |
 * | `<prefix>/ips/<storable-ip>/<host>`       | hostname         | host's  |
 * | `<prefix>/hosts/<host>/<vip-id>`          | JSON StoredVip   | none    |
 * | `<prefix>/config/<host>`                  | JSON HostConfig  | none    |
 * | `<prefix>/agents/<host>`                  | JSON HostRecord  | host's  |
 * | `<prefix>/addresses/<host>/<storable-ip>` | the VIP's id     | none    |
 * | `<prefix>/fences/<host>`                  | a note           | none    |
 * | `<prefix>/drain/<host>`                   | JSON DrainRecord | none    |
 *
 * `agents/`, `addresses/`, `fences/` and `drain/` are LinK's own (LinK v2 reads `hosts/<host>/*` as VIP
 * configurations and panics at start on anything else, so nothing else may go there).
 * `config/<host>` is v2's own host record, `{"hostname":…,"lease_id":…}` (host-config.ts): the
 * lease id lives where v2 keeps it, so a host rolled back to v2 reuses LinK's lease while it
 * lives. Earlier LinK releases kept it at `hosts/<host>/lease` (`legacyLease`), which made v2
 * panic; the session moves it at start. `agents/`: what each live agent says its
 * interfaces hold, so no agent takes them as a VIP. `addresses/`: the address index, one key per
 * host and address, created in the same transaction as the VIP's record (so one address has one
 * record per host). `fences/`: the revision every configuration write of the host is conditioned
 * on (config-store.ts says why). `drain/<host>`: present while the host is drained (POST /drain,
 * drain-store.ts); no lease, so it outlives the agent until DELETE /drain.
 *
 * `storable-ip` is LinK v2's rule: the CIDR with `/` replaced by `_` (`198.18.0.10/32` ->
 * `198.18.0.10_32`, `2001:db8::1/128` -> `2001:db8::1_128`).
 */

export const DEFAULT_PREFIX = '/link';

/** The host key where earlier releases kept the lease id; never a VIP id (those are `vip-<uuid>`). */
export const LEASE_KEY_NAME = 'lease';

export function storableIp(cidr: string): string {
  return cidr.replaceAll('/', '_');
}

export function cidrFromStorable(storable: string): string {
  const at = storable.lastIndexOf('_');
  return at < 0 ? storable : `${storable.slice(0, at)}/${storable.slice(at + 1)}`;
}

/** Strips trailing slashes; an empty prefix is allowed (keys then start at `/`). */
export function normalizePrefix(prefix: string): string {
  return prefix.replace(/\/+$/, '');
}

export interface Keys {
  readonly prefix: string;
  /** `<prefix>/default/`: the range every lock key lives in (one prefix watch covers it). */
  readonly lockPrefix: string;
  lock(cidr: string): string;
  /** The CIDR of a lock key, or null when the key is not a lock key. */
  cidrOfLock(key: string): string | null;
  membershipPrefix(cidr: string): string;
  membership(cidr: string, hostname: string): string;
  /** `<prefix>/ips/`: the range of every membership key. */
  readonly membershipRoot: string;
  /** The VIP and host of a membership key, or null when the key is none. */
  memberOf(key: string): { cidr: string; hostname: string } | null;
  hostPrefix(hostname: string): string;
  config(hostname: string, vipId: string): string;
  /** `<prefix>/config/<host>`: v2's host record, which holds the lease id (host-config.ts). */
  lease(hostname: string): string;
  /** `<prefix>/hosts/<host>/lease`: where earlier LinK releases kept the lease id (read, then deleted). */
  legacyLease(hostname: string): string;
  /** `<prefix>/agents/`: the range of every agent's published host record. */
  readonly agentsPrefix: string;
  agent(hostname: string): string;
  /** `<prefix>/addresses/<host>/`: the range of one host's address index. */
  addressIndexPrefix(hostname: string): string;
  /** The index key of one address of one host: its value is the id of the VIP record holding it. */
  addressIndex(hostname: string, cidr: string): string;
  /** The key whose revision fences the host's configuration writes. */
  configFence(hostname: string): string;
  /** `<prefix>/drain/<host>`: there while the host is drained (drain-store.ts). */
  drain(hostname: string): string;
  /** `<prefix>/drain/`: the range of every host's drain flag. */
  readonly drainPrefix: string;
  /** `<prefix>/hosts/`: the range of every host's VIP records. */
  readonly hostsRoot: string;
}

export function makeKeys(prefix: string): Keys {
  const p = normalizePrefix(prefix);
  const lockPrefix = `${p}/default/`;
  const membershipRoot = `${p}/ips/`;
  const hostsRoot = `${p}/hosts/`;
  const drainPrefix = `${p}/drain/`;
  return {
    prefix: p,
    lockPrefix,
    lock: (cidr) => `${lockPrefix}${storableIp(cidr)}`,
    cidrOfLock: (key) => {
      if (!key.startsWith(lockPrefix)) return null;
      const rest = key.slice(lockPrefix.length);
      return rest.length === 0 || rest.includes('/') ? null : cidrFromStorable(rest);
    },
    membershipPrefix: (cidr) => `${membershipRoot}${storableIp(cidr)}/`,
    membershipRoot,
    memberOf: (key) => {
      if (!key.startsWith(membershipRoot)) return null;
      const [storable, hostname, ...rest] = key.slice(membershipRoot.length).split('/');
      if (!storable || !hostname || rest.length > 0) return null;
      return { cidr: cidrFromStorable(storable), hostname };
    },
    membership: (cidr, hostname) => `${membershipRoot}${storableIp(cidr)}/${hostname}`,
    hostPrefix: (hostname) => `${hostsRoot}${hostname}/`,
    config: (hostname, vipId) => {
      if (vipId === LEASE_KEY_NAME || vipId.includes('/') || vipId.length === 0) {
        throw new RangeError(`not a VIP id: ${JSON.stringify(vipId)}`);
      }
      return `${hostsRoot}${hostname}/${vipId}`;
    },
    lease: (hostname) => `${p}/config/${hostname}`,
    legacyLease: (hostname) => `${hostsRoot}${hostname}/${LEASE_KEY_NAME}`,
    agentsPrefix: `${p}/agents/`,
    agent: (hostname) => `${p}/agents/${hostname}`,
    addressIndexPrefix: (hostname) => `${p}/addresses/${hostname}/`,
    addressIndex: (hostname, cidr) => `${p}/addresses/${hostname}/${storableIp(cidr)}`,
    configFence: (hostname) => `${p}/fences/${hostname}`,
    drain: (hostname) => `${drainPrefix}${hostname}`,
    drainPrefix,
    hostsRoot,
  };
}

/** Whether a key under `<prefix>/hosts/<host>/` names a VIP's configuration (the legacy lease key does not). */
export function isVipConfigName(name: string): boolean {
  return name !== LEASE_KEY_NAME && name.length > 0 && !name.includes('/');
}

/** The end of the key range of every key starting with `prefix` (etcd's range_end). */
export function prefixRangeEnd(prefix: Buffer): Buffer {
  const end = Buffer.from(prefix);
  for (let i = end.length - 1; i >= 0; i--) {
    const byte = end[i] as number;
    if (byte < 0xff) {
      end[i] = byte + 1;
      return end.subarray(0, i + 1);
    }
  }
  return Buffer.from([0]);
}
