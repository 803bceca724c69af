import assert from 'node:assert/strict';
import { DEFAULT_VIP, Lab, type Observation } from '../../lab/lab.ts';
import { analyseReplies, type Client } from '../../lab/client.ts';
import { execIn } from '../../lab/netns.ts';
import { analyseRounds, type ProbeRound } from '../../lab/samples.ts';
import type { VipView } from '../../actors/types.ts';
import { until } from '../support/until.ts';
import { parseConfig } from '../../config/parse.ts';

/**
 * Shared by the chaos files: waiting on conditions with deadlines, the invariants checked on the
 * observer's rounds and on the client's replies, the etcd leader, the configuration every host
 * reports.
 *
 * Two views of the VIP run for the whole of each file: the observer (lab/observer.ts) asks "who
 * has the VIP?" by broadcast ARP every PROBE_MS and so always finds whoever holds it now; the
 * client (lab/client.ts) pings it every CLIENT_MS through an ordinary kernel neighbour table, so
 * it keeps sending to the MAC it last learned, as real clients do. A host that announces the VIP
 * and then gives it back leaves the client stranded while the observer sees no gap (issue 14): a
 * scenario asserts its bound on both. The observer's times are its own clock (observation.now);
 * the client's are the wall clock (Date.now()), so a scenario notes both when a fault starts.
 */

export const VIP = DEFAULT_VIP;
/** LinK's default LEASE_TTL: the chaos lab runs the agents with their defaults. */
export const TTL_MS = parseConfig({ INTERFACE: 'eth0' }).leaseTtlMs;
/** Probe interval of the observer (ms). */
export const PROBE_MS = 10;
/**
 * "A responder at every sample": a gap up to this is one or two probe rounds the observer closed
 * late on a loaded machine (its timer fired before the reply was read), not an outage.
 */
export const SAMPLE_TOLERANCE_MS = 60;
/**
 * Margin on top of one TTL for a takeover or a convergence: etcd's lease expiry check (~500 ms),
 * the recovery backoff (≤ 1 s) and a call timed out against a blackholed route, on a loaded
 * 2-CPU machine.
 */
export const MARGIN_MS = 2500;
/** Echo interval of the client (ms): its gap is precise to about this. */
export const CLIENT_MS = 5;

export { until };

export interface ChaosLab {
  lab: Lab;
  observation: Observation;
  /** The lab's client, pinging the VIP for the whole file. */
  client: Client;
  /** GET /ips of every host once configured: what must never be lost. */
  configured: string[][][];
}

/**
 * The chaos lab: 3 hosts, a 3-member etcd, the VIP on every host, the observer and the client
 * running, settled, the client answered by the owner.
 */
export async function startChaosLab(name: string, agentEnv: Record<string, string>): Promise<ChaosLab> {
  const lab = await Lab.up({ name, hosts: 3, etcdMembers: 3, agentEnv });
  let observation: Observation | undefined;
  let client: Client | undefined;
  try {
    for (const host of lab.hosts) {
      const res = await lab.api<VipView>(host.name, 'POST', '/ips', { ip: VIP });
      assert.equal(res.status, 201, JSON.stringify(res.body));
    }
    const configured = await configuration(lab);
    observation = lab.observe(VIP, PROBE_MS);
    client = await lab.client(VIP, CLIENT_MS);
    const owner = await settle(lab, observation);
    await clientReaches(lab, client, owner);
    return { lab, observation, client, configured };
  } catch (err) {
    await client?.stop().catch(() => undefined);
    await observation?.stop();
    await lab.down();
    throw err;
  }
}

/** After each scenario: every fault undone, one responder again, the client answered by it, nothing lost. */
export async function repairAndCheck({ lab, observation, client, configured }: ChaosLab): Promise<void> {
  await restoreAll(lab);
  const owner = await settle(lab, observation);
  await clientReaches(lab, client, owner);
  assert.deepEqual(await configuration(lab), configured, 'configuration lost');
}

