import { after, afterEach, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Lab, Observation } from '../../lab/lab.ts';
import type { Client } from '../../lab/client.ts';
import type { TcpClient } from '../../lab/tcp-client.ts';
import {
  MARGIN_MS,
  PROBE_MS,
  TTL_MS,
  VIP,
  assertGaps,
  clientFollows,
  clientWindow,
  log,
  repairAndCheck,
  settle,
  startChaosLab,
  until,
  windowReport,
} from './support.ts';

/**
 * What a client sees (issue 14): the faults that left a real client without replies for seconds
 * while the broadcast observer saw no gap, on the chaos lab with LinK's defaults (at-least-one,
 * LEASE_TTL 3 s, the default). The client (lab/client.ts) pings the VIP every 5 ms through an ordinary kernel
 * neighbour table; it keeps sending to the MAC it learned last, so a standby that announces the
 * VIP and gives it back strands it until its entry fails (~8 s), unless the owner wins it back.
 * Each scenario asserts the client's longest gap and, where the promise says so, that no two
 * hosts answered (observer) and no echo was answered twice (client).
 *
 *   scripts/in-netns.sh node --import tsx --test test/chaos/clients.test.ts
 */

/** The bound for a fault the owner survives: a client never notices. */
const UNNOTICED_MS = 100;
/** The bound for a graceful stop: one handover and its announcement. */
const GRACEFUL_MS = 150;
/** The bound for a host crash: the lease, and a second for the takeover and its announcement. */
const CRASH_MS = TTL_MS + 1000;
/**
 * The TCP client's longest wait across a graceful stop: the handover, the new owner's reset of
 * a connection it has no state for, one reconnect. Loose on purpose (its process shares 2 loaded
 * cores and has no echo numbers to tell its own stalls from lost replies): a connection stuck on
 * the old owner would wait for seconds of retransmissions.
 */
const TCP_GRACEFUL_MS = 1000;

