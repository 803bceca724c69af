import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { DEFAULT_VIP, Lab } from '../../lab/lab.ts';
import type { Client } from '../../lab/client.ts';
import type { VipView } from '../../actors/types.ts';
import { until } from '../support/until.ts';

/**
 * The lab's client (lab/client.ts) against real agents: it reaches the VIP through its kernel's
 * neighbour table, and after a failover it reaches the new owner only because the new owner's
 * gratuitous ARP moved that entry. Bounds are loose (a 2-core machine shared with other tests):
 * a graceful handover is far below a lease TTL, a kill -9 within TTL + margin.
 */

const TTL_MS = 2000;
const MARGIN_MS = 2500;

async function singleHolder(lab: Lab, not?: string): Promise<string> {
  return until(
    'exactly one host to bind the VIP',
    async () => {
      const holders = await lab.holders(DEFAULT_VIP);
      return holders.length === 1 && holders[0] !== not ? holders[0] : null;
    },
    TTL_MS + MARGIN_MS + 5000,
  );
}

/** Waits until the client's neighbour entry names `mac` and a reply came after that. */
async function clientOn(client: Client, mac: string): Promise<void> {
  await until(
    'the client to reach the new owner',
    async () => (await client.neighbour())?.mac === mac,
    10_000,
  );
  await client.waitForReply(5000);
}

describe('lab client', { timeout: 120_000 }, () => {
  let lab: Lab;
  let client: Client;

  before(async () => {
    lab = await Lab.up({ name: `cr-lc-${process.pid}`, hosts: 2 });
    for (const host of lab.hosts) {
      const res = await lab.api<VipView>(host.name, 'POST', '/ips', { ip: DEFAULT_VIP });
      assert.equal(res.status, 201, JSON.stringify(res.body));
    }
    await singleHolder(lab);
    client = await lab.client(DEFAULT_VIP);
    await client.waitForReply(10_000);
  });

  after(async () => {
    await client?.stop().catch(() => undefined);
    await lab?.down();
  });

  it("reaches the VIP through its own neighbour entry, which holds the owner's MAC", async () => {
    const owner = await singleHolder(lab);
    await client.waitForReply(5000);
    const entry = await client.neighbour();
    assert.equal(entry?.mac, lab.host(owner).mac);
    const report = client.report();
    assert.ok(report.replies > 0);
    assert.equal(report.duplicates, 0);
  });

  it("IPv6: pinged from its link-local address, its entry holds the owner's MAC", async () => {
    const vip6 = '2001:db8::100/128';
    for (const host of lab.hosts) {
      const res = await lab.api<VipView>(host.name, 'POST', '/ips', { ip: vip6 });
      assert.equal(res.status, 201, JSON.stringify(res.body));
    }
    const owner = await until(
      'one host to bind the IPv6 VIP',
      async () => {
        const holders = await lab.holders(vip6);
        return holders.length === 1 ? holders[0] : null;
      },
      10_000,
    );
    const client6 = await lab.client(vip6);
    try {
      await client6.waitForReply(10_000);
    } finally {
      const report = await client6.stop();
      assert.ok(report.replies > 0);
      assert.equal(report.neighbour?.mac, lab.host(owner).mac);
    }
  });

  it("graceful stop: a short gap, and the client's entry on the new owner", async () => {
    const owner = await singleHolder(lab);
    const t0 = Date.now();
    await lab.signalAgent(owner, 'SIGTERM');
    const successor = await singleHolder(lab, owner);
    await clientOn(client, lab.host(successor).mac);
    const report = client.report(t0);
    process.stderr.write(`graceful: client gap ${report.longestGap.ms.toFixed(1)} ms\n`);
    assert.ok(report.longestGap.endT !== null, 'the client is answered again');
    assert.ok(report.longestGap.ms < TTL_MS / 2, `gap ${report.longestGap.ms} ms`);
    await lab.startAgent(owner);
  });

  it("kill -9: a gap within TTL + margin, and the client's entry on the new owner", async () => {
    const owner = await singleHolder(lab);
    const t0 = Date.now();
    await lab.signalAgent(owner, 'SIGKILL');
    const successor = await singleHolder(lab, owner);
    await clientOn(client, lab.host(successor).mac);
    const final = await client.stop(t0);
    process.stderr.write(`kill -9: client gap ${final.longestGap.ms.toFixed(1)} ms\n`);
    assert.ok(final.longestGap.endT !== null, 'the client is answered again');
    assert.ok(final.longestGap.ms <= TTL_MS + MARGIN_MS, `gap ${final.longestGap.ms} ms`);
    assert.ok(final.longestGap.ms > 0);
    assert.equal(final.neighbour?.mac, lab.host(successor).mac);
    assert.ok(final.transmitted !== null && final.transmitted >= final.replies);
  });
});
