import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Drain, memoryDrainStore, type DrainDeps } from '../../actors/drain.ts';
import {
  EtcdUnavailableError as AgentEtcdUnavailableError,
  NoOtherCandidateError,
} from '../../actors/errors.ts';
import type { VipRuntime } from '../../actors/vip-runtime.ts';
import type { DrainRecord, DrainStore } from '../../adapters/etcd/drain-store.ts';
import { EtcdUnavailableError } from '../../adapters/etcd/errors.ts';
import type { HostMembership } from '../../adapters/etcd/types.ts';
import { silentLogger } from '../../adapters/logger.ts';
import type { IpState } from '../../machines/ip.ts';
import { until } from '../support/until.ts';

/** A VIP as the drain sees it: its state, its election's candidacy calls and its carriers. */
interface FakeVip {
  runtime: VipRuntime;
  state: IpState;
  candidacy: boolean[];
  hosts: HostMembership[];
}

/** Only what the drain reads of a membership (the type grows with placement). */
const member = (hostname: string, owner: boolean) => ({ hostname, owner }) as HostMembership;

function fakeVip(id: string, state: IpState, others: string[]): FakeVip {
  const vip: FakeVip = {
    state,
    candidacy: [],
    hosts: [member('me', state === 'ACTIVATED'), ...others.map((hostname) => member(hostname, false))],
    runtime: undefined as unknown as VipRuntime,
  };
  vip.runtime = {
    vip: { id, ip: `198.18.0.${id.length}/32`, checks: [] },
    removing: false,
    election: {
      setCandidate: (candidate: boolean) => vip.candidacy.push(candidate),
      hosts: () => Promise.resolve(vip.hosts),
    },
  } as unknown as VipRuntime;
  return vip;
}

function setup(vips: Record<string, FakeVip>, options: Partial<DrainDeps> = {}) {
  const runtimes = new Map(Object.entries(vips).map(([id, v]) => [id, v.runtime]));
  const failovers: string[] = [];
  const notes: string[] = [];
  const drain = new Drain({
    hostname: 'me',
    store: memoryDrainStore(),
    runtimes,
    stateOf: (id) => vips[id]!.state,
    failover: (id) => {
      failovers.push(id);
      vips[id]!.state = 'STANDBY';
      return Promise.resolve('other');
    },
    note: (_id, code) => notes.push(code),
    logger: silentLogger,
    stopping: () => false,
    ...options,
  });
  return { drain, failovers, notes };
}

