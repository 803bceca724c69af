import type { EtcdRpc } from './rpc.ts';

/**
 * The KV calls of the elections, at most `maxInFlight` at a time. After a lease expires every
 * lock it held comes free at once, and thousands of lock transactions sent together queued the
 * lease keep-alive behind them on the one connection: the keep-alive came back after the TTL,
 * the fence tripped, and the agent never left that loop (5,000 VIPs). The keep-alive, the watch
 * and the session's own calls keep the unlimited transport.
 */
export function limitKvCalls(rpc: EtcdRpc, maxInFlight: number): EtcdRpc {
  let inFlight = 0;
  const waiting: (() => void)[] = [];
  const limited =
    <A extends unknown[], R>(call: (...args: A) => Promise<R>) =>
    async (...args: A): Promise<R> => {
      if (inFlight >= maxInFlight) await new Promise<void>((resolve) => waiting.push(resolve));
      inFlight++;
      try {
        return await call(...args);
      } finally {
        inFlight--;
        waiting.shift()?.();
      }
    };
  return {
    ...rpc,
    range: limited((req) => rpc.range(req)),
    put: limited((req) => rpc.put(req)),
    deleteRange: limited((req) => rpc.deleteRange(req)),
    txn: limited((req) => rpc.txn(req)),
  };
}
