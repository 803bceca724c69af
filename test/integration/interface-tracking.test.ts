import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { JournalEntry, VipView } from '../../actors/types.ts';
import type { HealthReport } from '../../actors/health.ts';
import { Lab } from '../../lab/lab.ts';
import { until } from '../support/until.ts';

/**
 * Issue 16 part 5, interface tracking, in the lab with etcd on a second bridge (LabSpec
 * etcdNetwork): the owner's VIP interface loses carrier (its switch port goes down) while the
 * host still reaches etcd over eth1. Without TRACK_INTERFACE the owner kept the lock and the
 * VIP was dead for the clients until the link came back; with it, the VIP is on another host
 * within 1 s of the carrier loss, as the lab client (ping every 5 ms, kernel neighbour table)
 * and the ARP observer both see, and the host competes again once its link is back (and etcd has
 * answered since). TRACK_INTERFACE is on by default: the lab's agents run with it.
 */

const VIP = '198.18.0.100/32';

describe('interface tracking (lab, etcd on a second interface)', { timeout: 180_000 }, () => {
  let lab: Lab;
  const ids = new Map<string, string>();

  const holder = (not?: string): Promise<string> =>
    until(
      `one host to hold ${VIP}${not ? ` other than ${not}` : ''}`,
      async () => {
        const holders = await lab.holders(VIP);
        return holders.length === 1 && holders[0] !== not ? holders[0] : null;
      },
      20_000,
    );

  const status = async (host: string): Promise<string> =>
    (await lab.api<{ ip: VipView }>(host, 'GET', `/ips/${ids.get(host)}`)).body.ip.status;

  before(async () => {
    lab = await Lab.up({ name: `it-track-${process.pid}`, hosts: 3, etcdNetwork: true });
    for (const host of lab.hosts) {
      const res = await lab.api<VipView>(host.name, 'POST', '/ips', { ip: VIP });
      assert.equal(res.status, 201, JSON.stringify(res.body));
      ids.set(host.name, res.body.id);
    }
    await holder();
  });

  after(async () => {
    await lab?.down();
  });

  it('the owner losing carrier moves the VIP within 1 s; back up, it competes again', async (t) => {
    const owner = await holder();
    const ownerMac = lab.host(owner).mac;
    const client = await lab.client(VIP);
    const observation = lab.observe(VIP, 10);
    try {
      await client.waitForReply(10_000);
      await observation.waitForRound((r) => r.macs.length === 1 && r.macs[0] === ownerMac, 5000);

      const cutAt = Date.now();
      await lab.cutLink(owner);
      // The client's view: replies again, from another host's MAC, within 1 s of the cut.
      const reply = await client.waitForReply(5000, (r) => r.t > cutAt);
      const neighbour = await client.neighbour();
      assert.ok(
        neighbour?.mac && neighbour.mac !== ownerMac,
        `client neighbour: ${JSON.stringify(neighbour)}`,
      );
      const successor = lab.hostOfMac(neighbour.mac);
      assert.ok(successor !== undefined && successor !== owner, `successor ${String(successor)}`);
      const backAfterMs = reply.t - cutAt;
      t.diagnostic(`client answered by ${successor} ${backAfterMs} ms after the carrier loss`);
      assert.ok(backAfterMs <= 1000, `client answered again ${backAfterMs} ms after the carrier loss`);
      // The observer's view: the successor's MAC alone answers for the VIP.
      const round = await observation.waitForRound(
        (r) => r.macs.length === 1 && r.macs[0] === neighbour.mac,
        5000,
      );
      assert.ok(round.macs[0] !== ownerMac);
      assert.equal(await holder(owner), successor);
      const report = client.report(cutAt - 5);
      assert.equal(report.duplicates, 0, 'never two holders');

      // Journaled, counted, shown on the owner (still on etcd over eth1).
      const id = ids.get(owner)!;
      assert.equal(await status(owner), 'FAILING');
      const events = (await lab.api<{ events: JournalEntry[] }>(owner, 'GET', `/ips/${id}/events`)).body
        .events;
      assert.ok(
        events.some((e) => e.kind === 'event' && e.event === 'health_check_fail' && e.source === 'link'),
        'health_check_fail with source link journaled',
      );
      assert.ok(
        events.some((e) => e.kind === 'note' && e.code === 'LINK_DOWN'),
        'LINK_DOWN noted',
      );
      const health = await lab.api<HealthReport>(owner, 'GET', '/healthz');
      assert.equal(health.status, 503);
      assert.ok(health.body.codes.includes('LINK_DOWN'), JSON.stringify(health.body));
      assert.equal(health.body.link?.up, false);
      const metrics = await lab.api<string>(owner, 'GET', '/metrics');
      assert.match(String(metrics.body), /link_interface_down_total\{interface="eth0"\} 1/);
      assert.match(String(metrics.body), /link_interface_up\{interface="eth0"\} 0/);

      // The link comes back: the owner competes again (STANDBY, healthy), the VIP stays put.
      await lab.restoreLink(owner);
      await until(`${owner} to compete again`, async () => (await status(owner)) === 'STANDBY', 10_000);
      const healed = await lab.api<HealthReport>(owner, 'GET', '/healthz');
      assert.equal(healed.status, 200, JSON.stringify(healed.body));
      const after = (await lab.api<{ events: JournalEntry[] }>(owner, 'GET', `/ips/${id}/events`)).body
        .events;
      assert.ok(
        after.some((e) => e.kind === 'note' && e.code === 'LINK_UP'),
        'LINK_UP noted',
      );
      assert.equal(await holder(), successor);
    } finally {
      await observation.stop();
      await client.stop();
    }
  });

  it('a host whose link is down at start never wins the VIP', async () => {
    const owner = await holder();
    const other = lab.hosts.map((h) => h.name).find((n) => n !== owner)!;
    await lab.signalAgent(other, 'SIGKILL');
    await lab.cutLink(other);
    try {
      await lab.startAgent(other);
      await until(`${other} to start FAILING`, async () => (await status(other)) === 'FAILING', 10_000);
      // The owner hands the VIP over (SIGTERM): the third host takes it, never the one without link.
      await lab.signalAgent(owner, 'SIGTERM');
      const next = await holder(owner);
      assert.notEqual(next, other);
      assert.equal(await status(other), 'FAILING');
    } finally {
      await lab.restoreLink(other);
    }
  });
});
