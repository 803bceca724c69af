import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import { createAgent } from '../../actors/agent.ts';
import type { Agent } from '../../actors/agent.ts';
import { createEtcdSession } from '../../adapters/etcd/session.ts';
import { FakeEtcd } from '../support/fake-etcd.ts';
import { until } from '../support/until.ts';
import { silentLogger, unitAgentOptions } from '../support/agent-options.ts';
import { memoryNet } from '../support/memory-net.ts';

/**
 * The agent over the election rows of adapters/etcd/README.md: real sessions, elections, IP
 * machines and journal on the in-memory etcd behind the rpc port, an in-memory interface for the
 * kernel. The agent's own timers are real (it takes no clock); waits are on conditions.
 */

const VIP = '198.18.0.10/32';

const agents: Agent[] = [];

async function agent(
  etcd: FakeEtcd,
  hostname: string,
  faultPolicy: 'at-least-one' | 'at-most-one' = 'at-least-one',
) {
  const session = await createEtcdSession(
    { hostname, hosts: ['198.18.0.1:2379'], leaseTtlSeconds: 2, logger: silentLogger },
    { rpc: etcd.client(hostname) },
  );
  const { net, bound } = memoryNet();
  const a = createAgent(
    unitAgentOptions({
      hostname,
      faultPolicy,
      session,
      net,
    }),
  );
  await a.start();
  agents.push(a);
  return { agent: a, bound, session };
}

describe('agent over the election table (fake etcd)', () => {
  afterEach(async () => {
    for (const a of agents.splice(0)) await a.stop({ handover: false });
  });

  it("rows 'none'/'another host': the host that wins the lock binds the VIP, the other stays unbound; it takes over when the owner leaves", async () => {
    const etcd = new FakeEtcd();
    const h1 = await agent(etcd, 'h1');
    const view = await h1.agent.add({ ip: VIP });
    await until('h1 binds the VIP', () => h1.bound.has(VIP) && h1.agent.get(view.id).owner, 5000);
    assert.equal(etcd.get('/link/default/198.18.0.10_32')?.value, 'h1');

    const h2 = await agent(etcd, 'h2');
    await h2.agent.add({ ip: VIP });
    const h2View = () => h2.agent.list().find((v) => v.ip === VIP);
    await until('h2 is STANDBY', () => h2View()?.status === 'STANDBY', 5000);
    assert.equal(h2.bound.has(VIP), false, 'the other host does not bind it');
    assert.equal(h1.bound.has(VIP), true);

    await h1.agent.stop({ handover: true });
    agents.splice(agents.indexOf(h1.agent), 1);
    await until('h2 binds the VIP', () => h2.bound.has(VIP) && h2View()?.owner, 5000);
    assert.equal(h1.bound.has(VIP), false, 'the leaving owner unbound it');
    assert.equal(etcd.get('/link/default/198.18.0.10_32')?.value, 'h2');
  });

  for (const policy of ['at-least-one', 'at-most-one'] as const) {
    it(`row '(session fault)' under ${policy}: fault until etcd says who owns, then one owner again`, async () => {
      const etcd = new FakeEtcd();
      const h1 = await agent(etcd, 'h1', policy);
      const h2 = await agent(etcd, 'h2', policy);
      await h1.agent.add({ ip: VIP });
      await until('h1 binds the VIP', () => h1.bound.has(VIP), 5000);
      await h2.agent.add({ ip: VIP });
      const state = (a: Agent) => a.list().find((v) => v.ip === VIP)?.status;
      await until('h2 is STANDBY', () => state(h2.agent) === 'STANDBY', 5000);

      etcd.down = FakeEtcd.unavailable();
      await until(
        'both sessions in fault',
        () => h1.session.status().state === 'fault' && h2.session.status().state === 'fault',
        5000,
      );
      if (policy === 'at-least-one') {
        await until('both hosts bind it (at least one)', () => h1.bound.has(VIP) && h2.bound.has(VIP), 5000);
      } else {
        await until('no host binds it (at most one)', () => !h1.bound.has(VIP) && !h2.bound.has(VIP), 5000);
      }

      etcd.down = null;
      await until(
        'one owner again',
        () =>
          h1.bound.has(VIP) !== h2.bound.has(VIP) && etcd.get('/link/default/198.18.0.10_32') !== undefined,
        10_000,
      );
      const owner = etcd.get('/link/default/198.18.0.10_32')?.value;
      assert.equal(
        owner === 'h1' ? h1.bound.has(VIP) : h2.bound.has(VIP),
        true,
        'the lock holder is the one bound',
      );
    });
  }
});
