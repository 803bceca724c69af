import { EtcdBadValueError } from './errors.ts';
import { isVipConfigName } from './keys.ts';
import type { Keys } from './keys.ts';
import type { Logger } from '../logger.ts';
import type { EtcdRpc } from './rpc.ts';
import type { ConfigStore, StoredVip } from './types.ts';
import { prefixRangeEnd } from './watch.ts';

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

/**
 * This host's VIP configuration at `<prefix>/hosts/<hostname>/<vip-id>` (JSON, no lease: it
 * survives the agent). The lease id key in the same folder is skipped; an unreadable value is
 * logged and skipped so one bad key does not stop the agent.
 */
export class EtcdConfigStore implements ConfigStore {
  private readonly prefix: string;

  constructor(
    private readonly rpc: EtcdRpc,
    private readonly keys: Keys,
    private readonly hostname: string,
    private readonly logger: Logger,
  ) {
    this.prefix = keys.hostPrefix(hostname);
  }

  async list(): Promise<StoredVip[]> {
    const key = Buffer.from(this.prefix);
    const res = await this.rpc.range({
      key,
      range_end: prefixRangeEnd(key),
      sort_target: 'Key',
      sort_order: 'Ascend',
    });
    const vips: StoredVip[] = [];
    for (const kv of res.kvs) {
      const name = kv.key.toString().slice(this.prefix.length);
      if (!isVipConfigName(name)) continue;
      try {
        vips.push(parseStoredVip(kv.value.toString(), kv.key.toString()));
      } catch (err) {
        this.logger.warn('etcd: skipping unreadable VIP configuration', {
          key: kv.key.toString(),
          error: String(err),
        });
      }
    }
    return vips;
  }

  async put(vip: StoredVip): Promise<void> {
    await this.rpc.put({
      key: Buffer.from(this.keys.config(this.hostname, vip.id)),
      value: Buffer.from(JSON.stringify(vip)),
    });
  }

  async delete(id: string): Promise<void> {
    await this.rpc.deleteRange({ key: Buffer.from(this.keys.config(this.hostname, id)) });
  }
}
