import { Etcd3 } from 'etcd3';
import type {
  IDeleteRangeRequest,
  IDeleteRangeResponse,
  IDuplexStream,
  ILeaseGrantResponse,
  ILeaseKeepAliveRequest,
  ILeaseKeepAliveResponse,
  ILeaseTimeToLiveResponse,
  IOptions,
  IPutRequest,
  IPutResponse,
  IRangeRequest,
  IRangeResponse,
  ITxnRequest,
  ITxnResponse,
  IWatchRequest,
  IWatchResponse,
} from 'etcd3';
import { translateEtcdError } from './errors.ts';
import type { TranslationContext } from './errors.ts';

export type KeepAliveStream = IDuplexStream<ILeaseKeepAliveRequest, ILeaseKeepAliveResponse>;
export type WatchStream = IDuplexStream<IWatchRequest, IWatchResponse>;

/**
 * The narrow interface every etcd call of the adapter goes through, so tests can swap the
 * transport. Unary calls reject with adapter errors only (translated here); streams report raw
 * errors on their 'error' event, which their consumers pass to `translateEtcdError`.
 */
export interface EtcdRpc {
  range(req: IRangeRequest): Promise<IRangeResponse>;
  put(req: IPutRequest): Promise<IPutResponse>;
  deleteRange(req: IDeleteRangeRequest): Promise<IDeleteRangeResponse>;
  txn(req: ITxnRequest): Promise<ITxnResponse>;
  compact(revision: string): Promise<void>;
  leaseGrant(ttlSeconds: number): Promise<ILeaseGrantResponse>;
  leaseRevoke(id: string): Promise<void>;
  leaseTimeToLive(id: string): Promise<ILeaseTimeToLiveResponse>;
  leaseKeepAlive(): Promise<KeepAliveStream>;
  watch(): Promise<WatchStream>;
  close(): void;
}

function describe(method: string, key?: Buffer): string {
  return key === undefined ? method : `${method} ${key.toString()}`;
}

/** The real transport: etcd3's low-level clients, no namespace (keys carry LinK's prefix). */
export function createRpc(clientOptions: IOptions): EtcdRpc {
  const client = new Etcd3(clientOptions);
  const hosts = clientOptions.hosts;
  const context: TranslationContext = {
    endpoints: typeof hosts === 'string' ? [hosts] : hosts,
    ...(clientOptions.auth === undefined ? {} : { user: clientOptions.auth.username }),
  };
  const call = async <T>(operation: string, fn: () => Promise<T>): Promise<T> => {
    try {
      return await fn();
    } catch (err) {
      throw translateEtcdError(err, operation, context);
    }
  };
  return {
    range: (req) => call(describe('range', req.key), () => client.kv.range(req)),
    put: (req) => call(describe('put', req.key), () => client.kv.put(req)),
    deleteRange: (req) => call(describe('delete', req.key), () => client.kv.deleteRange(req)),
    txn: (req) => call(describe('txn', req.compare?.[0]?.key), () => client.kv.txn(req)),
    compact: (revision) =>
      call('compact', async () => {
        await client.kv.compact({ revision, physical: true });
      }),
    leaseGrant: (ttlSeconds) => call('lease grant', () => client.leaseClient.leaseGrant({ TTL: ttlSeconds })),
    leaseRevoke: (id) =>
      call(`lease revoke ${id}`, async () => {
        await client.leaseClient.leaseRevoke({ ID: id });
      }),
    leaseTimeToLive: (id) => call(`lease ttl ${id}`, () => client.leaseClient.leaseTimeToLive({ ID: id })),
    leaseKeepAlive: () => call('lease keep-alive', () => client.leaseClient.leaseKeepAlive()),
    watch: () => call('watch', () => client.watchClient.watch()),
    close: () => client.close(),
  };
}
