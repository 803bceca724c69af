import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Lab, Observation } from '../../lab/lab.ts';
import type { Client } from '../../lab/client.ts';
import { TTL_MS, log, settle, startChaosLab, until, windowReport } from './support.ts';

/**
 * A crash-restart keeps the VIP (issue 18 part 6): the owner's agent is killed with SIGKILL (just
 * before a keep-alive, see KILL_WITH_LEASE_LEFT_MS) and started again at once, as systemd's Restart=on-failure does (packaging/link.service), 10 times
 * on the chaos lab (3 hosts, 3-member etcd, LinK's defaults: at-least-one, LEASE_TTL 3 s). Never
 * do two hosts answer (observer, client). A restarted agent that finds its lease alive keeps its
 * lock and its address: the VIP stays on that host, no other host ever answers for it, the
 * client's neighbour entry still names it, and the client (lab/client.ts: ping every 5 ms through
 * an ordinary neighbour table) goes at most CLIENT_GAP_MS without a reply (a todo: see below).
 *
 * The gap is bounded by the address, not the lease: the killed agent's VIP keeps its kernel
 * lifetime, whole seconds never beyond the lease (2 s with TTL 3 s, refreshed every 667 ms), so
 * it leaves the kernel 1.33–2 s after the kill unless the restarted agent renews it first
 * (actors/lifetime.ts addressLeftAfterKillMs). With the former default TTL of 2 s that was
 * 0.67–1 s, less than a start takes under load: the gap held in 92 of 100 restarts (bench/restart).
 *
 *   scripts/in-netns.sh node --import tsx --test test/chaos/crash-restart.test.ts
 */

const RESTARTS = 10;
/**
 * Each kill comes just before the owner's next keep-alive, when its lease is at its shortest
 * (TTL − TTL/3, 2 s): the restarted agent then finds the least of its lease left, and its address
 * the least of its lifetime.
 */
const KILL_WITH_LEASE_LEFT_MS = TTL_MS - TTL_MS / 3 + 150;
const CLIENT_GAP_MS = 100;
/**
 * A restart keeps the VIP only when it reaches etcd within what is left of the lease (~2.15 s at
 * these kills). The start is ~0.5 s of CPU (module loading: grpc-js, etcd3's proto parsing,
 * winston, rxjs): 0.76–1.35 s kill→lease on a quiet 2-core machine, 0.88–1.89 s in a CI run, and
 * past the lease in 2 of 10 restarts of another (docs/performance.md, Crash-restart). The feature
 * is asserted on every restart that found its lease; how often one does is a speed, bounded
 * here loosely and measured in bench/restart (100 runs each way).
 */
const MIN_REUSED = 8;

interface Restart {
  run: number;
  owner: string;
  after: string;
  otherAnswered: boolean;
  twoAnswered: boolean;
  clientGapMs: number;
  observerGapMs: number;
  duplicates: number;
  clientMac: string | null;
  /** The restarted agent's first lease (its log): `reused` when it found the killed one's alive. */
  lease: 'reused' | 'granted' | null;
  /** From the kill to that log line: how long the start took to reach etcd. */
  killToLeaseMs: number | null;
}

