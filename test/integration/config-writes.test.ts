import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { Lab } from '../../lab/lab.ts';
import { createEtcdSession, type EtcdSessionImpl } from '../../adapters/etcd/index.ts';
import { makeKeys } from '../../adapters/etcd/keys.ts';
import type { VipView } from '../../actors/types.ts';
import { startEtcd, type EtcdCluster } from '../support/etcd.ts';
import { until } from '../support/until.ts';

/**
 * Issue 18, parts 3 and 5, against real etcd: a change the API refuses (503) while the host is
 * cut from etcd leaves the VIP as it was, here, in etcd after the partition heals (a request that
 * sat in a TCP buffer included) and after a restart; an accepted one holds. And one address has
 * one record per host, enforced by etcd, whatever the agent knows.
 */

const keys = makeKeys('/link');
const HOST = 'h1';
const TCP_CHECK = [{ type: 'TCP', host: '127.0.0.1', port: 1 }];
const SETTLE_MS = 15_000;

interface StoredJson {
  id: string;
  ip: string;
  checks: unknown[];
}

describe('configuration writes while the host is cut from etcd', { timeout: 180_000 }, () => {
  let lab: Lab;

  const list = async (): Promise<VipView[]> =>
    (await lab.api<{ ips: VipView[] }>(HOST, 'GET', '/ips')).body.ips;

  /** This host's VIP records as etcd holds them. */
  const stored = async (): Promise<StoredJson[]> => {
    const out = await lab.etcdctl(['get', '--prefix', '--print-value-only', keys.hostPrefix(HOST) + 'vip-']);
    return out
      .split('\n')
      .filter((line) => line.trim().startsWith('{'))
      .map((line) => JSON.parse(line) as StoredJson);
  };

  const indexOf = async (cidr: string): Promise<string> =>
    (await lab.etcdctl(['get', '--print-value-only', keys.addressIndex(HOST, cidr)])).trim();

  /** The fence's mod revision: it moves at a start and with every undo of a refused write. */
  const fenceRevision = async (): Promise<number> => {
    const out = JSON.parse(await lab.etcdctl(['get', '-w', 'json', keys.configFence(HOST)])) as {
      kvs?: { mod_revision: number }[];
    };
    return out.kvs?.[0]?.mod_revision ?? 0;
  };

  const bound = async (cidr: string): Promise<boolean> => (await lab.holders(cidr)).includes(HOST);

  const restart = async (): Promise<void> => {
    await lab.signalAgent(HOST, 'SIGTERM');
    await lab.startAgent(HOST);
  };

  before(async () => {
    lab = await Lab.up({ name: `dd-${process.pid}`, hosts: 1 });
  });

  after(async () => {
    await lab?.down();
  });

  it('DELETE, PATCH and POST refused (503) change nothing, then or later; accepted ones hold', async () => {
    const vip = '198.18.0.110/32';
    const added = await lab.api<VipView>(HOST, 'POST', '/ips', { ip: vip });
    assert.equal(added.status, 201, JSON.stringify(added.body));
    const id = added.body.id;
    await until('the VIP bound', () => bound(vip), 10_000);
    const fenceBefore = await fenceRevision();

    await lab.partition(HOST);
    try {
      // The first goes out while the session still looks alive: its request waits in TCP's
      // retransmission queue and reaches etcd when the partition heals, unless fenced.
      const timed = async (what: string, call: () => Promise<{ status: number; body: unknown }>) => {
        const started = Date.now();
        const answer = await call();
        console.log(`${what} while cut from etcd: ${answer.status} in ${Date.now() - started} ms`);
        assert.equal(answer.status, 503, JSON.stringify(answer.body));
      };
      await timed('DELETE', () => lab.api(HOST, 'DELETE', `/ips/${id}`));
      await timed('PATCH', () => lab.api(HOST, 'PATCH', `/ips/${id}`, { checks: TCP_CHECK }));
      await timed('POST', () => lab.api(HOST, 'POST', '/ips', { ip: '198.18.0.111/32' }));
      // Nothing changed here: still listed, with its checks, and served.
      const now = await list();
      assert.deepEqual(
        now.map((v) => [v.id, v.ip, v.checks]),
        [[id, vip, []]],
      );
      assert.ok(await bound(vip), 'the VIP is still bound');
    } finally {
      await lab.heal(HOST);
    }
    const healedAt = Date.now();

    // The undo moves the fence: from then on no request of the partition can land.
    await until('the refused writes undone', async () => (await fenceRevision()) > fenceBefore, SETTLE_MS);
    console.log(`refused writes undone ${Date.now() - healedAt} ms after the partition healed`);
    assert.deepEqual(
      (await stored()).map((v) => [v.id, v.ip, v.checks]),
      [[id, vip, []]],
    );
    assert.equal(await indexOf(vip), id);
    assert.equal(await indexOf('198.18.0.111/32'), '');
    assert.deepEqual(
      (await list()).map((v) => [v.id, v.checks]),
      [[id, []]],
    );

    await restart();
    assert.deepEqual(
      (await list()).map((v) => [v.id, v.ip, v.checks]),
      [[id, vip, []]],
    );
    await until('the VIP bound after the restart', () => bound(vip), 10_000);

    // Accepted: gone here, from etcd, unbound, and still gone after a restart.
    const del = await lab.api(HOST, 'DELETE', `/ips/${id}`);
    assert.equal(del.status, 204, JSON.stringify(del.body));
    assert.deepEqual(await list(), []);
    assert.deepEqual(await stored(), []);
    assert.equal(await indexOf(vip), '');
    await until('the VIP unbound', async () => !(await bound(vip)), 10_000);
    await restart();
    assert.deepEqual(await list(), []);
    assert.equal(await bound(vip), false);
  });

  it('one record per address: a duplicate in etcd is dropped at start, an add the agent did not know of is 409', async () => {
    const vip = '198.18.0.120/32';
    const added = await lab.api<VipView>(HOST, 'POST', '/ips', { ip: vip });
    assert.equal(added.status, 201, JSON.stringify(added.body));
    // A second record of the address, written as LinK before the index could (no index key).
    const dupId = `vip-${randomUUID()}`;
    await lab.etcdctl(['put', keys.config(HOST, dupId), JSON.stringify({ id: dupId, ip: vip, checks: [] })]);
    await restart();
    assert.deepEqual(
      (await list()).filter((v) => v.ip === vip).map((v) => v.id),
      [added.body.id],
    );
    assert.deepEqual(
      (await stored()).filter((v) => v.ip === vip).map((v) => v.id),
      [added.body.id],
    );

    // A record this agent never read (another process of this host wrote it, with its index).
    const other = '198.18.0.121/32';
    const otherId = `vip-${randomUUID()}`;
    await lab.etcdctl([
      'put',
      keys.config(HOST, otherId),
      JSON.stringify({ id: otherId, ip: other, checks: [] }),
    ]);
    await lab.etcdctl(['put', keys.addressIndex(HOST, other), otherId]);
    const again = await lab.api<{ code: string; existing_id: string }>(HOST, 'POST', '/ips', { ip: other });
    assert.equal(again.status, 409, JSON.stringify(again.body));
    assert.equal(again.body.existing_id, otherId);
    assert.deepEqual(
      (await stored()).filter((v) => v.ip === other).map((v) => v.id),
      [otherId],
    );
  });
});

