import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import type { JournalEntry, VipView } from '../../actors/types.ts';
import { httpCall, type HttpAnswer } from '../../lab/api.ts';
import type { Client } from '../../lab/client.ts';
import { Lab } from '../../lab/lab.ts';
import { spawnIn } from '../../lab/netns.ts';
import { until } from '../support/until.ts';

/**
 * Issue 14 part 4, "Failover never drops a VIP it cannot hand over", in the lab (real etcd, real
 * agents, the lab's client): POST /ips/:id/failover hands over only to a candidate that takes the
 * lock (adapters/etcd/README.md, "Failover"). The owner's kernel is watched throughout with
 * `ip monitor address`: a failover that cannot hand over must never delete the VIP there.
 * Each test failed before the part: no live candidate (a lease-less membership key) and frozen
 * standbys both unbound the VIP for HANDOVER_TIMEOUT (5 s) and then answered 504.
 */

const TTL_MS = 2000;
const HANDOVER_TIMEOUT_MS = 5000;

/** `ip monitor address` in a host's namespace: every address deleted there while it runs. */
class AddressMonitor {
  readonly deleted: string[] = [];
  private readonly child: ChildProcess;
  private readonly ready: Promise<void>;
  constructor(ns: string) {
    this.child = spawnIn(ns, 'ip', ['-o', 'monitor', 'address']);
    const lines = createInterface({ input: this.child.stdout! });
    lines.on('line', (line) => {
      if (line.startsWith('Deleted')) this.deleted.push(line);
    });
    this.ready = new Promise((resolve) => this.child.once('spawn', () => resolve()));
  }
  async started(): Promise<void> {
    await this.ready;
    // ip needs a moment to subscribe after exec; nothing is being deleted at this point anyway.
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  deletedOf(address: string): string[] {
    return this.deleted.filter((line) => line.includes(` ${address}/`));
  }
  stop(): void {
    this.child.kill('SIGTERM');
  }
}

describe('failover never drops a VIP it cannot hand over (lab)', { timeout: 240_000 }, () => {
  let lab: Lab;
  const ids = new Map<string, string>(); // host -> VIP id of VIP
  const VIP = '198.18.0.100/32';

  const api = (host: string, method: string, path: string): Promise<HttpAnswer> =>
    httpCall({ socketPath: lab.host(host).socket }, method, path, {
      headers: { accept: 'application/json' },
      timeoutMs: 30_000,
    });

  async function oneHolder(cidr: string, not?: string): Promise<string> {
    return until(
      `one host to bind ${cidr}`,
      async () => {
        const holders = await lab.holders(cidr);
        return holders.length === 1 && holders[0] !== not ? holders[0] : null;
      },
      TTL_MS * 3 + 10_000,
    );
  }

  before(async () => {
    lab = await Lab.up({
      name: `fh-fo-${process.pid}`,
      hosts: 3,
      agentEnv: { HANDOVER_TIMEOUT: `${HANDOVER_TIMEOUT_MS}ms` },
    });
    for (const host of lab.hosts) {
      const res = await lab.api<VipView>(host.name, 'POST', '/ips', { ip: VIP });
      assert.equal(res.status, 201, JSON.stringify(res.body));
      ids.set(host.name, res.body.id);
    }
    await oneHolder(VIP);
  });

  after(async () => {
    for (const host of lab?.hosts ?? [])
      await lab.signalAgent(host.name, 'SIGCONT', false).catch(() => undefined);
    await lab?.down();
  });

  it('a normal failover is still zero-gap, names the successor in its answer and the successor holds it', async () => {
    const owner = await oneHolder(VIP);
    const client: Client = await lab.client(VIP);
    try {
      await client.waitForReply(10_000);
      const from = Date.now();
      const res = await api(owner, 'POST', `/ips/${ids.get(owner)}/failover`);
      assert.equal(res.status, 204, res.text);
      const named = res.headers['vip-owner'];
      assert.ok(
        typeof named === 'string' && named !== owner,
        `VIP-Owner names the successor: ${String(named)}`,
      );
      assert.equal(await oneHolder(VIP, owner), named, 'the host it named holds the VIP');
      await until(
        'the client on the successor',
        async () => (await client.neighbour())?.mac === lab.host(named).mac,
        10_000,
      );
      await client.waitForReply(5000);
      // The successor bound only once the owner had unbound: its takeover probe found nobody.
      const notes = async () =>
        (await lab.api<{ events: JournalEntry[] }>(named, 'GET', `/ips/${ids.get(named)}/events`)).body.events
          .filter((e) => e.kind === 'note' && Date.parse(e.time) >= from)
          .map((e) => (e.kind === 'note' ? e.code : ''));
      const probed = await until(
        'the successor to report its takeover probe',
        async () => {
          const codes = await notes();
          return codes.includes('TAKEOVER_PROBED') || codes.includes('SECOND_HOLDER') ? codes : null;
        },
        10_000,
      );
      assert.ok(
        !probed.includes('SECOND_HOLDER') && !probed.includes('CONFLICT_DETECTED'),
        probed.join(', '),
      );
      const report = client.report(from);
      console.log(
        `# normal failover ${owner} -> ${named}: the client's longest gap ${report.longestGap.ms.toFixed(0)} ms (interval 5 ms), ${report.duplicates} duplicate replies`,
      );
    } finally {
      await client.stop();
    }
  });

  it('no live other candidate (only a lease-less membership key, as a LinK v2 host writes): 409 NO_OTHER_CANDIDATE at once, the VIP never unbound', async () => {
    const SOLO = '198.18.0.101/32';
    const owner = lab.hosts[0]!.name;
    const res = await lab.api<VipView>(owner, 'POST', '/ips', { ip: SOLO });
    assert.equal(res.status, 201, JSON.stringify(res.body));
    await until('the owner to bind it', async () => (await lab.holders(SOLO)).includes(owner), 10_000);
    // A v2 host's membership key: no lease, `{"updated_at":…}`.
    await lab.etcdctl([
      'put',
      '/link/ips/198.18.0.101_32/v2-host',
      JSON.stringify({ updated_at: new Date().toISOString() }),
    ]);
    const monitor = new AddressMonitor(lab.host(owner).ns);
    try {
      await monitor.started();
      const started = performance.now();
      const answer = await api(owner, 'POST', `/ips/${res.body.id}/failover`);
      const ms = performance.now() - started;
      console.log(`# no live candidate: ${answer.status} in ${ms.toFixed(0)} ms: ${answer.text}`);
      assert.equal(answer.status, 409, answer.text);
      assert.equal((answer.json as { code: string }).code, 'NO_OTHER_CANDIDATE');
      assert.match((answer.json as { error: string }).error, /v2-host: its membership key has no lease/);
      assert.ok(ms < HANDOVER_TIMEOUT_MS, 'answered without waiting for the handover bound');
      assert.deepEqual(await lab.holders(SOLO), [owner]);
      assert.deepEqual(monitor.deletedOf('198.18.0.101'), [], 'the kernel held it throughout');
    } finally {
      monitor.stop();
    }
  });

  it('failover with both standbys frozen (SIGSTOP): a non-2xx within 10 s, the VIP never unbound, the client keeps reaching it', async () => {
    const owner = await oneHolder(VIP);
    const standbys = lab.hosts.map((h) => h.name).filter((name) => name !== owner);
    const client = await lab.client(VIP);
    const monitor = new AddressMonitor(lab.host(owner).ns);
    try {
      await client.waitForReply(10_000);
      await monitor.started();
      const from = Date.now();
      for (const name of standbys) await lab.signalAgent(name, 'SIGSTOP', false);
      const started = performance.now();
      const answer = await api(owner, 'POST', `/ips/${ids.get(owner)}/failover`);
      const ms = performance.now() - started;
      console.log(`# frozen standbys: ${answer.status} in ${ms.toFixed(0)} ms: ${answer.text}`);
      assert.ok(answer.status >= 400, `non-2xx: ${answer.status} ${answer.text}`);
      assert.ok([409, 504].includes(answer.status), answer.text);
      assert.ok(ms < 10_000, `within 10 s (${ms.toFixed(0)} ms)`);
      assert.deepEqual(await lab.holders(VIP), [owner]);
      assert.deepEqual(monitor.deletedOf('198.18.0.100'), [], 'the kernel held it throughout');
      await client.waitForReply(5000);
      const report = client.report(from);
      console.log(`# frozen standbys: the client's longest gap ${report.longestGap.ms.toFixed(0)} ms`);
      assert.equal(
        (await lab.api<{ ip: VipView }>(owner, 'GET', `/ips/${ids.get(owner)}`)).body.ip.status,
        'ACTIVATED',
      );
    } finally {
      for (const name of standbys) await lab.signalAgent(name, 'SIGCONT', false);
      monitor.stop();
      await client.stop();
    }
    // Thawed, they stand by again: still one holder, the same.
    assert.equal(await oneHolder(VIP), owner);
  });
});
