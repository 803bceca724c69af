import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import { createAgent, type Agent } from '../../actors/agent.ts';
import { Journal } from '../../actors/journal.ts';
import type { JournalEntry } from '../../actors/types.ts';
import { createEtcdSession } from '../../adapters/etcd/session.ts';
import { FakeEtcd } from '../support/fake-etcd.ts';
import { silentLogger, unitAgentOptions } from '../support/agent-options.ts';
import { memoryNet } from '../support/memory-net.ts';
import { until } from '../support/until.ts';

/**
 * Issue 14 part 3: after an etcd fault in which the owner stays owner, it announces the VIP
 * again. Under at-least-one the owner's IP machine stays ACTIVATED through the fault (the table),
 * so etcd's `elected` after it is a self-transition that runs no entry action: without the
 * actor layer's re-announcement, clients a peer pulled away during the outage stay away. A real
 * agent, session, election and journal on the in-memory etcd; the interface records announcements.
 */

const VIP = '198.18.0.10/32';
const agents: Agent[] = [];

describe('the owner re-announces after an etcd fault (fake etcd)', () => {
  afterEach(async () => {
    for (const a of agents.splice(0)) await a.stop({ handover: false });
  });

  it('etcd down then back, the owner still ACTIVATED and still the lock holder: one more announcement, REANNOUNCED', async () => {
    const etcd = new FakeEtcd();
    const session = await createEtcdSession(
      { hostname: 'h1', hosts: ['198.18.0.1:2379'], leaseTtlSeconds: 2, logger: silentLogger },
      { rpc: etcd.client('h1') },
    );
    const announced: number[] = [];
    const { net, bound } = memoryNet({
      announce: () => (announced.push(performance.now()), Promise.resolve()),
    });
    const journal = new Journal();
    const agent = createAgent(
      unitAgentOptions({
        session,
        net,
        journal,
      }),
    );
    await agent.start();
    agents.push(agent);
    const view = await agent.add({ ip: VIP });
    await until('h1 binds and announces the VIP', () => bound.has(VIP) && announced.length === 1, 5000);
    const notes = (code: string) =>
      journal
        .entries(view.id)
        .filter((e): e is Extract<JournalEntry, { kind: 'note' }> => e.kind === 'note' && e.code === code);
    assert.equal(notes('REANNOUNCED').length, 0, 'no re-announcement without a fault');

    etcd.down = FakeEtcd.unavailable();
    await until('the session in fault', () => session.status().state === 'fault', 5000);
    assert.equal(agent.get(view.id).status, 'ACTIVATED', 'at-least-one: the owner keeps the VIP');
    const before = announced.length;
    etcd.down = null;
    const recovered = performance.now();
    await until(
      'etcd says h1 owns it again',
      () => session.status().state === 'alive' && notes('REANNOUNCED').length === 1,
      10_000,
    );
    await until('announced again after the recovery', () => announced.length > before, 5000);
    assert.ok(announced.at(-1)! >= recovered, 'the announcement follows the recovery');
    assert.equal(agent.get(view.id).status, 'ACTIVATED');
    assert.equal(etcd.get('/link/default/198.18.0.10_32')?.value, 'h1');
    assert.match(notes('REANNOUNCED')[0]!.message, /etcd is back and this host still owns it/);
  });
});
