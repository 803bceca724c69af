import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Lab } from '../../lab/lab.ts';
import { run } from '../../lab/netns.ts';
import type { JournalEntry, VipView } from '../../actors/types.ts';
import { until } from '../support/until.ts';

/**
 * Issue 12, part 3: a VIP cannot be an address that belongs to someone. Two real agents in the
 * namespace lab against its real etcd: the API refuses a peer's address (which the peer
 * published under its lease), the agent's own, and every address class the rule names, storing
 * nothing; and a VIP a machine that is not a LinK agent already answers for (the lab's observer)
 * is not bound until that machine lets go of it, with ADDRESS_IN_USE naming its MAC.
 */

/** The VIP, and the address a machine that is not a LinK agent (the lab's observer) holds. */
const FOREIGN: [string, string][] = [
  ['198.18.0.150/32', '198.18.0.150/24'],
  ['2001:db8::150/128', '2001:db8::150/64'],
];
/** The agent probes again every 10 s (actors/address.ts); the probe listens 250 ms. */
const RETRY_MS = 10_000;

interface ErrorBody {
  error: string;
  field?: string;
  code?: string;
}

async function storedVips(lab: Lab, host: string): Promise<string[]> {
  const out = await lab.etcdctl(['get', '--prefix', '--keys-only', `/link/hosts/${host}/vip-`]);
  return out.split('\n').filter((line) => line.trim() !== '');
}

