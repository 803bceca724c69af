import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import { createAgent, type Agent } from '../../actors/agent.ts';
import { createEtcdSession } from '../../adapters/etcd/session.ts';
import { FakeEtcd } from '../support/fake-etcd.ts';
import { silentLogger, unitAgentOptions } from '../support/agent-options.ts';
import { memoryNet } from '../support/memory-net.ts';
import { until } from '../support/until.ts';

/**
 * actors/lifetime.ts under at-least-one: an etcd fault gives a bound VIP ADDRESS_LIFETIME; once
 * the session is alive again the lifetime follows the lease at once, not at the refresher's next
 * round, so a kill -9 of the agent just after a recovery does not leave the address answering
 * for ADDRESS_LIFETIME (seen in test/chaos: two hosts answered after such a kill).
 */

const VIP = '198.18.0.10/32';

describe('kernel lifetime after an etcd recovery', () => {
  let agent: Agent | undefined;
  afterEach(async () => {
    await agent?.stop({ handover: false });
  });

  it('is renewed to the lease-capped lifetime as the session turns alive', async () => {
    const etcd = new FakeEtcd();
    const session = await createEtcdSession(
      { hostname: 'h1', hosts: ['198.18.0.1:2379'], leaseTtlSeconds: 2, logger: silentLogger },
      { rpc: etcd.client('h1') },
    );
    const lifetimes: number[] = [];
    const { net, bound } = memoryNet({
      refreshMany: (_cidrs, { lifetimeSec }) => (
        lifetimes.push(lifetimeSec ?? 0),
        Promise.resolve(new Map())
      ),
    });
    agent = createAgent(
      unitAgentOptions({
        session,
        net,
        addressLifetimeSec: 30,
      }),
    );
    await agent.start();
    await agent.add({ ip: VIP });
    await until('the VIP is bound', () => bound.has(VIP), 5000);

    etcd.down = FakeEtcd.unavailable();
    await until('a fault renewal with ADDRESS_LIFETIME', () => lifetimes.at(-1) === 30, 5000);
    let renewalsWhenAlive = -1;
    const sub = session.status$.subscribe(({ state }) => {
      if (state === 'alive' && renewalsWhenAlive < 0) renewalsWhenAlive = lifetimes.length;
    });
    const before = lifetimes.length;
    etcd.down = null;
    await until('alive again', () => renewalsWhenAlive >= 0, 5000);
    sub.unsubscribe();
    assert.ok(renewalsWhenAlive > before, 'a renewal went out as the session turned alive');
    assert.ok(lifetimes[renewalsWhenAlive - 1]! <= 2, `lease-capped: ${lifetimes[renewalsWhenAlive - 1]} s`);
  });
});