describe('chaos, what a client sees', { timeout: 180_000 }, () => {
  let lab: Lab;
  let observation: Observation;
  let client: Client;
  let tcp: TcpClient;
  let configured: string[][][];

  before(async () => {
    ({ lab, observation, client, configured } = await startChaosLab(`cc-${process.pid}`, {}));
    lab.tcpEchoServers();
    tcp = await lab.tcpClient(VIP);
    await tcp.waitForReply(5000);
  });

  afterEach(() => repairAndCheck({ lab, observation, client, configured }));

  after(async () => {
    await tcp?.stop().catch(() => undefined);
    await client?.stop().catch(() => undefined);
    await observation?.stop();
    await lab?.down();
  });

  /** Waits (not asserting) for `ms` of wall time: how long a fault lasts. */
  const lasting = (what: string, since: number, ms: number) =>
    until(what, () => Date.now() - since >= ms, ms + 1000);

  /**
   * After a fault ends: a second of watching (a host that wrongly announces at the resumption
   * does so within tens of ms, and gives the VIP back ~40 ms later), then the settled owner and
   * the client answered by it, or its deadline: a stranded client's gap then shows in full.
   */
  async function afterwards(resumedAt: number): Promise<string> {
    await lasting('a second after the resumption', resumedAt, 1000);
    const owner = await settle(lab, observation);
    await clientFollows(client, lab.host(owner).mac, TTL_MS + MARGIN_MS);
    return owner;
  }

  it(`both standbys frozen 4 s, then resumed: the client never notices (gap ≤ ${UNNOTICED_MS} ms), never two`, async () => {
    const owner = await settle(lab, observation);
    const standbys = lab.hosts.filter((h) => h.name !== owner).map((h) => h.name);
    const t0 = observation.now;
    const frozenAt = Date.now();
    for (const name of standbys) await lab.signalAgent(name, 'SIGSTOP');
    try {
      await lasting('4 s frozen', frozenAt, 4000);
    } finally {
      for (const name of standbys) await lab.signalAgent(name, 'SIGCONT', false);
    }
    assert.equal(await afterwards(Date.now()), owner, 'the VIP moved');
    const seen = windowReport(observation.rounds, t0 - PROBE_MS, observation.now);
    const clientSeen = clientWindow(client, frozenAt);
    assertGaps('standbys frozen 4 s', seen, clientSeen, UNNOTICED_MS);
    assert.equal(seen.twoMs, 0, 'two hosts answered');
    assert.equal(clientSeen.duplicates, 0, 'two hosts answered one echo');
    assert.equal((await client.neighbour())?.mac, lab.host(owner).mac, "the client's entry left the owner");
  });

  it(`etcd frozen 3 s (every member), then resumed: the client never notices (gap ≤ ${UNNOTICED_MS} ms)`, async () => {
    const owner = await settle(lab, observation);
    const t0 = observation.now;
    const frozenAt = Date.now();
    lab.signalEtcd('SIGSTOP');
    try {
      await lasting('3 s frozen', frozenAt, 3000);
    } finally {
      lab.signalEtcd('SIGCONT');
    }
    // at-least-one: a host whose fence passes while etcd is silent may take the VIP too
    // (documented); what a client must never see is a gap. Which host keeps it afterwards is
    // etcd's word, not this test's.
    const after = await afterwards(Date.now());
    const seen = windowReport(observation.rounds, t0 - PROBE_MS, observation.now);
    assertGaps(
      `etcd frozen 3 s (owner ${owner}, then ${after})`,
      seen,
      clientWindow(client, frozenAt),
      UNNOTICED_MS,
    );
  });

  it(`graceful stop (SIGTERM) of the owner: client gap ≤ ${GRACEFUL_MS} ms, its entry on the new owner`, async () => {
    const owner = await settle(lab, observation);
    const ownerMac = lab.host(owner).mac;
    const t0 = observation.now;
    const stoppedAt = Date.now();
    await lab.signalAgent(owner, 'SIGTERM');
    const successorMac = await until(
      'another host to answer alone',
      () => {
        const mac = observation.steadyMac(200);
        return mac !== null && mac !== ownerMac ? mac : null;
      },
      TTL_MS + MARGIN_MS,
    );
    await clientFollows(client, successorMac, TTL_MS + MARGIN_MS);
    const seen = windowReport(observation.rounds, t0 - PROBE_MS, observation.now);
    const clientSeen = clientWindow(client, stoppedAt);
    assertGaps('graceful stop', seen, clientSeen, GRACEFUL_MS);
    await tcp.waitForReply(TTL_MS + MARGIN_MS);
    const tcpSeen = tcp.report(stoppedAt);
    log(
      `graceful stop, TCP client: longest wait ${tcpSeen.longestGapMs} ms, connections lost ${tcpSeen.drops.map((d) => d.why).join(', ') || 'none'}`,
    );
    assert.ok(tcpSeen.longestGapMs <= TCP_GRACEFUL_MS, `TCP client waited ${tcpSeen.longestGapMs} ms`);
    assert.equal(seen.twoMs, 0, 'two hosts answered');
    assert.equal(clientSeen.duplicates, 0, 'two hosts answered one echo');
    const entry = await client.neighbour();
    assert.equal(
      entry?.mac,
      successorMac,
      `the client's entry is not on the new owner (${lab.hostOfMac(successorMac)})`,
    );
  });

  it(`host crash (switch port cut): client gap ≤ TTL + 1 s (${CRASH_MS} ms), its entry on a live host`, async () => {
    const owner = await settle(lab, observation);
    const ownerMac = lab.host(owner).mac;
    const t0 = observation.now;
    const cutAt = Date.now();
    await lab.cutLink(owner);
    let entry: { mac: string | null } | null = null;
    let seen: ReturnType<typeof windowReport> | undefined;
    let clientSeen: ReturnType<typeof clientWindow> | undefined;
    try {
      const successorMac = await until(
        'another host to answer alone',
        () => {
          const mac = observation.steadyMac(200);
          return mac !== null && mac !== ownerMac ? mac : null;
        },
        TTL_MS + MARGIN_MS + 1000,
      );
      await clientFollows(client, successorMac, TTL_MS + MARGIN_MS);
      seen = windowReport(observation.rounds, t0 - PROBE_MS, observation.now);
      clientSeen = clientWindow(client, cutAt);
      entry = await client.neighbour();
    } finally {
      await lab.restoreLink(owner);
    }
    assertGaps('host crash', seen, clientSeen, TTL_MS + MARGIN_MS, CRASH_MS);
    assert.equal(seen.twoMs, 0, 'two hosts answered');
    const live = lab.hostOfMac(entry?.mac ?? '');
    assert.ok(
      live !== undefined && live !== owner,
      `the client's entry (${entry?.mac}) is not on a live host`,
    );
  });
});