describe('a VIP cannot be an address that belongs to someone', { timeout: 120_000 }, () => {
  let lab: Lab;

  before(async () => {
    lab = await Lab.up({ name: `vo-${process.pid}`, hosts: 2 });
    // Each agent publishes its record at start; wait for both before asking for refusals.
    for (const host of lab.hosts) {
      await until(
        `the host record of ${host.name}`,
        async () => (await lab.etcdctl(['get', `/link/agents/${host.name}`])).includes(host.mac),
        10_000,
      );
    }
  });

  after(async () => {
    await lab?.down();
  });

  const refused = async (ip: string, reason: RegExp): Promise<void> => {
    const res = await lab.api<ErrorBody>('h1', 'POST', '/ips', { ip });
    assert.equal(res.status, 400, `${ip}: ${JSON.stringify(res.body)}`);
    assert.equal(res.body.field, 'ip', ip);
    assert.match(res.body.error, reason, ip);
  };

  it("refuses a peer LinK host's own address, naming the host, and stores nothing", async () => {
    await refused('198.18.0.12/32', /198\.18\.0\.12\/32" is the address of LinK host h2 \(eth0\)/);
    await refused('198.18.0.12/24', /is the address of LinK host h2/);
    assert.deepEqual(await storedVips(lab, 'h1'), []);
  });

  it("refuses the agent's own interface address", async () => {
    await refused('198.18.0.11/32', /is the address of eth0 on this host/);
    assert.deepEqual(await storedVips(lab, 'h1'), []);
  });

  it('refuses every address class of the rule with its reason', async () => {
    const cases: [string, RegExp][] = [
      ['198.18.0.255/24', /is the broadcast address of 198\.18\.0\.0\/24/],
      ['198.18.0.255/32', /is the broadcast address of 198\.18\.0\.0\/24 on eth0/],
      ['198.18.0.0/32', /is the network address of 198\.18\.0\.0\/24 on eth0/],
      ['fe80::1/64', /is link-local/],
      ['169.254.0.10/32', /is link-local/],
      ['::ffff:198.18.0.11/128', /IPv4-mapped/],
      ['127.0.0.5/32', /loopback/],
      ['224.0.0.1/32', /multicast/],
      ['0.0.0.0/32', /unspecified/],
      ['240.0.0.1/32', /240\.0\.0\.0\/4/],
    ];
    for (const [ip, reason] of cases) await refused(ip, reason);
    assert.deepEqual(await storedVips(lab, 'h1'), []);
  });

  for (const [vip, held] of FOREIGN) {
    it(`a foreign machine holds ${vip}: not bound, ADDRESS_IN_USE names its MAC, bound once it lets go`, async () => {
      const observer = lab.observer;
      await run('ip', [
        '-n',
        observer.ns,
        'addr',
        'add',
        held,
        'dev',
        'eth0',
        ...(vip.includes(':') ? ['nodad'] : []),
      ]);
      let dropped = false;
      try {
        const added = await lab.api<VipView>('h1', 'POST', '/ips', { ip: vip });
        assert.equal(added.status, 201, JSON.stringify(added.body));
        const id = added.body.id;
        const note = await until(
          'the ADDRESS_IN_USE note',
          async () => {
            const res = await lab.api<{ events: JournalEntry[] }>('h1', 'GET', `/ips/${id}/events`);
            return res.body.events.find((e) => e.kind === 'note' && e.code === 'ADDRESS_IN_USE');
          },
          5000,
        );
        assert.ok(note.kind === 'note');
        assert.match(note.message, new RegExp(observer.mac));
        // The kernel, sampled every 100 ms for 2 s after the note: h1 never holds it.
        const until2s = Date.now() + 2000;
        while (Date.now() < until2s) {
          assert.deepEqual(await lab.holders(vip), [], 'bound while a foreign machine holds it');
          await new Promise((resolve) => setTimeout(resolve, 100));
        }
        const view = await lab.api<{ ip: VipView }>('h1', 'GET', `/ips/${id}`);
        assert.equal(view.body.ip.status, 'ACTIVATED', 'h1 owns it in etcd, but does not bind it');

        await run('ip', ['-n', observer.ns, 'addr', 'del', held, 'dev', 'eth0']);
        dropped = true;
        const droppedAt = Date.now();
        await until(
          'h1 to bind the VIP',
          async () => (await lab.holders(vip)).includes('h1'),
          RETRY_MS + 3000,
        );
        const waited = Date.now() - droppedAt;
        console.log(`bound ${waited} ms after the foreign machine dropped the address`);
        const announced = await until(
          'an announcement after the delayed bind',
          async () => {
            const res = await lab.api<{ events: JournalEntry[] }>('h1', 'GET', `/ips/${id}/events`);
            return res.body.events.find((e) => e.kind === 'note' && e.code === 'ANNOUNCE_SENT');
          },
          3000,
        );
        assert.ok(announced);
      } finally {
        if (!dropped)
          await run('ip', ['-n', observer.ns, 'addr', 'del', held, 'dev', 'eth0']).catch(() => undefined);
      }
    });
  }

  it('an ordinary VIP: the first bind (with its probe) and a handover to a LinK host (without)', async () => {
    const vip = '198.18.0.160/32';
    const started = Date.now();
    const added = await lab.api<VipView>('h1', 'POST', '/ips', { ip: vip });
    assert.equal(added.status, 201, JSON.stringify(added.body));
    await until('h1 to bind it', async () => (await lab.holders(vip)).includes('h1'), 5000);
    console.log(`first bind: ${Date.now() - started} ms from POST to the kernel holding it`);
    const second = await lab.api<VipView>('h2', 'POST', '/ips', { ip: vip });
    assert.equal(second.status, 201, "a VIP another LinK host holds is not that host's address");
    await until(
      'h2 to stand by',
      async () => {
        const res = await lab.api<{ ip: VipView }>('h2', 'GET', `/ips/${second.body.id}`);
        return res.body.ip.status === 'STANDBY';
      },
      5000,
    );
    const failover = await lab.api('h1', 'POST', `/ips/${added.body.id}/failover`);
    assert.equal(failover.status, 204, JSON.stringify(failover.body));
    await until('h2 to bind it', async () => (await lab.holders(vip)).includes('h2'), 5000);
    const events = await lab.api<{ events: JournalEntry[] }>('h2', 'GET', `/ips/${second.body.id}/events`);
    assert.ok(!events.body.events.some((e) => e.kind === 'note' && e.code === 'ADDRESS_IN_USE'));
  });
});
