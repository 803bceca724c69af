import assert from 'node:assert/strict';
import { request } from 'node:http';
import { after, before, describe, it } from 'node:test';
import type { VipView } from '../../actors/types.ts';
import { httpCall } from '../../lab/api.ts';
import { Lab } from '../../lab/lab.ts';
import { clientWindow } from '../chaos/support.ts';
import { until } from '../support/until.ts';

/**
 * Issue 14 part 5: a flood of API requests against a standby costs the VIP nothing. Two hosts
 * carry the VIP (the standby 250 more of its own); 10,000 GET /ips at concurrency 200 and 100 SSE streams go to the standby while
 * the lab client pings the VIP every 5 ms. The standby's journal must show no fault and no
 * announcement, the owner stays owner, and the client sees no gap beyond a few intervals.
 */

const VIP = '198.18.0.100/32';
const REQUESTS = 10_000;
const CONCURRENCY = 200;
const STREAMS = 100;
/** VIPs the standby alone carries besides the watched one. */
const EXTRA_VIPS = 250;
/**
 * The client's outage bound (issue 14: ≤ 100 ms): echoes left unanswered, not ping's own silence.
 * The flood shares the 2 cores with ping, whose sends were delayed to a 196 ms gap in a CI run
 * with no echo lost, no fault and no announcement; `clientWindow` tells the two apart.
 */
const CLIENT_OUTAGE_MS = 100;

describe('API flood of a standby (http/load.ts, the fence asks etcd)', { timeout: 180_000 }, () => {
  let lab: Lab;
  before(async () => {
    lab = await Lab.up({ name: `fl-${process.pid}`, hosts: 2 });
  });
  after(async () => {
    await lab?.down();
  });

  it('10,000 requests at concurrency 200 and 100 SSE streams: no fault, no announcement, no client gap', async () => {
    const ids: Record<string, string> = {};
    for (const h of lab.hosts) {
      const res = await lab.api<VipView>(h.name, 'POST', '/ips', { ip: VIP });
      assert.equal(res.status, 201, JSON.stringify(res.body));
      ids[h.name] = res.body.id;
    }
    const owner = await until(
      'one owner',
      async () => {
        const holders = await lab.holders(VIP);
        return holders.length === 1 ? holders[0] : null;
      },
      10_000,
    );
    const standby = lab.hosts.find((h) => h.name !== owner)!;
    // A GET /ips the size of a real host's, so the flood costs the standby's event loop something.
    const extra = Array.from({ length: EXTRA_VIPS }, (_, i) => `198.18.2.${(i % 250) + 1}/32`);
    for (let i = 0; i < extra.length; i += 25) {
      const added = await Promise.all(
        extra.slice(i, i + 25).map((ip) => lab.api<VipView>(standby.name, 'POST', '/ips', { ip })),
      );
      for (const res of added) assert.equal(res.status, 201, JSON.stringify(res.body));
    }
    const client = await lab.client(VIP);
    await client.waitForReply(5000);
    const from = Date.now();

    const streams: (() => void)[] = [];
    for (let i = 0; i < STREAMS; i++) {
      await new Promise<void>((resolve) => {
        const req = request(
          {
            socketPath: standby.socket,
            path: `/ips/${ids[standby.name]}/events`,
            headers: { accept: 'text/event-stream' },
          },
          (res) => {
            res.resume();
            resolve();
          },
        );
        req.on('error', () => resolve());
        req.end();
        streams.push(() => req.destroy());
      });
    }
    const statuses = new Map<string, number>();
    let next = 0;
    const worker = async () => {
      while (next < REQUESTS) {
        next++;
        const status = await httpCall({ socketPath: standby.socket }, 'GET', '/ips').then(
          (res) => String(res.status),
          (err: unknown) => (err instanceof Error ? err.message.split(':')[0]! : 'error'),
        );
        statuses.set(status, (statuses.get(status) ?? 0) + 1);
      }
    };
    const started = Date.now();
    await Promise.all(Array.from({ length: CONCURRENCY }, worker));
    const floodMs = Date.now() - started;
    for (const end of streams) end();
    // The standby's session confirmed a keep-alive after the flood (a fence it missed would
    // have been decided by then: the ask takes at most TTL/3).
    await until(
      'the standby kept alive after the flood',
      async () => {
        const health = await lab.api<{ etcd?: string; leaseRemainingMs?: number }>(
          standby.name,
          'GET',
          '/healthz',
        );
        return health.body.etcd === 'alive' && (health.body.leaseRemainingMs ?? 0) > 1000;
      },
      10_000,
    );
    const view = clientWindow(client, from);
    const report = await client.stop(from);

    const journal = await lab.api<{ events: { kind: string; event?: string; code?: string }[] }>(
      standby.name,
      'GET',
      `/ips/${ids[standby.name]}/events`,
    );
    const faults = journal.body.events.filter((e) => e.kind === 'event' && e.event === 'fault');
    const announced = journal.body.events.filter((e) => e.code === 'ANNOUNCE_SENT');
    console.log(
      `# flood: ${REQUESTS} requests in ${floodMs} ms (${[...statuses].map(([s, n]) => `${s}: ${n}`).join(', ')}); client longest gap ${view.gapMs.toFixed(0)} ms, outage ${view.outageMs.toFixed(0)} ms, ${report.duplicates} duplicates, neighbour ${report.neighbour?.mac}`,
    );
    assert.equal((statuses.get('200') ?? 0) > 0, true, 'the API still answers');
    assert.deepEqual(faults, [], 'the standby never faulted');
    assert.deepEqual(announced, [], 'the standby never announced the VIP');
    assert.deepEqual(await lab.holders(VIP), [owner], 'the owner kept it');
    assert.equal(report.duplicates, 0, 'never two answering');
    assert.ok(
      view.outageMs <= CLIENT_OUTAGE_MS,
      `client outage ${view.outageMs} ms (${view.lost} echoes lost)`,
    );
    assert.equal(report.neighbour?.mac, lab.host(owner).mac, "the client's entry is the owner's");
  });
});
