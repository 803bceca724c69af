import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import type { ITxnRequest } from 'etcd3';
import { createAgent } from '../../actors/agent.ts';
import type { Agent } from '../../actors/agent.ts';
import { AgentError } from '../../actors/errors.ts';
import { EtcdTimeoutError } from '../../adapters/etcd/errors.ts';
import { makeKeys } from '../../adapters/etcd/keys.ts';
import type { EtcdRpc } from '../../adapters/etcd/rpc.ts';
import { createEtcdSession } from '../../adapters/etcd/session.ts';
import { FakeEtcd } from '../support/fake-etcd.ts';
import { until } from '../support/until.ts';
import { silentLogger, unitAgentOptions } from '../support/agent-options.ts';
import { memoryNet } from '../support/memory-net.ts';

/**
 * Issue 18 part 3 at the agent, on the in-memory etcd: a change whose configuration write etcd
 * refuses (here: applied, the answer lost, the worst case) is answered ETCD_UNAVAILABLE and
 * changes nothing here; the store's undo puts etcd back, so a restart finds the same. Part 5: an
 * address whose record the agent never read is a duplicate all the same.
 */

const VIP = '198.18.0.10/32';
const keys = makeKeys('/link');

/** The next transaction on a VIP record of the host is applied, and its answer lost. */
function losingConfigWrites(rpc: EtcdRpc, hostname: string) {
  let lose = false;
  const onRecord = (req: ITxnRequest) =>
    [...(req.success ?? [])].some((op) =>
      (op.request_put?.key ?? op.request_delete_range?.key)
        ?.toString()
        .startsWith(`${keys.hostPrefix(hostname)}vip-`),
    );
  const wrapped: EtcdRpc = {
    ...rpc,
    txn: async (req) => {
      if (!lose || !onRecord(req)) return rpc.txn(req);
      lose = false;
      await rpc.txn(req);
      throw new EtcdTimeoutError('txn: no answer from etcd in time');
    },
  };
  return { rpc: wrapped, loseNext: () => (lose = true) };
}

const agents: Agent[] = [];

async function agent(etcd: FakeEtcd, hostname: string) {
  const wire = losingConfigWrites(etcd.client(hostname), hostname);
  const session = await createEtcdSession(
    { hostname, hosts: ['198.18.0.1:2379'], leaseTtlSeconds: 2, logger: silentLogger },
    { rpc: wire.rpc },
  );
  const { net, bound } = memoryNet();
  const a = createAgent(
    unitAgentOptions({
      hostname,
      session,
      net,
    }),
  );
  await a.start();
  agents.push(a);
  return { agent: a, bound, session, wire };
}

async function restart(etcd: FakeEtcd, old: Agent, hostname: string) {
  await old.stop({ handover: false });
  agents.splice(agents.indexOf(old), 1);
  return agent(etcd, hostname);
}

const code = (expected: string) => (err: unknown) => err instanceof AgentError && err.code === expected;

describe('a change etcd refuses changes nothing (fake etcd)', () => {
  afterEach(async () => {
    for (const a of agents.splice(0)) await a.stop({ handover: false });
  });

  it('DELETE: still listed, owner and bound; etcd is put back, and a restart finds it', async () => {
    const etcd = new FakeEtcd();
    const h1 = await agent(etcd, 'h1');
    const view = await h1.agent.add({ ip: VIP });
    await until('h1 binds the VIP', () => h1.bound.has(VIP) && h1.agent.get(view.id).owner, 5000);
    h1.wire.loseNext();
    await assert.rejects(h1.agent.remove(view.id), code('ETCD_UNAVAILABLE'));
    assert.equal(h1.agent.get(view.id).status, 'ACTIVATED');
    assert.ok(h1.bound.has(VIP));
    await until('the record put back', () => etcd.get(keys.config('h1', view.id)), 5000);
    const again = await restart(etcd, h1.agent, 'h1');
    assert.deepEqual(
      again.agent.list().map((v) => v.id),
      [view.id],
    );
    // Accepted: gone, and gone after a restart.
    await again.agent.remove(view.id);
    assert.deepEqual(again.agent.list(), []);
    const last = await restart(etcd, again.agent, 'h1');
    assert.deepEqual(last.agent.list(), []);
  });

  it('PATCH: the VIP keeps its settings, here and in etcd', async () => {
    const etcd = new FakeEtcd();
    const h1 = await agent(etcd, 'h1');
    const view = await h1.agent.add({ ip: VIP, healthcheck_interval: 3 });
    h1.wire.loseNext();
    await assert.rejects(
      h1.agent.update(view.id, { checks: [], healthcheck_interval: 7 }),
      code('ETCD_UNAVAILABLE'),
    );
    assert.equal(h1.agent.get(view.id).healthcheck_interval, 3);
    await until(
      'the record put back',
      () =>
        (JSON.parse(etcd.get(keys.config('h1', view.id))!.value) as { healthcheck_interval: number })
          .healthcheck_interval === 3,
      5000,
    );
    assert.equal(
      (await h1.agent.update(view.id, { checks: [], healthcheck_interval: 9 })).healthcheck_interval,
      9,
    );
  });

  it('POST: no VIP, in etcd neither; the address can be added again', async () => {
    const etcd = new FakeEtcd();
    const h1 = await agent(etcd, 'h1');
    h1.wire.loseNext();
    await assert.rejects(h1.agent.add({ ip: VIP }), code('ETCD_UNAVAILABLE'));
    assert.deepEqual(h1.agent.list(), []);
    await until('the record removed', () => etcd.get(keys.addressIndex('h1', VIP)) === undefined, 5000);
    const view = await h1.agent.add({ ip: VIP });
    assert.equal(etcd.get(keys.addressIndex('h1', VIP))?.value, view.id);
  });

  it('POST of an address whose record this agent never read is VIP_DUPLICATE with its id', async () => {
    const etcd = new FakeEtcd();
    const h1 = await agent(etcd, 'h1');
    const otherId = 'vip-00000000-0000-4000-8000-000000000042';
    etcd.put(keys.config('h1', otherId), JSON.stringify({ id: otherId, ip: VIP, checks: [] }));
    etcd.put(keys.addressIndex('h1', VIP), otherId);
    await assert.rejects(
      h1.agent.add({ ip: VIP }),
      (err: unknown) => code('VIP_DUPLICATE')(err) && (err as { existingId?: string }).existingId === otherId,
    );
    assert.deepEqual(h1.agent.list(), []);
  });
});