describe('chaos, crash-restart', { timeout: 300_000 }, () => {
  let lab: Lab;
  let observation: Observation;
  let client: Client;
  const restarts: Restart[] = [];
  let summary = '';

  before(async () => {
    ({ lab, observation, client } = await startChaosLab(`cr-cs-${process.pid}`, {}));
    for (let run = 1; run <= RESTARTS; run++) restarts.push(await crashRestart(run));
    summary = JSON.stringify(restarts, null, 1);
  });

  after(async () => {
    await client?.stop().catch(() => undefined);
    await observation?.stop();
    await lab?.down();
  });

  /** One kill -9 of the settled owner and an immediate start, until one owner is settled again. */
  async function crashRestart(run: number): Promise<Restart> {
    const owner = await settle(lab, observation);
    const ownerMac = lab.host(owner).mac;
    await until(
      'the client to reach the owner',
      async () => (await client.neighbour())?.mac === ownerMac,
      10_000,
    );
    await client.waitForReply(5000);
    await until(
      'the owner just before a keep-alive',
      async () => {
        const res = await lab.api<{ leaseRemainingMs?: number }>(owner, 'GET', '/healthz').catch(() => null);
        const left = res?.body.leaseRemainingMs;
        return left !== undefined && left < KILL_WITH_LEASE_LEFT_MS;
      },
      10_000,
    );
    const t0 = Date.now();
    const from = observation.now;
    await lab.signalAgent(owner, 'SIGKILL');
    await lab.startAgent(owner);
    const after = await settle(lab, observation);
    await client.waitForReply(5000);
    const report = client.report(t0);
    const restart: Restart = {
      run,
      owner,
      after,
      otherAnswered: observation.rounds.some((r) => r.t >= from && r.macs.some((m) => m !== ownerMac)),
      twoAnswered: observation.rounds.some((r) => r.t >= from && new Set(r.macs).size > 1),
      clientGapMs: Math.round(report.longestGap.ms),
      observerGapMs: Math.round(windowReport(observation.rounds, from, observation.now).gapMs),
      duplicates: report.duplicates,
      clientMac: (await client.neighbour())?.mac ?? null,
      ...firstLeaseAfter(owner, t0),
    };
    log(`crash-restart #${run}: ${JSON.stringify(restart)}`);
    return restart;
  }

  /** The host's first "lease … reused|granted" log line after `since` (wall clock). */
  function firstLeaseAfter(host: string, since: number): Pick<Restart, 'lease' | 'killToLeaseMs'> {
    for (const line of readFileSync(join(lab.dir, `${host}.log`), 'utf8').split('\n')) {
      const lease = / lease \S+ (reused|granted)$/.exec(
        line.startsWith('{') ? (JSON.parse(line) as { message: string }).message : '',
      );
      if (!lease) continue;
      const at = Date.parse((JSON.parse(line) as { timestamp: string }).timestamp);
      if (at >= since) return { lease: lease[1] as 'reused' | 'granted', killToLeaseMs: at - since };
    }
    return { lease: null, killToLeaseMs: null };
  }

  it(`kill -9 of the owner and an immediate start, ${RESTARTS} times: never two hosts, the client back within the lease`, () => {
    for (const r of restarts) {
      assert.equal(r.twoAnswered, false, `#${r.run}: two hosts answered the observer at once\n${summary}`);
      assert.equal(r.duplicates, 0, `#${r.run}: two hosts answered the client\n${summary}`);
      assert.ok(r.clientGapMs <= TTL_MS, `#${r.run}: client gap ${r.clientGapMs} ms\n${summary}`);
    }
  });

  it(`… the restarted agent finds its lease alive in at least ${MIN_REUSED} of ${RESTARTS}, and then the VIP stays on that host`, () => {
    const reused = restarts.filter((r) => r.lease === 'reused');
    assert.ok(reused.length >= MIN_REUSED, `lease reused in ${reused.length} of ${RESTARTS}\n${summary}`);
    for (const r of reused) {
      assert.equal(r.after, r.owner, `#${r.run}: the VIP moved\n${summary}`);
      assert.equal(r.otherAnswered, false, `#${r.run}: another host answered for the VIP\n${summary}`);
      assert.equal(r.clientMac, lab.host(r.owner).mac, `#${r.run}: the client's entry moved\n${summary}`);
    }
  });

  it(
    `… with a client gap ≤ ${CLIENT_GAP_MS} ms every time`,
    {
      todo:
        'held in 28 of 30 restarts with LEASE_TTL 3 s on a loaded machine: a start slower than the ' +
        "~1.8 s the killed agent's address has left finds it gone (docs/performance.md, Crash-restart)",
    },
    () => {
      for (const r of restarts) {
        assert.ok(r.clientGapMs <= CLIENT_GAP_MS, `#${r.run}: client gap ${r.clientGapMs} ms\n${summary}`);
      }
    },
  );
});
