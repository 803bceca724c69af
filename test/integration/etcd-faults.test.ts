import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { buildClientOptions, createEtcdSession } from '../../adapters/etcd/index.ts';
import type { EtcdSessionImpl, EtcdSessionOptions } from '../../adapters/etcd/index.ts';
import { createRpc } from '../../adapters/etcd/rpc.ts';
import type { EtcdRpc } from '../../adapters/etcd/rpc.ts';
import type { ElectionEvent } from '../../adapters/etcd/types.ts';
import { startEtcd, waitFor } from '../support/etcd.ts';
import { until } from '../support/until.ts';
import type { EtcdCluster } from '../support/etcd.ts';

const TTL = 2;
const TTL_MS = TTL * 1000;
const MARGIN_MS = 1000;
const VIP = '198.18.0.10/32';
const decided = (e: ElectionEvent) => e.type === 'elected' || e.type === 'demoted';

describe('etcd faults and recovery (real etcd)', () => {
  let etcd: EtcdCluster;
  let sessions: EtcdSessionImpl[] = [];

  const options = (hostname: string): EtcdSessionOptions => ({
    hosts: etcd.hosts,
    hostname,
    leaseTtlSeconds: TTL,
  });
  async function session(hostname: string, rpc?: EtcdRpc): Promise<EtcdSessionImpl> {
    const s = await createEtcdSession(options(hostname), rpc ? { rpc } : {});
    sessions.push(s);
    return s;
  }
  /** Sessions a, b (and c) on VIP; resolves with them ordered owner first. */
  async function elect(names: string[]) {
    const all = await Promise.all(names.map((n) => session(n)));
    const elections = all.map((s) => s.election(VIP));
    const first = await Promise.all(elections.map((e) => waitFor(e.events$, decided, 3000, 'decision')));
    assert.equal(first.filter((e) => e.type === 'elected').length, 1, 'exactly one elected');
    const i = first.findIndex((e) => e.type === 'elected');
    const owner = { session: all[i]!, election: elections[i]! };
    const others = all.map((s, j) => ({ session: s, election: elections[j]! })).filter((_, j) => j !== i);
    return { owner, others };
  }

  beforeEach(async () => {
    etcd = await startEtcd();
    sessions = [];
  });
  afterEach(async () => {
    for (const s of sessions) await s.close({ revoke: false });
    await etcd.close();
  });

  it('a frozen owner (no keep-alives): its fence passes, etcd says the lease is ending, it stands down (never fault); another host is elected once the lease expires', async () => {
    const { owner, others } = await elect(['fz-a', 'fz-b']);
    const other = others[0]!;
    const started = performance.now();
    const seen: string[] = [];
    const sub = owner.election.events$.subscribe((e) => seen.push(e.type));
    // etcd reports whole seconds left: "1" at the first fence carries on one more second.
    const standDown = waitFor(
      owner.election.events$,
      (e) => e.type === 'demoted',
      2 * TTL_MS + MARGIN_MS,
      'stand down',
    );
    const takeover = waitFor(
      other.election.events$,
      (e) => e.type === 'elected',
      2 * TTL_MS + MARGIN_MS,
      'takeover',
    );
    owner.session.testing.freeze();
    await standDown;
    const standDownMs = performance.now() - started;
    assert.ok(!seen.includes('fault'), `no fault: ${seen.join(', ')}`);
    // etcd answered: not an outage, so nothing the agent may re-create an address on.
    assert.equal(owner.session.status().faultSource, 'fence');
    assert.equal(owner.election.holdsLock, false);
    await takeover;
    sub.unsubscribe();
    assert.equal(other.election.holdsLock, true);
    const takeoverMs = performance.now() - started;
    console.log(
      `# frozen owner: stood down after ${standDownMs.toFixed(0)} ms, takeover after ${takeoverMs.toFixed(0)} ms`,
    );
    assert.ok(standDownMs <= takeoverMs, 'it stands down before anyone else can take the lock');
    // Thawed, the old owner recovers with a new lease and learns who owns.
    owner.session.testing.thaw();
    const back = await waitFor(owner.election.events$, decided, 3000, 'decision after thaw');
    assert.equal(back.type, 'demoted');
    assert.equal(await owner.election.owner(), await other.election.owner());
  });

  it('etcd paused (SIGSTOP, a silent partition): every host faults (source etcd) once its fence passed and etcd did not answer; resumed, exactly one owner', async () => {
    const { owner, others } = await elect(['ps-a', 'ps-b', 'ps-c']);
    const all = [owner, ...others];
    const started = performance.now();
    const faults = all.map((h) =>
      waitFor(h.election.events$, (e) => e.type === 'fault', TTL_MS + TTL_MS / 3 + MARGIN_MS, 'fault'),
    );
    etcd.pause();
    const events = await Promise.all(faults);
    const ms = performance.now() - started;
    console.log(`# etcd paused: all faulted after ${ms.toFixed(0)} ms`);
    // The fence (TTL), then etcd asked for at most TTL/3 before the fault.
    for (const e of events) assert.equal(e.type === 'fault' ? e.source : '', 'etcd');
    const decisions = all.map((h) =>
      waitFor(h.election.events$, decided, 3 * TTL_MS, 'decision after resume'),
    );
    etcd.resume();
    const after = await Promise.all(decisions);
    assert.equal(after.filter((e) => e.type === 'elected').length, 1, 'exactly one elected after resume');
  });

  it('etcd stopped: every host faults within TTL + margin; restarted: exactly one owner again', async () => {
    const { owner, others } = await elect(['st-a', 'st-b', 'st-c']);
    const all = [owner, ...others];
    const started = performance.now();
    const faults = all.map((h) =>
      waitFor(h.election.events$, (e) => e.type === 'fault', TTL_MS + MARGIN_MS, 'fault'),
    );
    await etcd.stop();
    const events = await Promise.all(faults);
    const ms = performance.now() - started;
    console.log(
      `# etcd stopped: all faulted after ${ms.toFixed(0)} ms (${events.map((e) => (e.type === 'fault' ? e.source : '')).join(',')})`,
    );
    for (const h of all) assert.equal(h.session.status().state, 'fault');
    // A recovery attempt has failed against the stopped etcd: etcd itself is the cause now.
    await until(
      'every session to blame etcd',
      () => all.every((h) => h.session.status().faultSource === 'etcd'),
      TTL_MS + MARGIN_MS,
    );
    for (const h of all) assert.equal(h.election.holdsLock, false);
    const decisions = all.map((h) =>
      waitFor(h.election.events$, decided, 3 * TTL_MS, 'decision after restart'),
    );
    const restarted = performance.now();
    await etcd.restart();
    const after = await Promise.all(decisions);
    console.log(`# etcd restarted: all decided after ${(performance.now() - restarted).toFixed(0)} ms`);
    assert.equal(after.filter((e) => e.type === 'elected').length, 1, 'exactly one elected after restart');
    const name = await owner.election.owner();
    for (const [i, h] of all.entries()) {
      assert.equal(after[i]!.type === 'elected', h.session.hostname === name);
      assert.equal(h.session.status().state, 'alive');
    }
  });

  it('etcd down at start: the session starts in fault and comes alive when etcd does', async () => {
    await etcd.stop();
    const a = await session('down-a');
    assert.equal(a.status().state, 'fault');
    const e = a.election(VIP);
    await waitFor(e.events$, (ev) => ev.type === 'fault', 500, 'fault at once');
    await etcd.restart();
    await waitFor(e.events$, (ev) => ev.type === 'elected', 3 * TTL_MS, 'elected once etcd is back');
    await waitFor(a.status$, (s) => s.state === 'alive', 1000, 'alive');
  });

  it('the shared watch re-reads and re-subscribes after a dropped stream', async () => {
    const { owner, others } = await elect(['dr-a', 'dr-b']);
    const other = others[0]!;
    const rounds = other.session.testing.watchRounds();
    other.session.testing.dropWatch();
    await waitFor(other.session.testing.watchRounds$, (n) => n > rounds, 1000, 're-read');
    // Still watching: the owner goes away and the other host sees it at once.
    const elected = waitFor(other.election.events$, (e) => e.type === 'elected', 1000, 'takeover');
    await owner.session.close({ revoke: true });
    await elected;
  });

  it('the shared watch re-reads and re-subscribes when its start revision was compacted', async () => {
    // A transport that, once armed, compacts past the revision of the lock read it returns: the
    // watch created from that revision + 1 is then cancelled by etcd as compacted.
    const real = createRpc(buildClientOptions({ hosts: etcd.hosts }));
    let armed = false;
    const rpc: EtcdRpc = {
      ...real,
      range: async (req) => {
        const res = await real.range(req);
        if (armed && req.range_end !== undefined && req.key?.toString() === '/link/default/') {
          armed = false;
          // Two writes after the read, compacted up to the second: revision R+1 is gone.
          await real.put({ key: Buffer.from('/compaction-filler'), value: Buffer.from('x') });
          const put = await real.put({ key: Buffer.from('/compaction-filler'), value: Buffer.from('y') });
          await real.compact(put.header.revision);
        }
        return res;
      },
    };
    const a = await session('cp-a');
    const ea = a.election(VIP);
    await waitFor(ea.events$, (e) => e.type === 'elected', 3000, 'a elected');
    const warnings: string[] = [];
    const logger = {
      debug: () => undefined,
      info: () => undefined,
      error: () => undefined,
      warn: (_m: string, meta?: Record<string, unknown>) => warnings.push(String(meta?.['error'])),
    };
    const b = await createEtcdSession({ ...options('cp-b'), logger }, { rpc });
    sessions.push(b);
    const eb = b.election(VIP);
    await waitFor(eb.events$, (e) => e.type === 'demoted', 3000, 'b demoted');
    const rounds = b.testing.watchRounds();
    armed = true;
    b.testing.dropWatch();
    await waitFor(
      b.testing.watchRounds$,
      (n) => n >= rounds + 2,
      2000,
      'two re-reads (the compacted one and the next)',
    );
    const elected = waitFor(eb.events$, (e) => e.type === 'elected', 1000, 'takeover');
    assert.ok(
      warnings.some((w) => /compact revision [1-9]/.test(w)),
      `a compaction was reported: ${warnings.join(' | ')}`,
    );
    await a.close({ revoke: true });
    await elected;
    assert.equal(b.status().state, 'alive');
  });

  it('a compaction under a live watch changes nothing', async () => {
    const { owner, others } = await elect(['cl-a', 'cl-b']);
    const other = others[0]!;
    const status = JSON.parse(await etcd.etcdctl(['endpoint', 'status', '-w', 'json'])) as {
      Status: { header: { revision: number } };
    }[];
    await etcd.etcdctl(['compaction', String(status[0]!.Status.header.revision)]);
    const elected = waitFor(other.election.events$, (e) => e.type === 'elected', 1000, 'takeover');
    await owner.session.close({ revoke: true });
    await elected;
  });
});
