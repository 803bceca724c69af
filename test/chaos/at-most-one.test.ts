import { after, afterEach, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Lab, Observation } from '../../lab/lab.ts';
import type { Client } from '../../lab/client.ts';
import {
  MARGIN_MS,
  PROBE_MS,
  TTL_MS,
  VIP,
  assertGaps,
  clientFollows,
  clientWindow,
  log,
  settle,
  until,
  windowReport,
  repairAndCheck,
  startChaosLab,
  checkRecovery as checkRecoveryOf,
} from './support.ts';

/**
 * Chaos under FAULT_POLICY=at-most-one (LEASE_TTL 3 s, the default), same lab as at-least-one.test.ts: a host
 * that loses etcd drops the VIP before its lease can expire, so the observer never sees two
 * responders, in any scenario, and the client (ping every 5 ms, support.ts) never two replies to
 * one echo. The price, documented: a gap of about one TTL when the owner is
 * cut from etcd, and no responder at all while etcd has no quorum.
 *
 *   scripts/in-netns.sh node --import tsx --test test/chaos/at-most-one.test.ts
 */

describe('chaos, at-most-one', { timeout: 180_000 }, () => {
  let lab: Lab;
  let observation: Observation;
  let client: Client;
  let configured: string[][][];

  before(async () => {
    ({ lab, observation, client, configured } = await startChaosLab(`cm-${process.pid}`, {
      FAULT_POLICY: 'at-most-one',
    }));
  });

  afterEach(() => repairAndCheck({ lab, observation, client, configured }));

  after(async () => {
    // The whole run, every scenario and every repair included: never two responders.
    const seen = await client?.stop().catch(() => null);
    if (observation) {
      const whole = windowReport(observation.rounds, -Infinity, Infinity);
      await observation.stop();
      log(
        `at-most-one, whole run: two responders ${whole.twoMs.toFixed(0)} ms, client duplicates ${seen?.duplicates ?? '-'}`,
      );
      assert.equal(whole.twoMs, 0, 'two hosts answered at some point of the run');
      if (seen) assert.equal(seen.duplicates, 0, 'two hosts answered one echo of the client');
    }
    await lab?.down();
  });

  const checkRecovery = (what: string, healedAt: number, healedAtWall: number) =>
    checkRecoveryOf({ lab, observation, client, configured }, what, healedAt, healedAtWall);

  it('partition of the owner from etcd: it drops the VIP before another takes it; never two', async () => {
    const owner = await settle(lab, observation);
    const ownerMac = lab.host(owner).mac;
    const t0 = observation.now;
    const w0 = Date.now();
    await lab.partition(owner);
    const successorRound = await observation.waitForRound(
      (r) => r.macs.length > 0 && !r.macs.includes(ownerMac),
      TTL_MS + MARGIN_MS,
    );
    // The client's entry still names the owner that dropped the VIP until the successor's
    // announcement moves it: followed here, so its gap is the one a real client has.
    await clientFollows(client, successorRound.macs[0]!, TTL_MS + MARGIN_MS);
    const healedAt = observation.now;
    const healedAtWall = Date.now();
    await lab.heal(owner);
    const during = windowReport(observation.rounds, t0 - PROBE_MS, healedAt);
    log(`partition: successor after ${(successorRound.t - t0).toFixed(0)} ms (expected: about a TTL)`);
    assertGaps('partition', during, clientWindow(client, w0, healedAtWall), TTL_MS + MARGIN_MS);
    assert.equal(during.twoMs, 0, 'two hosts answered during the partition');
    await checkRecovery('partition healed', healedAt, healedAtWall);
  });

  it('SIGSTOP of the owner past its TTL, then SIGCONT: replaced after a gap, never two', async () => {
    const owner = await settle(lab, observation);
    const ownerMac = lab.host(owner).mac;
    const t0 = observation.now;
    const frozenAt = Date.now();
    await lab.signalAgent(owner, 'SIGSTOP');
    try {
      const successorRound = await observation.waitForRound(
        (r) => r.macs.length > 0 && !r.macs.includes(ownerMac),
        TTL_MS + MARGIN_MS,
      );
      await clientFollows(client, successorRound.macs[0]!, TTL_MS + MARGIN_MS);
      await until('the TTL to pass', () => Date.now() - frozenAt > TTL_MS, TTL_MS + 1000);
    } finally {
      await lab.signalAgent(owner, 'SIGCONT', false);
    }
    const thawedAt = observation.now;
    const thawedAtWall = Date.now();
    const frozen = windowReport(observation.rounds, t0 - PROBE_MS, thawedAt);
    assertGaps('SIGSTOP', frozen, clientWindow(client, frozenAt, thawedAtWall), TTL_MS + MARGIN_MS);
    await checkRecovery('SIGCONT', thawedAt, thawedAtWall);
    const report = windowReport(observation.rounds, t0 - PROBE_MS, observation.now);
    log(`SIGSTOP/SIGCONT: gap ${report.gapMs.toFixed(0)} ms, two responders ${report.twoMs.toFixed(0)} ms`);
    assert.equal(report.twoMs, 0, 'two hosts answered');
  });

  it('loss of etcd quorum: nobody answers (documented), never two; one owner within TTL + margin after it returns', async () => {
    await settle(lab, observation);
    const t0 = observation.now;
    const [a, b] = lab.etcd.map((m) => m.name);
    await lab.stopEtcd(a, 'SIGKILL');
    await lab.stopEtcd(b, 'SIGKILL');
    await until(
      'every host to drop the VIP',
      async () => (await lab.holders(VIP)).length === 0,
      TTL_MS + MARGIN_MS,
    );
    const dropped = observation.now - t0;
    await lab.startEtcd();
    const backAt = observation.now;
    const backAtWall = Date.now();
    const lost = windowReport(observation.rounds, t0 - PROBE_MS, backAt);
    log(
      `quorum lost: VIP dropped after ${dropped.toFixed(0)} ms, two responders ${lost.twoMs.toFixed(0)} ms`,
    );
    assert.equal(lost.twoMs, 0, 'two hosts answered');
    // Nobody answers until etcd is back (documented): the client's gap is bounded from there.
    await checkRecovery('quorum back', backAt, backAtWall);
  });
});