describe('two writers of one host add one address at once (real etcd)', { timeout: 30_000 }, () => {
  let etcd: EtcdCluster;
  const sessions: EtcdSessionImpl[] = [];

  before(async () => {
    etcd = await startEtcd();
  });

  after(async () => {
    for (const s of sessions) await s.close({ revoke: true });
    await etcd?.close();
  });

  it('stores one record; the other add is told which', async () => {
    // Two processes with one hostname (a restart overlapping the old agent, a copied config).
    for (let i = 0; i < 2; i++) {
      sessions.push(await createEtcdSession({ hosts: etcd.hosts, hostname: 'dup-host', leaseTtlSeconds: 2 }));
    }
    await Promise.all(sessions.map((s) => s.config.list()));
    for (let round = 0; round < 5; round++) {
      const ip = `198.18.1.${round + 1}/32`;
      const ids = sessions.map(() => `vip-${randomUUID()}`);
      const answers = await Promise.all(
        sessions.map((s, i) => s.config.add({ id: ids[i]!, ip, checks: [] })),
      );
      const winners = answers.flatMap((a, i) => (a.added ? [ids[i]!] : []));
      assert.equal(winners.length, 1, JSON.stringify(answers));
      assert.deepEqual(
        answers.filter((a) => !a.added),
        [{ added: false, existingId: winners[0] }],
      );
      const values = await etcd.etcdctl([
        'get',
        '--prefix',
        '--print-value-only',
        '/link/hosts/dup-host/vip-',
      ]);
      assert.equal(values.split('\n').filter((line) => line.includes(`"${ip}"`)).length, 1, values);
    }
  });
});