/**
 * The client's neighbour entry names `owner` and a reply came after that: the client is answered
 * by the owner, the state every scenario starts from. A client left on a host that gave the VIP
 * back (no announcement moved it) waits out its neighbour entry: the deadline covers that
 * (~8 s with the kernel's defaults), so a scenario that strands it fails on its own gap assertion,
 * not here.
 */
export async function clientReaches(
  lab: Lab,
  client: Client,
  owner: string,
  timeoutMs = 15_000,
): Promise<void> {
  const mac = lab.host(owner).mac;
  let seen = 'nothing yet';
  await until(
    `the client to be answered by ${owner}`,
    async () => {
      const entry = await client.neighbour();
      seen = `neighbour entry ${entry?.mac ?? 'none'} (${entry?.state.join(',') ?? '-'}), ${client.replies.length} replies`;
      return entry?.mac === mac;
    },
    timeoutMs,
    () => seen,
  );
  await client.waitForReply(timeoutMs);
}

/**
 * Waits (at most timeoutMs) until the client's neighbour entry names `mac` and a reply came
 * after that; returns whether it did. Never fails by itself: the gap assertion that follows says
 * what the client saw, which is the promise.
 */
export async function clientFollows(client: Client, mac: string, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if ((await client.neighbour())?.mac === mac) {
      return client.waitForReply(Math.max(1, deadline - Date.now())).then(
        () => true,
        () => false,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  return false;
}

/** What the client saw in the window [fromT, toT] (wall clock, default: until now). */
export interface ClientWindow {
  /** Longest time between two replies (ms); steady state is about one CLIENT_MS. */
  gapMs: number;
  /**
   * Longest time between two replies across which echoes went unanswered (ping's icmp_seq
   * skipped), or from the last reply to the window's end: an outage. A gap with no echo lost is
   * ping itself not scheduled on a loaded machine (it sent nothing), not the VIP failing.
   */
  outageMs: number;
  /** Echoes sent and never answered in that outage (null: it runs to the window's end). */
  lost: number | null;
  /** Replies from a second host to one echo. */
  duplicates: number;
}

export function clientWindow(client: Client, fromT: number, toT = Date.now() + 1): ClientWindow {
  const report = client.report(fromT, toT);
  const { ms: outageMs, lost } = report.longestOutage;
  return { gapMs: report.longestGap.ms, outageMs, lost, duplicates: report.duplicates };
}

/**
 * The client's longest time without a reply counted from `fromT` (a repair), not from its last
 * reply before it: how long the client waited after the fault was undone, whatever the fault
 * itself cost (an outage that at-most-one documents, say).
 */
export function clientGapSince(client: Client, fromT: number): number {
  const after = client.replies.filter((r) => r.t > fromT);
  return analyseReplies([{ t: fromT, seq: -1, dup: false }, ...after], fromT, Date.now() + 1).longestGap.ms;
}

/**
 * Logs the observer's and the client's gaps side by side and asserts the observer's gap and the
 * client's outage (ClientWindow) within `boundMs` (`clientBoundMs` for the client when the
 * promise to clients is tighter or looser). The two
 * views are the same promise seen two ways: the observer finds any holder, the client only the
 * one its neighbour entry names.
 */
export function assertGaps(
  what: string,
  observer: WindowReport,
  client: ClientWindow,
  boundMs: number | null,
  clientBoundMs: number | null = boundMs,
): void {
  const lost = client.lost === null ? 'to the end' : `${client.lost} echoes lost`;
  log(
    `${what}: observer gap ${observer.gapMs.toFixed(0)} ms, two responders ${observer.twoMs.toFixed(0)} ms; ` +
      `client gap ${client.gapMs.toFixed(0)} ms, outage ${client.outageMs.toFixed(0)} ms (${lost}), ` +
      `duplicates ${client.duplicates}`,
  );
  if (boundMs !== null)
    assert.ok(observer.gapMs <= boundMs, `${what}: observer gap ${observer.gapMs} ms > ${boundMs}`);
  if (clientBoundMs !== null)
    assert.ok(
      client.outageMs <= clientBoundMs,
      `${what}: client without replies ${client.outageMs} ms (${lost}) > ${clientBoundMs}`,
    );
}

export async function statuses(lab: Lab, vipId?: string): Promise<(string | undefined)[]> {
  return Promise.all(
    lab.hosts.map(async (h) => {
      if (!lab.agentRunning(h.name)) return undefined;
      const res = await lab.api<{ ips: VipView[] }>(h.name, 'GET', '/ips').catch(() => null);
      if (res?.status !== 200) return undefined;
      const vip = vipId ? res.body.ips.find((v) => v.id === vipId) : res.body.ips.find((v) => v.ip === VIP);
      return vip?.status;
    }),
  );
}

/**
 * Settled: every agent runs and is out of BOOTING, exactly one is ACTIVATED, its kernel is the
 * only one holding the VIP, and the observer sees it alone for 300 ms. Returns the owner.
 */
export async function settle(lab: Lab, observation: Observation, timeoutMs = TTL_MS + 2 * MARGIN_MS) {
  let seen = 'nothing yet';
  return until(
    'one owner, seen alone by the observer',
    async () => {
      const mac = observation.steadyMac(300);
      const holders = await lab.holders(VIP);
      const s = await statuses(lab);
      const last = observation.rounds.at(-1)?.macs ?? [];
      seen = `observer ${last.join(',') || 'none'} (steady: ${mac ?? 'no'}); kernels holding: ${holders.join(',') || 'none'}; states ${s.map((x, i) => `${lab.hosts[i]!.name}:${x}`).join(' ')}`;
      if (!mac || holders.length !== 1 || lab.host(holders[0]!).mac !== mac) return null;
      const ok =
        s.every((x) => x === 'ACTIVATED' || x === 'STANDBY') &&
        s.filter((x) => x === 'ACTIVATED').length === 1;
      return ok ? holders[0]! : null;
    },
    timeoutMs,
    () => seen,
  );
}

export interface WindowReport {
  /** Longest time with no responder (ms). */
  gapMs: number;
  /** Time with two or more responders (ms). */
  twoMs: number;
  rounds: number;
}

export function windowReport(rounds: readonly ProbeRound[], from: number, to: number): WindowReport {
  const report = analyseRounds(rounds, from, to);
  return { gapMs: report.longestGapMs, twoMs: report.twoAnswersMs, rounds: report.rounds };
}

/**
 * Observer time at which one host started answering alone, steadily for `steadyMs`, after `from`
 * (the first round of that stable run), or null.
 */
export function convergedAt(rounds: readonly ProbeRound[], from: number, steadyMs = 300): number | null {
  let start: number | null = null;
  let mac: string | null = null;
  for (const round of rounds) {
    if (round.t < from) continue;
    const single = round.macs.length === 1 ? round.macs[0]! : null;
    if (single === null || single !== mac) {
      start = single === null ? null : round.t;
      mac = single;
      continue;
    }
    if (start !== null && round.t - start >= steadyMs) return start;
  }
  return null;
}

/** The member name of the etcd leader, asked of every member that answers. */
export async function etcdLeader(lab: Lab): Promise<string> {
  for (const member of lab.etcd) {
    const text = await execIn(lab.observer.ns, 'etcdctl', [
      `--endpoints=http://${member.ip}:2379`,
      '--dial-timeout=300ms',
      '--command-timeout=500ms',
      'endpoint',
      'status',
      '-w',
      'json',
    ])
      .then((r) => r.stdout)
      .catch(() => '');
    // member_id and leader are uint64: compare their digits, JSON.parse would round them.
    const self = /"member_id":(\d+)/.exec(text)?.[1];
    const leader = /"leader":(\d+)/.exec(text)?.[1];
    if (self && leader && self === leader) return member.name;
    if (leader) {
      const list = await execIn(lab.observer.ns, 'etcdctl', [
        `--endpoints=http://${member.ip}:2379`,
        'member',
        'list',
        '-w',
        'json',
      ]).catch(() => null);
      const match = list && new RegExp(`"ID":${leader},"name":"([^"]+)"`).exec(list.stdout);
      if (match?.[1]) return match[1];
    }
  }
  throw new Error('no etcd member reports a leader');
}

/** [id, ip] of every VIP each host reports (hosts in lab order). */
export async function configuration(lab: Lab): Promise<string[][][]> {
  return Promise.all(
    lab.hosts.map(async (h) => {
      const res = await lab.api<{ ips: VipView[] }>(h.name, 'GET', '/ips');
      assert.equal(res.status, 200, `GET /ips on ${h.name}: ${res.status}`);
      return res.body.ips.map((v) => [v.id, v.ip]).sort((a, b) => a[0]!.localeCompare(b[0]!));
    }),
  );
}

/** Brings back whatever a scenario left stopped: links, partitions, etcd members, agents. */
export async function restoreAll(lab: Lab): Promise<void> {
  lab.signalEtcd('SIGCONT');
  for (const host of lab.hosts) {
    await lab.restoreLink(host.name).catch(() => undefined);
    await lab.heal(host.name);
    if (lab.agentRunning(host.name)) await lab.signalAgent(host.name, 'SIGCONT', false);
  }
  await lab.startEtcd();
  for (const host of lab.hosts) {
    if (!lab.agentRunning(host.name)) await lab.startAgent(host.name);
  }
}

export function log(message: string): void {
  process.stdout.write(`# chaos: ${message}\n`);
}

/**
 * Every running agent's session is alive and its last keep-alive went through after `since`
 * (epoch ms): its lease deadline is later than `since` + TTL.
 */
export async function keptAliveSince(lab: Lab, since: number): Promise<boolean> {
  const results = await Promise.all(
    lab.hosts.map(async (h) => {
      if (!lab.agentRunning(h.name)) return true;
      const res = await lab
        .api<{ etcd?: string; leaseRemainingMs?: number }>(h.name, 'GET', '/healthz')
        .catch(() => null);
      if (!res || res.body.etcd !== 'alive' || res.body.leaseRemainingMs === undefined) return false;
      return Date.now() + res.body.leaseRemainingMs > since + TTL_MS;
    }),
  );
  return results.every(Boolean);
}

/**
 * After a fault is repaired: one responder within a TTL + margin, then no gap and no second
 * responder once settled.
 */
export async function checkRecovery(
  { lab, observation, client }: ChaosLab,
  what: string,
  healedAt: number,
  healedAtWall: number,
): Promise<void> {
  await until(
    'one responder after the repair',
    () => convergedAt(observation.rounds, healedAt),
    TTL_MS + MARGIN_MS + 1000,
  );
  const converged = convergedAt(observation.rounds, healedAt)!;
  log(`${what}: one responder ${(converged - healedAt).toFixed(0)} ms after the repair`);
  assert.ok(
    converged - healedAt <= TTL_MS + MARGIN_MS,
    `${what}: converged after ${converged - healedAt} ms`,
  );
  const owner = await settle(lab, observation);
  const after = windowReport(observation.rounds, converged, observation.now);
  assert.ok(after.gapMs <= SAMPLE_TOLERANCE_MS, `${what}: gap of ${after.gapMs} ms once settled`);
  assert.equal(after.twoMs, 0, `${what}: two responders once settled`);
  // The client converges within the same bound: the owner that stays announces again, so a
  // client left on a host that gave the VIP back is moved at once, not when its entry fails.
  await clientReaches(lab, client, owner, TTL_MS + MARGIN_MS + 1000);
  const gapMs = clientGapSince(client, healedAtWall);
  log(`${what}: client gap ${gapMs.toFixed(0)} ms from the repair, entry on ${owner}`);
  assert.ok(gapMs <= TTL_MS + MARGIN_MS, `${what}: client gap ${gapMs} ms after the repair`);
}
