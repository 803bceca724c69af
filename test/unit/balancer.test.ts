import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Balancer } from '../../actors/balancer.ts';
import { COOLDOWN_INTERVALS, SETTLE_INTERVALS } from '../../actors/balance-plan.ts';
import type { ClusterView } from '../../adapters/etcd/cluster-view.ts';
import { createLogger } from '../../cli/logger.ts';

/**
 * actors/balancer.ts's own rules around the planner (the planner: balance-plan.test.ts): a fresh
 * view's VIPs cool down first, no move while the set of live hosts changed within
 * SETTLE_INTERVALS, and a VIP whose owner just changed stays put for COOLDOWN_INTERVALS.
 */

const HOSTS = ['h1', 'h2', 'h3'];

function view(owners: readonly string[], hosts: readonly string[] = HOSTS): ClusterView {
  return {
    revision: '1',
    vips: owners.map((owner, i) => ({
      ip: `198.18.0.${10 + i}/32`,
      owner,
      hosts: hosts.map((hostname) => ({
        hostname,
        state: hostname === owner ? ('owner' as const) : ('candidate' as const),
        priority: 100,
        preempt: false,
        id: null,
        drained: false,
        v2: false,
      })),
    })),
  };
}

function balancer(self: string): Balancer {
  return new Balancer({
    hostname: self,
    session: { status: () => ({}) as never, clusterView: () => Promise.reject(new Error('unused')) },
    intervalMs: 1000,
    logger: createLogger({ level: 'error', format: 'json' }),
    handOver: () => Promise.resolve(),
  });
}

describe('balancer', () => {
  it('moves only once the view has settled; then one VIP of the overloaded host to the least loaded', () => {
    const b = balancer('h1');
    const all = view(Array(6).fill('h1') as string[]);
    const rounds = Math.max(COOLDOWN_INTERVALS, SETTLE_INTERVALS);
    for (let i = 1; i <= rounds; i++) assert.equal(b.plan(all), null, `round ${i}`);
    const move = b.plan(all);
    assert.equal(move?.from, 'h1');
    assert.equal(move?.to, 'h2');
    assert.equal(balancer('h2').plan(all), null, 'not its move');
  });

  it('a host joining restarts the settle time; a VIP that just changed owner cools down', () => {
    const b = balancer('h1');
    const two = view(['h1', 'h1', 'h1', 'h1'], ['h1', 'h2']);
    for (let i = 0; i < COOLDOWN_INTERVALS + SETTLE_INTERVALS; i++) b.plan(two);
    assert.notEqual(b.plan(two), null);
    const three = view(['h1', 'h1', 'h1', 'h1']);
    assert.equal(b.plan(three), null, 'h3 just joined');
    const moved = view(['h2', 'h1', 'h1', 'h1']);
    for (let i = 1; i < SETTLE_INTERVALS; i++) assert.equal(b.plan(moved), null);
    const next = b.plan(moved);
    assert.notEqual(next?.cidr, '198.18.0.10/32', 'the VIP that just moved is not moved again');
  });
});
