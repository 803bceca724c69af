import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createEtcdSession, EtcdNotOwnerError } from '../../adapters/etcd/index.ts';
import type { EtcdSessionImpl, VipElection } from '../../adapters/etcd/index.ts';
import { DEFAULT_PRIORITY, decodeMember } from '../../adapters/etcd/member.ts';
import type { ElectionEvent } from '../../adapters/etcd/types.ts';
import { startEtcd, waitFor } from '../support/etcd.ts';
import type { EtcdCluster } from '../support/etcd.ts';

const TTL = 2;
const decided = (e: ElectionEvent) => e.type === 'elected' || e.type === 'demoted';

describe('etcd election (real etcd)', () => {
  let etcd: EtcdCluster;
  const sessions: EtcdSessionImpl[] = [];
  let vipCount = 0;
  const nextVip = () => `198.18.0.${++vipCount}/32`;

  async function session(hostname: string, prefix = '/link'): Promise<EtcdSessionImpl> {
    const s = await createEtcdSession({ hosts: etcd.hosts, hostname, prefix, leaseTtlSeconds: TTL });
    sessions.push(s);
    return s;
  }

  /** Subscribes (so nothing is missed) and records every event. */
  function record(election: VipElection): ElectionEvent[] {
    const seen: ElectionEvent[] = [];
    election.events$.subscribe((e) => seen.push(e));
    return seen;
  }

  before(async () => {
    etcd = await startEtcd();
  });
  after(async () => {
    for (const s of sessions) await s.close({ revoke: true });
    await etcd.close();
  });

  it('three hosts on one VIP: exactly one elected, the others demoted naming it', async () => {
    const vip = nextVip();
    const hosts = await Promise.all(['h1', 'h2', 'h3'].map((h) => session(h)));
    const elections = hosts.map((s) => s.election(vip));
    const first = await Promise.all(
      elections.map((e) => waitFor(e.events$, decided, 3000, 'first decision')),
    );
    const winners = first.filter((e) => e.type === 'elected');
    assert.equal(winners.length, 1);
    const owner = await elections[0]!.owner();
    assert.ok(owner !== null);
    for (const e of first) if (e.type === 'demoted') assert.equal(e.owner, owner);
    const members = await elections[0]!.hosts();
    assert.deepEqual(
      members.map((m) => m.hostname),
      ['h1', 'h2', 'h3'],
    );
    assert.deepEqual(
      members.filter((m) => m.owner).map((m) => m.hostname),
      [owner],
    );
    for (const s of hosts) await s.close({ revoke: true });
  });

  it('owner closed with revoke: another host elected within one watch round trip', async () => {
    const vip = nextVip();
    const [a, b] = [await session('rev-a'), await session('rev-b')];
    const ea = a.election(vip);
    await waitFor(ea.events$, (e) => e.type === 'elected', 3000, 'a elected');
    const eb = b.election(vip);
    await waitFor(eb.events$, (e) => e.type === 'demoted', 3000, 'b demoted');
    const started = performance.now();
    const elected = waitFor(eb.events$, (e) => e.type === 'elected', 1000, 'b elected');
    await a.close({ revoke: true });
    await elected;
    const ms = performance.now() - started;
    console.log(`# takeover after revoke: ${ms.toFixed(1)} ms`);
    assert.ok(ms < 500, `takeover took ${ms} ms`);
    await b.close({ revoke: true });
  });

  it('setCandidate(false) on the owner releases; a non-candidate never takes the lock', async () => {
    const vip = nextVip();
    const [a, b] = [await session('cand-a'), await session('cand-b')];
    const ea = a.election(vip);
    await waitFor(ea.events$, (e) => e.type === 'elected', 3000, 'a elected');
    const eb = b.election(vip);
    await waitFor(eb.events$, (e) => e.type === 'demoted', 3000, 'b demoted');
    const bElected = waitFor(eb.events$, (e) => e.type === 'elected', 2000, 'b elected');
    const aDemoted = waitFor(
      ea.events$,
      (e) => e.type === 'demoted' && e.owner === 'cand-b',
      2000,
      'a demoted',
    );
    ea.setCandidate(false);
    await Promise.all([bElected, aDemoted]);
    assert.deepEqual(
      (await ea.hosts()).map((m) => [m.hostname, m.owner]),
      [['cand-b', true]],
    );
    // b withdraws too: the lock is free and a, not a candidate, must not take it.
    const seenA = record(ea);
    eb.setCandidate(false);
    await waitFor(eb.events$, (e) => e.type === 'demoted', 2000, 'b demoted');
    assert.equal(await ea.tryLock(), false);
    await new Promise((r) => setTimeout(r, 200)); // a quiet period: nothing may happen in it
    assert.equal(await ea.owner(), null);
    assert.ok(!seenA.some((e) => e.type === 'elected'));
    // a comes back: it takes the free lock at once.
    ea.setCandidate(true);
    await waitFor(ea.events$, (e) => e.type === 'elected', 2000, 'a elected again');
    await a.close({ revoke: true });
    await b.close({ revoke: true });
  });

  it('failover() hands over to another host; throws EtcdNotOwnerError when not the owner', async () => {
    const vip = nextVip();
    const [a, b] = [await session('fo-a'), await session('fo-b')];
    const ea = a.election(vip);
    await waitFor(ea.events$, (e) => e.type === 'elected', 3000, 'a elected');
    const eb = b.election(vip);
    await waitFor(eb.events$, (e) => e.type === 'demoted', 3000, 'b demoted');
    await assert.rejects(eb.failover(1000), (err: unknown) => {
      assert.ok(err instanceof EtcdNotOwnerError);
      assert.equal(err.code, 'ETCD_NOT_OWNER');
      return true;
    });
    const started = performance.now();
    const outcome = await ea.failover(2000);
    console.log(`# failover handover: ${(performance.now() - started).toFixed(1)} ms`);
    assert.deepEqual(outcome, { result: 'handed-over', owner: 'fo-b' });
    await waitFor(eb.events$, (e) => e.type === 'elected', 1000, 'b elected');
    await waitFor(ea.events$, (e) => e.type === 'demoted' && e.owner === 'fo-b', 1000, 'a demoted');
    // a stays a candidate: when b goes away, a takes it back.
    await b.close({ revoke: true });
    await waitFor(ea.events$, (e) => e.type === 'elected', 1000, 'a elected again');
    // Alone, failover finds no live candidate: it says so at once and never lets go of the lock.
    assert.deepEqual(await ea.failover(300), { result: 'no-live-candidate', notLive: [] });
    assert.equal(await ea.owner(), 'fo-a');
    await a.close({ revoke: true });
  });

  it('restart with revoke:false reuses the lease: elected at once, lock never released', async () => {
    const vip = nextVip();
    const a1 = await session('reuse-a');
    const e1 = a1.election(vip);
    await waitFor(e1.events$, (e) => e.type === 'elected', 3000, 'a elected');
    const b = await session('reuse-b');
    const eb = b.election(vip);
    await waitFor(eb.events$, (e) => e.type === 'demoted', 3000, 'b demoted');
    const seenB = record(eb);
    const lease = a1.status().leaseId;
    await a1.close({ revoke: false });
    const a2 = await session('reuse-a');
    assert.equal(a2.status().leaseId, lease, 'the stored lease is reused');
    const e2 = a2.election(vip);
    const first = await waitFor(e2.events$, () => true, 2000, 'first event');
    assert.equal(first.type, 'elected');
    // Past the old process's TTL: still the owner, b never saw the lock free or taken.
    await new Promise((r) => setTimeout(r, TTL * 1000 + 300));
    assert.equal(await e2.owner(), 'reuse-a');
    assert.deepEqual(
      seenB.map((e) => e.type),
      ['demoted'],
    );
    await a2.close({ revoke: true });
    await b.close({ revoke: true });
  });

  it('a restart after the lease expired removes its own stale lock and takes it', async () => {
    const vip = nextVip();
    const a1 = await session('stale-a');
    const e1 = a1.election(vip);
    await waitFor(e1.events$, (e) => e.type === 'elected', 3000, 'a elected');
    await a1.close({ revoke: false });
    // Another lease id in the lease record: the new run cannot reuse it and grants a new one.
    await etcd.etcdctl(['put', '/link/config/stale-a', '{"hostname":"stale-a","lease_id":12345}']);
    const a2 = await session('stale-a');
    assert.notEqual(a2.status().leaseId, '12345');
    const e2 = a2.election(vip);
    await waitFor(e2.events$, (e) => e.type === 'elected', 3000, 'a elected with its new lease');
    await a2.close({ revoke: true });
  });

  it('config store: put, list, delete; nothing but VIPs under hosts/<host>/ (the lease id is in config/<host>)', async () => {
    const a = await session('cfg-a', '/cfgtest');
    assert.deepEqual(await a.config.list(), []);
    const vip1 = { id: 'vip-00000000-0000-4000-8000-000000000001', ip: '198.18.1.1/32', checks: [] };
    const vip2 = {
      id: 'vip-00000000-0000-4000-8000-000000000002',
      ip: '2001:db8::1/128',
      checks: [{ type: 'TCP', host: '127.0.0.1', port: 80 }],
      healthcheck_interval: 5,
    };
    assert.deepEqual(await a.config.add(vip1), { added: true });
    assert.deepEqual(await a.config.add(vip2), { added: true });
    const keys = await etcd.etcdctl(['get', '--prefix', '--keys-only', '/cfgtest/hosts/cfg-a/']);
    assert.doesNotMatch(keys, /\/cfgtest\/hosts\/cfg-a\/lease/);
    assert.match(
      await etcd.etcdctl(['get', '--print-value-only', '/cfgtest/config/cfg-a']),
      /"lease_id":\d+/,
    );
    assert.deepEqual(await a.config.list(), [vip1, vip2]);
    await a.config.delete(vip1);
    assert.deepEqual(await a.config.list(), [vip2]);
    // Configuration has no lease: it survives the agent's lease.
    await a.close({ revoke: true });
    const again = await session('cfg-a', '/cfgtest');
    assert.deepEqual(await again.config.list(), [vip2]);
    await again.close({ revoke: true });
  });

  it('keys follow LinK v2: lock /link/default/<ip_len>, membership /link/ips/<ip_len>/<host>', async () => {
    const a = await session('keys-a');
    const e = a.election('198.18.0.200/32');
    await waitFor(e.events$, (ev) => ev.type === 'elected', 3000, 'elected');
    assert.equal(
      (await etcd.etcdctl(['get', '--print-value-only', '/link/default/198.18.0.200_32'])).trim(),
      'keys-a',
    );
    // The membership value: the candidate's placement as JSON (member.ts), its hostname first.
    assert.deepEqual(
      decodeMember(
        'keys-a',
        (await etcd.etcdctl(['get', '--print-value-only', '/link/ips/198.18.0.200_32/keys-a'])).trim(),
      ),
      { hostname: 'keys-a', priority: DEFAULT_PRIORITY, preempt: false },
    );
    await e.close();
    assert.equal((await etcd.etcdctl(['get', '/link/default/198.18.0.200_32'])).trim(), '');
    assert.equal((await etcd.etcdctl(['get', '/link/ips/198.18.0.200_32/keys-a'])).trim(), '');
    await a.close({ revoke: true });
  });

  it('closing releases every events$ subscription and completes the streams', async () => {
    const a = await session('leak-a');
    const e = a.election(nextVip());
    const sub1 = e.events$.subscribe(() => undefined);
    const sub2 = e.events$.subscribe(() => undefined);
    await waitFor(e.events$, decided, 3000, 'decision');
    assert.equal(e.subscribers, 2);
    sub1.unsubscribe();
    assert.equal(e.subscribers, 1);
    let completed = false;
    e.events$.subscribe({ complete: () => (completed = true) });
    await a.close({ revoke: true });
    assert.ok(completed);
    assert.ok(sub2.closed);
    assert.equal(e.subscribers, 0);
    let statusCompleted = false;
    a.status$.subscribe({ complete: () => (statusCompleted = true) });
    assert.ok(statusCompleted);
    assert.equal(a.status().state, 'closed');
  });
});
