import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import { createAgent, type Agent } from '../../actors/agent.ts';
import { createEtcdSession } from '../../adapters/etcd/session.ts';
import type { LinkState, LinkWatchHandlers } from '../../adapters/net/types.ts';
import { FakeEtcd } from '../support/fake-etcd.ts';
import { silentLogger, unitAgentOptions } from '../support/agent-options.ts';
import { memoryNet } from '../support/memory-net.ts';
import { until } from '../support/until.ts';

/**
 * The agent's side of actors/link.ts etcdWord (issue 16 part 5): the chaos lab's link cut also
 * cut the owner from etcd, and the link came back while its session was still judging the
 * outage. The session's `fault` then reached a VIP already back in STANDBY and, under
 * at-least-one, bound it beside the new owner (156 ms of two holders). Here the link comes back
 * while the session still says alive and etcd is still unreachable: the VIP must stay FAILING
 * through the fault, and compete again only once etcd answered.
 */

const VIP = '198.18.0.10/32';
const up: LinkState = { interfaceName: 'eth0', up: true, reason: 'up with carrier' };
const down: LinkState = { interfaceName: 'eth0', up: false, reason: 'no carrier' };

describe('a host back from a link failure waits for etcd', () => {
  let agent: Agent | undefined;
  afterEach(async () => {
    await agent?.stop({ handover: false });
  });

  it('an etcd fault that comes after the link is back does not bind the VIP (at-least-one)', async () => {
    const etcd = new FakeEtcd();
    const session = await createEtcdSession(
      { hostname: 'h1', hosts: ['198.18.0.1:2379'], leaseTtlSeconds: 2, logger: silentLogger },
      { rpc: etcd.client('h1') },
    );
    let link: LinkWatchHandlers | undefined;
    const { net, bound } = memoryNet({
      watchLink: (handlers) => {
        link = handlers;
        queueMicrotask(() => handlers.state(up));
        return () => undefined;
      },
    });
    agent = createAgent(
      unitAgentOptions({
        session,
        net,
        health: { intervalMs: 1000, timeoutMs: 500, fallCount: 2, riseCount: 1 },
        addressLifetimeSec: 30,
        trackInterface: true,
      }),
    );
    await agent.start();
    const { id } = await agent.add({ ip: VIP });
    const status = () => agent!.get(id).status;
    const events = () => agent!.journal(id).filter((e) => e.kind === 'event');
    await until('the VIP bound', () => bound.has(VIP) && status() === 'ACTIVATED', 5000);

    // The switch port is cut: no carrier, and etcd is out of reach with it.
    etcd.down = FakeEtcd.unavailable();
    link!.state(down);
    await until('FAILING and unbound', () => status() === 'FAILING' && !bound.has(VIP), 5000);
    // Back before the session noticed anything.
    link!.state(up);
    assert.equal(session.status().state, 'alive');
    await until("the session's fault journaled", () => events().some((e) => e.event === 'fault'), 5000);
    assert.equal(status(), 'FAILING', 'left FAILING before etcd answered');
    assert.equal(bound.has(VIP), false, 'bound on a fault the link outage caused');

    // etcd answers again: the host competes, and (alone) wins the VIP back.
    etcd.down = null;
    await until('the VIP bound again', () => bound.has(VIP) && status() === 'ACTIVATED', 10_000);
    const tail = events().slice(-2);
    assert.deepEqual(
      tail.map((e) => [e.event, e.from, e.to]),
      [
        ['health_check_success', 'FAILING', 'STANDBY'],
        ['elected', 'STANDBY', 'ACTIVATED'],
      ],
    );
    assert.match(tail[0]!.kind === 'event' ? (tail[0]!.reason ?? '') : '', /etcd answered since/);
  });
});