describe('drain (actors/drain.ts)', () => {
  it('hands an owned VIP over, withdraws the others at once, and waits for a BOOTING one', async () => {
    const vips = {
      owned: fakeVip('owned', 'ACTIVATED', ['h2']),
      standby: fakeVip('standby', 'STANDBY', ['h2']),
      booting: fakeVip('booting', 'BOOTING', ['h2']),
    };
    const { drain, failovers } = setup(vips);
    const first = await drain.drain();
    assert.equal(first.drained, true);
    assert.equal(first.done, false);
    assert.deepEqual(vips.standby.candidacy, [false]);
    const handed = await until(
      'the handover',
      () => (drain.status().counts['handed-over'] === 1 ? drain.status() : null),
      1000,
    );
    assert.deepEqual(failovers, ['owned']);
    assert.deepEqual(vips.owned.candidacy, [false], 'withdrawn after the handover, not before');
    assert.equal(handed.vips.find((v) => v.id === 'owned')?.owner, 'other');
    assert.equal(handed.counts.pending, 1);
    assert.deepEqual(vips.booting.candidacy, []);
    vips.booting.state = 'STANDBY';
    drain.onState('booting');
    assert.deepEqual(vips.booting.candidacy, [false]);
    assert.equal(drain.status().done, true);
    assert.ok(drain.keepsOut('owned') && drain.keepsOut('standby') && drain.keepsOut('booting'));
  });

  it('keeps a VIP no other host carries, says why, and tries again', async () => {
    const vips = { solo: fakeVip('solo', 'ACTIVATED', []) };
    const { drain, failovers, notes } = setup(vips, { keptRetryMs: 10 });
    await drain.drain();
    const kept = await until('kept', () => (drain.status().counts.kept === 1 ? drain.status() : null), 1000);
    assert.match(kept.vips[0]!.reason ?? '', /no other host carries it/);
    assert.equal(kept.done, true);
    assert.deepEqual(failovers, [], 'no failover tried without another carrier');
    assert.deepEqual(vips.solo.candidacy, [], 'still competing: withdrawing would drop it');
    assert.ok(notes.includes('DRAIN_KEPT'));
    vips.solo.hosts.push(member('h2', false));
    await until('the retry to hand it over', () => drain.status().counts['handed-over'] === 1, 2000);
    assert.deepEqual(failovers, ['solo']);
    drain.stop();
  });

  it('a failover refused (no live candidate) keeps the VIP with its reason', async () => {
    const vips = { a: fakeVip('a', 'ACTIVATED', ['h2']) };
    const { drain } = setup(vips, {
      failover: () =>
        Promise.reject(new NoOtherCandidateError('198.18.0.1/32', [{ hostname: 'h2', why: 'lease gone' }])),
    });
    await drain.drain();
    const kept = await until('kept', () => (drain.status().counts.kept === 1 ? drain.status() : null), 1000);
    assert.match(kept.vips[0]!.reason ?? '', /h2: lease gone/);
    drain.stop();
  });

  it('etcd refusing the flag: 503 (EtcdUnavailableError) and nothing changed', async () => {
    const vips = { a: fakeVip('a', 'ACTIVATED', ['h2']), b: fakeVip('b', 'STANDBY', ['h2']) };
    const store: DrainStore = {
      read: () => Promise.resolve({ drained: false }),
      write: () => Promise.reject(new EtcdUnavailableError('etcd unreachable')),
    };
    const { drain, failovers } = setup(vips, { store });
    await assert.rejects(drain.drain(), AgentEtcdUnavailableError);
    assert.equal(drain.status().drained, false);
    assert.deepEqual(failovers, []);
    assert.deepEqual(vips.b.candidacy, []);
  });

  it('undrain: withdrawn VIPs compete again, a FAILING one once it leaves FAILING', async () => {
    const vips = { a: fakeVip('a', 'STANDBY', ['h2']), sick: fakeVip('sick', 'FAILING', ['h2']) };
    const { drain, notes } = setup(vips);
    await drain.drain();
    const status = await drain.undrain();
    assert.equal(status.drained, false);
    assert.deepEqual(vips.a.candidacy, [false, true]);
    assert.deepEqual(vips.sick.candidacy, [false]);
    assert.ok(!drain.keepsOut('sick'), 'resumeCandidacy may make it a candidate when it recovers');
    assert.ok(notes.includes('DRAIN_RESUMED'));
  });

  it('at start, drained: a VIP not bound here starts out of the election; one bound waits to be handed over', async () => {
    const record: DrainRecord = { drained: true, since: '2026-01-01T00:00:00.000Z' };
    const vips = { bound: fakeVip('bound', 'BOOTING', ['h2']), cold: fakeVip('cold', 'BOOTING', ['h2']) };
    const { drain, failovers } = setup(vips, { store: memoryDrainStore(record) });
    await drain.load();
    assert.equal(drain.outAtSpawn(vips.cold.runtime.vip, false), true);
    assert.equal(drain.outAtSpawn(vips.bound.runtime.vip, true), false);
    assert.equal(drain.status().counts.pending, 1);
    vips.bound.state = 'ACTIVATED';
    drain.onState('bound');
    await until('the handover', () => drain.status().counts['handed-over'] === 1, 1000);
    assert.deepEqual(failovers, ['bound']);
    assert.equal(drain.status().since, record.since);
  });

  it('etcd unreadable at start: starts undrained and drains once the flag can be read', async () => {
    let reads = 0;
    const store: DrainStore = {
      read: () =>
        ++reads === 1
          ? Promise.reject(new EtcdUnavailableError('down'))
          : Promise.resolve({ drained: true, since: '2026-01-01T00:00:00.000Z' }),
      write: () => Promise.resolve(),
    };
    const vips = { a: fakeVip('a', 'STANDBY', ['h2']) };
    const { drain } = setup(vips, { store });
    await drain.load();
    assert.equal(drain.status().drained, false);
    await until('the flag read again', () => drain.status().drained, 3000);
    assert.deepEqual(vips.a.candidacy, [false]);
    drain.stop();
  });
});
