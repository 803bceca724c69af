import { EtcdBadValueError } from './errors.ts';
import { isVipConfigName } from './keys.ts';
import type { Keys } from './keys.ts';
import type { EtcdLogger } from './options.ts';
import type { EtcdRpc } from './rpc.ts';
import type { ConfigStore, StoredVip } from './types.ts';
import { prefixRangeEnd } from './watch.ts';

function parseVip(raw: string, key: string): StoredVip {
  let value: unknown;
  try {
    value = JSON.parse(raw);
  } catch (err) {
    throw new EtcdBadValueError(`${key}: not JSON`, { cause: err });
  }
  if (
    typeof value !== 'object' ||
    value === null ||
    typeof (value as { id?: unknown }).id !== 'string' ||
    typeof (value as { ip?: unknown }).ip !== 'string' ||
    !Array.isArray((value as { checks?: unknown }).checks)
  ) {
    throw new EtcdBadValueError(`${key}: not a VIP configuration (id, ip, checks)`);
  }
  return value as StoredVip;
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
    private readonly logger: EtcdLogger,
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
        vips.push(parseVip(kv.value.toString(), kv.key.toString()));
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
