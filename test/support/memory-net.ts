import type { NetAdapter } from '../../adapters/net/types.ts';

/**
 * The interface as a set of bound addresses, for unit tests of the actor layer: binds and unbinds
 * change `bound`, everything else succeeds and does nothing. `overrides` replace single calls
 * (a recorded refresh, a failing bind).
 */
export function memoryNet(overrides: Partial<NetAdapter> = {}): { net: NetAdapter; bound: Set<string> } {
  const bound = new Set<string>();
  const net: NetAdapter = {
    interfaceName: 'test0',
    bind: (cidr) => (bound.add(cidr), Promise.resolve()),
    refresh: () => Promise.resolve(),
    refreshMany: () => Promise.resolve(new Map()),
    unbind: (cidr) => (bound.delete(cidr), Promise.resolve()),
    isBound: (cidr) => Promise.resolve(bound.has(cidr)),
    announce: () => Promise.resolve(),
    probeConflict: () => Promise.resolve(null),
    addresses: () => Promise.resolve([]),
    hardwareAddress: () => Promise.resolve('02:00:00:00:00:01'),
    close: () => Promise.resolve(),
    ...overrides,
  };
  return { net, bound };
}
