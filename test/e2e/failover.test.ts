import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { DEFAULT_VIP, Lab } from '../../lab/lab.ts';
import { addresses, execIn, neighbours } from '../../lab/netns.ts';
import { analyseRounds } from '../../lab/samples.ts';
import type { VipView } from '../../actors/types.ts';
import { until } from '../support/until.ts';

/**
 * The agent's main job in a real lab: three agents, one etcd, one VIP. Exactly one host binds
 * it; when the owner dies, is cut off, stops or restarts, the VIP behaves as design.md says,
 * seen from the kernel of every host and from an observer on the same bridge.
 */

const TTL_MS = 2000;
const MARGIN_MS = 1500;
const VIP_ADDRESS = DEFAULT_VIP.split('/')[0]!;

async function singleHolder(lab: Lab): Promise<string> {
  return until(
    'exactly one host to bind the VIP',
    async () => {
      const holders = await lab.holders(DEFAULT_VIP);
      return holders.length === 1 ? holders[0] : null;
    },
    TTL_MS + MARGIN_MS,
  );
}

async function observerNeighbourMac(lab: Lab): Promise<string | undefined> {
  const entries = await neighbours(lab.observer.ns, 'eth0');
  return entries.find((n) => n.dst === VIP_ADDRESS)?.lladdr;
}

describe('failover in the lab', { timeout: 180_000 }, () => {
  let lab: Lab;

  before(async () => {
    lab = await Lab.up({ name: `fo-${process.pid}`, hosts: 3 });
    for (const host of lab.hosts) {
      const res = await lab.api<VipView>(host.name, 'POST', '/ips', { ip: DEFAULT_VIP });
      assert.equal(res.status, 201, JSON.stringify(res.body));
    }
  });

  after(async () => {
    await lab?.down();
  });

  it('three agents, one VIP: exactly one binds it and the observer reaches it', async () => {
    const owner = await singleHolder(lab);
    const states = await Promise.all(
      lab.hosts.map(
        async (h) => (await lab.api<{ ips: VipView[] }>(h.name, 'GET', '/ips')).body.ips[0]?.status,
      ),
    );
    assert.deepEqual(states.filter((s) => s === 'ACTIVATED').length, 1);
    await execIn(lab.observer.ns, 'ping', ['-c', '1', '-W', '1', VIP_ADDRESS]);
    assert.equal(await observerNeighbourMac(lab), lab.host(owner).mac);
  });

  it('kill -9 of the owner: another host binds and announces within TTL + margin', async () => {
    const owner = await singleHolder(lab);
    const observation = lab.observe(DEFAULT_VIP, 10);
    await observation.waitForRound((r) => r.macs.length > 0, 5000);
    await execIn(lab.observer.ns, 'ping', ['-c', '1', '-W', '1', VIP_ADDRESS]);
    const killedAt = Date.now();
    await lab.signalAgent(owner, 'SIGKILL');
    const successor = await until(
      'another host to bind the VIP',
      async () => (await lab.holders(DEFAULT_VIP)).find((h) => h !== owner),
      TTL_MS + MARGIN_MS,
    );
    const tookMs = Date.now() - killedAt;
    const successorMac = lab.host(successor).mac;
    await until(
      "the observer's neighbour entry to move to the new owner",
      async () => (await observerNeighbourMac(lab)) === successorMac,
      2000,
    );
    await until(
      'an announcement from the new owner',
      () => Promise.resolve(observation.announcements.some((a) => a.mac === successorMac)),
      2000,
    );
    // Kernel fencing: the dead agent's address leaves its host without anyone removing it.
    await until(
      "the dead agent's address to expire from its kernel",
      async () => !(await addresses(lab.host(owner).ns, 'eth0')).some((a) => a.local === VIP_ADDRESS),
      TTL_MS + MARGIN_MS,
    );
    await observation.stop();
    const report = analyseRounds(observation.rounds);
    console.log(
      `kill -9: successor bound after ${tookMs} ms; observer gap ${report.longestGapMs.toFixed(0)} ms`,
    );
    await lab.startAgent(owner);
  });

  it("the owner's host cut off (switch port down): another host takes over within TTL + margin", async () => {
    const owner = await singleHolder(lab);
    const cutAt = Date.now();
    await lab.cutLink(owner);
    try {
      const successor = await until(
        'another host to bind the VIP',
        async () => (await lab.holders(DEFAULT_VIP)).find((h) => h !== owner),
        TTL_MS + MARGIN_MS,
      );
      console.log(`host cut off: ${successor} bound after ${Date.now() - cutAt} ms`);
    } finally {
      await lab.restoreLink(owner);
    }
    // Back on the switch, the cut-off host gives the VIP up: one holder again.
    await until(
      'one holder after the link returns',
      async () => (await lab.holders(DEFAULT_VIP)).length === 1,
      TTL_MS + 3000,
    );
  });

  it('SIGTERM of the owner: takeover well under one TTL, never two holders', async () => {
    const owner = await singleHolder(lab);
    const observation = lab.observe(DEFAULT_VIP, 5);
    await observation.waitForRound((r) => r.macs.length > 0, 5000);
    const stoppedAt = observation.now;
    await lab.signalAgent(owner, 'SIGTERM');
    const successor = await until(
      'another host to bind the VIP',
      async () => (await lab.holders(DEFAULT_VIP)).find((h) => h !== owner),
      TTL_MS,
    );
    await observation.waitForRound((r) => r.macs.includes(lab.host(successor).mac), 2000);
    await observation.stop();
    const report = analyseRounds(observation.rounds, stoppedAt);
    console.log(`SIGTERM handover: client-visible gap ${report.longestGapMs.toFixed(0)} ms`);
    assert.ok(report.longestGapMs < TTL_MS / 2, `gap ${report.longestGapMs} ms`);
    assert.equal(report.twoAnswersMs, 0);
    await lab.startAgent(owner);
  });

  it("a restart of the owner's agent keeps the VIP in the kernel, and one owner after", async () => {
    const owner = await singleHolder(lab);
    const ns = lab.host(owner).ns;
    let left = false;
    let watching = true;
    const watcher = (async () => {
      while (watching) {
        if (!(await addresses(ns, 'eth0')).some((a) => a.local === VIP_ADDRESS)) left = true;
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
    })();
    await lab.signalAgent(owner, 'SIGUSR2');
    await lab.startAgent(owner);
    const view = await until(
      'the restarted agent to own the VIP again',
      async () => {
        const res = await lab.api<{ ips: VipView[] }>(owner, 'GET', '/ips');
        return res.body.ips[0]?.status === 'ACTIVATED' ? res.body.ips[0] : null;
      },
      TTL_MS + MARGIN_MS,
    );
    watching = false;
    await watcher;
    assert.equal(view.owner, true);
    assert.equal(left, false, 'the VIP left the kernel during the restart');
    assert.deepEqual(await lab.holders(DEFAULT_VIP), [owner]);
  });

  it('the configuration survives an agent restart', async () => {
    const host = lab.hosts[0]!.name;
    const before = (await lab.api<{ ips: VipView[] }>(host, 'GET', '/ips')).body.ips.map((v) => [v.id, v.ip]);
    await lab.signalAgent(host, 'SIGTERM');
    await lab.startAgent(host);
    const after = (await lab.api<{ ips: VipView[] }>(host, 'GET', '/ips')).body.ips.map((v) => [v.id, v.ip]);
    assert.deepEqual(after, before);
  });
});
