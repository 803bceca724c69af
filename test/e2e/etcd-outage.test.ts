import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { DEFAULT_VIP, Lab } from '../../lab/lab.ts';
import { analyseRounds } from '../../lab/samples.ts';
import type { VipView } from '../../actors/types.ts';
import { until } from '../support/until.ts';

/**
 * etcd goes away, a host freezes: the fault policies do what design.md promises, and the
 * configuration outlives agent and etcd restarts.
 */

const TTL_MS = 2000;
const MARGIN_MS = 2000;

const holdersAre = (lab: Lab, count: number) => async () => {
  const holders = await lab.holders(DEFAULT_VIP);
  return holders.length === count ? holders : null;
};

async function restartAll(lab: Lab, env: Record<string, string>): Promise<void> {
  for (const host of lab.hosts) await lab.signalAgent(host.name, 'SIGTERM');
  for (const host of lab.hosts) await lab.startAgent(host.name, env);
}

describe('etcd outages and frozen hosts', { timeout: 240_000 }, () => {
  let lab: Lab;
  let configured: string[][][];

  before(async () => {
    lab = await Lab.up({ name: `eo-${process.pid}`, hosts: 3 });
    for (const host of lab.hosts) {
      const res = await lab.api<VipView>(host.name, 'POST', '/ips', { ip: DEFAULT_VIP });
      assert.equal(res.status, 201, JSON.stringify(res.body));
    }
    configured = await Promise.all(
      lab.hosts.map(async (h) =>
        (await lab.api<{ ips: VipView[] }>(h.name, 'GET', '/ips')).body.ips.map((v) => [v.id, v.ip]),
      ),
    );
    await until('one owner', holdersAre(lab, 1), TTL_MS + MARGIN_MS);
  });

  after(async () => {
    await lab?.down();
  });

  it('at-least-one: with etcd gone every host binds the VIP; etcd back: one owner within a TTL', async () => {
    await lab.stopEtcd();
    await until('every host to bind the VIP', holdersAre(lab, 3), TTL_MS + MARGIN_MS);
    await lab.startEtcd();
    const restartedAt = Date.now();
    await until('exactly one owner again', holdersAre(lab, 1), TTL_MS + MARGIN_MS);
    console.log(`at-least-one: one owner ${Date.now() - restartedAt} ms after etcd served again`);
  });

  it('the configuration survives an etcd restart (and an agent restart after it)', async () => {
    const host = lab.hosts[1]!.name;
    await lab.signalAgent(host, 'SIGTERM');
    await lab.startAgent(host);
    const after = (await lab.api<{ ips: VipView[] }>(host, 'GET', '/ips')).body.ips.map((v) => [v.id, v.ip]);
    assert.deepEqual(after, configured[1]);
  });

  it('at-most-one: with etcd gone the owner drops the VIP within a TTL; etcd back: one owner', async () => {
    await restartAll(lab, { FAULT_POLICY: 'at-most-one' });
    await until('one owner', holdersAre(lab, 1), TTL_MS + MARGIN_MS);
    const observation = lab.observe(DEFAULT_VIP, 10);
    const stoppedAt = Date.now();
    await lab.stopEtcd();
    await until('nobody to hold the VIP', holdersAre(lab, 0), TTL_MS + MARGIN_MS);
    console.log(`at-most-one: VIP dropped ${Date.now() - stoppedAt} ms after etcd was killed`);
    await lab.startEtcd();
    await until('exactly one owner again', holdersAre(lab, 1), TTL_MS + MARGIN_MS);
    await observation.stop();
    assert.equal(analyseRounds(observation.rounds).twoAnswersMs, 0, 'two hosts answered at once');
  });

  it('at-most-one: a frozen owner (SIGSTOP past the TTL) is replaced, and unbinds when it thaws', async () => {
    const [owner] = await until('one owner', holdersAre(lab, 1), TTL_MS + MARGIN_MS);
    const observation = lab.observe(DEFAULT_VIP, 10);
    await observation.waitForRound((r) => r.macs.length === 1, 5000);
    await lab.signalAgent(owner!, 'SIGSTOP');
    try {
      const successor = await until(
        'another host to take the VIP',
        async () => (await lab.holders(DEFAULT_VIP)).find((h) => h !== owner),
        TTL_MS + MARGIN_MS,
      );
      await observation.waitForRound((r) => r.macs.includes(lab.host(successor).mac), 2000);
    } finally {
      await lab.signalAgent(owner!, 'SIGCONT');
    }
    const view = await until(
      'the thawed agent to see it lost the VIP',
      async () => {
        const res = await lab.api<{ ips: VipView[] }>(owner!, 'GET', '/ips');
        return res.body.ips[0]?.status === 'STANDBY' ? res.body.ips[0] : null;
      },
      TTL_MS + MARGIN_MS,
    );
    assert.equal(view.owner, false);
    await until('one holder', holdersAre(lab, 1), TTL_MS);
    await observation.stop();
    assert.equal(analyseRounds(observation.rounds).twoAnswersMs, 0, 'two hosts answered at once');
  });
});
