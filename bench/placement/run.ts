import { readFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { Lab } from '../../lab/lab.ts';
import type { Client } from '../../lab/client.ts';
import { addresses } from '../../lab/netns.ts';
import { CONFIG_SCHEMA } from '../../config/schema.ts';
import { parseDurationMs } from '../../config/duration.ts';
import { markdown, option, runInOwnNetns, saveResults } from '../support.ts';

/**
 * Placement benchmark (issue 16): how many moves and how long BALANCE=on takes to spread 100
 * VIPs of one priority over 5 hosts, and to spread them again after each host's graceful restart
 * and after a crash (kill -9) and return. Every host carries every VIP.
 *
 * - initial: every VIP is added on h1 first (it wins them all, alone), then on the other hosts;
 *   the phase starts when the others start to carry them. Always run: it builds the state the
 *   other phases start from.
 * - restart of hN (each host in turn): SIGTERM (the graceful stop hands its VIPs over), wait
 *   until none is on it, start it again.
 * - crash of h2: SIGKILL, wait until the others hold every VIP (its lease runs out), start it.
 *
 * A phase has converged when every host owns within ±1 of VIPs / hosts and no VIP has changed
 * owner for STABLE_INTERVALS balance intervals; its time is from the phase's start to the last
 * change of owner. Moves are counted two ways: ownership changes seen in the hosts' kernels
 * (every host's eth0 addresses, polled every POLL_MS: one `ip` per host, not per VIP), which
 * include the handovers of a graceful stop and the takeovers after a crash, and the agents'
 * balance moves, from their logs ("balance: handing …", the BALANCED note's log line, failed
 * ones apart). The same poll says whether two hosts held one VIP at once: seen in consecutive
 * polls, for at least that long (one poll alone may be the poll's own doing); the agents' logs
 * add their warnings of a handover gone wrong (SECOND_HOLDER, CONFLICT_DETECTED,
 * FAILOVER_TIMED_OUT). Beside it the lab's client (lab/client.ts) pings a few VIPs (--watch, default 3)
 * every 5 ms, for the longest time without a reply and duplicate replies during each phase.
 *
 * etcd's data lives on disk, under --etcd-data (default /var/tmp), as in production.
 *
 *   scripts/in-netns.sh node --import tsx bench/placement/run.ts [--hosts 5] [--vips 100]
 *       [--interval 2s] [--phases restart,crash] [--watch 3] [--etcd-data /var/tmp]
 *
 * --interval sets BALANCE_INTERVAL (default: the agent's own, from config/schema.ts). Prints a
 * table and writes bench/results/placement-<date>.json. It re-runs itself under
 * scripts/in-netns.sh when started in the host's network namespace.
 */

runInOwnNetns('bench/placement/run.ts');

const HOSTS = Math.max(2, Number(option('hosts') ?? 5));
/** The VIPs are 198.18.0.100 onwards; the lab's client is .251, its observer .250. */
const MAX_VIPS = 150;
const VIP_COUNT = Math.min(MAX_VIPS, Math.max(HOSTS, Number(option('vips') ?? 100)));
const INTERVAL_TEXT = option('interval');
const DEFAULT_INTERVAL = CONFIG_SCHEMA.find((v) => v.name === 'BALANCE_INTERVAL')!.default;
const INTERVAL_MS = parseDurationMs(INTERVAL_TEXT ?? DEFAULT_INTERVAL);
if (INTERVAL_MS === null) throw new Error(`--interval ${INTERVAL_TEXT}: not a duration`);
const PHASES = option('phases')?.split(',') ?? ['restart', 'crash'];
const WATCH = Math.max(0, Math.min(VIP_COUNT, Number(option('watch') ?? 3)));
const ETCD_DATA = option('etcd-data') ?? '/var/tmp';
const AGENT_ENV: Record<string, string> = {
  BALANCE: 'on',
  ...(INTERVAL_TEXT ? { BALANCE_INTERVAL: INTERVAL_TEXT } : {}),
};
const VIPS = Array.from({ length: VIP_COUNT }, (_, i) => `198.18.0.${100 + i}/32`);
const EVEN = VIP_COUNT / HOSTS;
/** Stable: no change of owner for this many intervals (the planner's cooldown is 3). */
const STABLE_INTERVALS = 4;
const STABLE_MS = STABLE_INTERVALS * INTERVAL_MS;
const POLL_MS = 200;
/** One move per interval from a single source, plus every wait's slack. */
const CONVERGE_DEADLINE_MS = 60_000 + VIP_COUNT * INTERVAL_MS * 1.5;
const MOVED_AWAY_DEADLINE_MS = 30_000;
const CLIENT_INTERVAL_MS = 5;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function until<T>(
  what: string,
  probe: () => Promise<T | null | undefined | false> | T | null | undefined | false,
  timeoutMs: number,
) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(POLL_MS / 2);
  }
}

interface OwnerChange {
  t: number;
  cidr: string;
  from: string;
  to: string;
}

/**
 * Who holds each VIP, from the hosts' kernels: every POLL_MS one `ip addr` per host. Keeps every
 * change of owner (a VIP seen on one host after another; one gone for a poll or two and back on
 * the same host is no move) and every poll that saw a VIP on two hosts.
 */
class Ownership {
  readonly changes: OwnerChange[] = [];
  readonly twoHolders: { t: number; cidr: string; hosts: string[] }[] = [];
  /** The holders at the last poll, per VIP. */
  holders = new Map<string, string[]>();
  polledAt = 0;
  private readonly lastOwner = new Map<string, string>();
  private stopped = false;
  private readonly loop: Promise<void>;

  constructor(private readonly lab: Lab) {
    this.loop = this.run();
  }

  private async run(): Promise<void> {
    while (!this.stopped) {
      await this.poll();
      await sleep(POLL_MS);
    }
  }

  private async poll(): Promise<void> {
    const t = Date.now();
    const held = await Promise.all(
      this.lab.hosts.map(async (h) => {
        const local = (await addresses(h.ns, 'eth0').catch(() => [])).map((a) => a.local);
        return { host: h.name, local: new Set(local) };
      }),
    );
    const holders = new Map<string, string[]>();
    for (const cidr of VIPS) {
      const address = cidr.split('/')[0]!;
      const on = held.filter((h) => h.local.has(address)).map((h) => h.host);
      holders.set(cidr, on);
      if (on.length > 1) this.twoHolders.push({ t, cidr, hosts: on });
      if (on.length !== 1) continue;
      const before = this.lastOwner.get(cidr);
      if (before !== undefined && before !== on[0]) this.changes.push({ t, cidr, from: before, to: on[0]! });
      this.lastOwner.set(cidr, on[0]!);
    }
    this.holders = holders;
    this.polledAt = t;
  }

  /** VIPs per host at the last poll, or null when a VIP had no holder or two. */
  loads(): Map<string, number> | null {
    const counts = new Map(this.lab.hosts.map((h) => [h.name, 0]));
    for (const on of this.holders.values()) {
      if (on.length !== 1) return null;
      counts.set(on[0]!, counts.get(on[0]!)! + 1);
    }
    return counts;
  }

  /** Resolves after a poll that started after now (a fresh view). */
  async fresh(): Promise<void> {
    const since = Date.now();
    await until('a fresh poll', () => this.polledAt >= since, 10_000);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.loop;
  }
}

/** Warnings of the agents that say a handover went wrong: counted per phase from their logs. */
const WARNING_CODES = ['SECOND_HOLDER', 'CONFLICT_DETECTED', 'FAILOVER_TIMED_OUT'] as const;
type WarningCode = (typeof WARNING_CODES)[number];

interface Logged {
  /** Balance moves made: "balance: handing …" lines, less the failed ones. */
  made: number;
  /** "balance: handing … failed" lines: the handover did not happen (the VIP stayed). */
  failed: number;
  warnings: Record<WarningCode, number>;
}

/** What the agents logged in [from, to]. */
function logged(lab: Lab, from: number, to: number): Logged {
  let attempts = 0;
  let failed = 0;
  const warnings = Object.fromEntries(WARNING_CODES.map((c) => [c, 0])) as Record<WarningCode, number>;
  for (const { name } of lab.hosts) {
    let text = '';
    try {
      text = readFileSync(lab.host(name).log, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n')) {
      const balance = line.includes('"balance: handing');
      const code = WARNING_CODES.find((c) => line.includes(`"code":"${c}"`));
      if (!balance && code === undefined) continue;
      let t: number;
      try {
        t = Date.parse((JSON.parse(line) as { timestamp: string }).timestamp);
      } catch {
        continue;
      }
      if (t < from || t > to) continue;
      if (code !== undefined) warnings[code]++;
      else if (line.includes(' failed"')) failed++;
      else attempts++;
    }
  }
  return { made: attempts - failed, failed, warnings };
}

const withinEven = (loads: Map<string, number>) => [...loads.values()].every((n) => Math.abs(n - EVEN) <= 1);

/**
 * Waits until every host is within ±1 of even and no owner has changed for STABLE_MS; returns
 * the time of the last change of owner (the phase's end) and when stability was seen.
 */
async function converge(
  ownership: Ownership,
  phase: string,
  t0: number,
): Promise<{ lastChange: number; stableAt: number }> {
  return until(
    `${phase}: every host within ±1 of ${EVEN}, no move for ${STABLE_MS} ms`,
    () => {
      const loads = ownership.loads();
      if (!loads || !withinEven(loads)) return null;
      const last = ownership.changes.at(-1)?.t ?? 0;
      const lastChange = Math.max(last, t0);
      if (ownership.polledAt - lastChange < STABLE_MS) return null;
      return { lastChange, stableAt: ownership.polledAt };
    },
    CONVERGE_DEADLINE_MS,
  );
}

interface TwoHolderEpisode {
  cidr: string;
  hosts: string[];
  /** From the phase's start to the first poll that saw it. */
  atMs: number;
  polls: number;
  /** First to last poll that saw it. */
  ms: number;
}

/** Sightings of one VIP on the same hosts in consecutive polls, from `t0` on. */
function episodes(sightings: Ownership['twoHolders'], t0: number): TwoHolderEpisode[] {
  const open = new Map<
    string,
    { first: number; last: number; polls: number; cidr: string; hosts: string[] }
  >();
  const done: TwoHolderEpisode[] = [];
  const close = (e: { first: number; last: number; polls: number; cidr: string; hosts: string[] }) => {
    if (e.polls > 1) {
      done.push({ cidr: e.cidr, hosts: e.hosts, atMs: e.first - t0, polls: e.polls, ms: e.last - e.first });
    }
  };
  for (const x of sightings) {
    const key = `${x.cidr} ${x.hosts.join(',')}`;
    const e = open.get(key);
    // Consecutive: within a few poll periods (a poll takes some ms of its own under load).
    if (e && x.t - e.last <= 3 * POLL_MS) {
      e.last = x.t;
      e.polls++;
      continue;
    }
    if (e) close(e);
    open.set(key, { first: x.t, last: x.t, polls: 1, cidr: x.cidr, hosts: x.hosts });
  }
  for (const e of open.values()) close(e);
  return done.sort((a, b) => a.atMs - b.atMs);
}

interface PhaseResult {
  phase: string;
  /** Changes of owner seen in the kernels during the phase. */
  moves: number;
  /** Of which made while the host was stopping or down (handovers of a stop, takeovers after a crash). */
  movesAway: number;
  /** The agents' balance moves (log lines "balance: handing"), and the failed ones. */
  balanceMoves: number;
  balanceFailed: number;
  /** The agents' warnings of a handover gone wrong (log lines with these note codes). */
  warnings: Record<WarningCode, number>;
  /** Phase start to the last change of owner. */
  convergeMs: number;
  /** Phase start to the signal's end and every VIP off the host (restart, crash). */
  awayMs: number | null;
  /** Phase start to the agent serving again (restart, crash). */
  startedMs: number | null;
  distribution: Record<string, number>;
  /** The watched VIPs' longest time without a reply during the phase, and duplicates. */
  clientGapMs: number | null;
  clientGapVip: string | null;
  /** From the phase's start to the last reply before that gap. */
  clientGapAtMs: number | null;
  clientDuplicates: number;
  clientGaps: Record<string, number>;
  /** Polls that saw one VIP on two hosts. */
  twoHolderPolls: number;
  /**
   * The same VIP on the same hosts in consecutive polls: held twice for at least a poll period.
   * A sighting in one poll alone may be the poll's own doing (the hosts are read one `ip` each,
   * not at one instant, and a handover unbinds then binds within a few ms).
   */
  twoHolderEpisodes: TwoHolderEpisode[];
  error?: string;
}

function phaseResult(
  lab: Lab,
  ownership: Ownership,
  clients: Client[],
  phase: string,
  t0: number,
  end: { lastChange: number; stableAt: number } | null,
  away: { awayAt: number | null; startedAt: number | null },
  error?: string,
): PhaseResult {
  const t1 = end?.stableAt ?? Date.now();
  const changes = ownership.changes.filter((c) => c.t >= t0 && c.t <= t1);
  const logs = logged(lab, t0, t1);
  let clientGapMs: number | null = null;
  let clientGapVip: string | null = null;
  let clientGapAtMs: number | null = null;
  let clientDuplicates = 0;
  const clientGaps: Record<string, number> = {};
  for (const client of clients) {
    const report = client.report(t0, t1);
    const gap = Math.round(report.longestGap.ms * 10) / 10;
    clientGaps[client.vip] = gap;
    clientDuplicates += report.duplicates;
    if (clientGapMs === null || gap > clientGapMs) {
      clientGapMs = gap;
      clientGapVip = client.vip;
      clientGapAtMs = Math.round(report.longestGap.startT - t0);
    }
  }
  return {
    phase,
    moves: changes.length,
    movesAway: away.startedAt === null ? 0 : changes.filter((c) => c.t <= away.startedAt!).length,
    balanceMoves: logs.made,
    balanceFailed: logs.failed,
    warnings: logs.warnings,
    convergeMs: Math.round((end?.lastChange ?? t1) - t0),
    awayMs: away.awayAt === null ? null : Math.round(away.awayAt - t0),
    startedMs: away.startedAt === null ? null : Math.round(away.startedAt - t0),
    distribution: Object.fromEntries(ownership.loads() ?? []),
    clientGapMs,
    clientGapVip,
    clientGapAtMs,
    clientDuplicates,
    clientGaps,
    twoHolderPolls: ownership.twoHolders.filter((x) => x.t >= t0 && x.t <= t1).length,
    twoHolderEpisodes: episodes(
      ownership.twoHolders.filter((x) => x.t >= t0 && x.t <= t1),
      t0,
    ),
    ...(error ? { error } : {}),
  };
}

async function addVips(lab: Lab, host: string): Promise<void> {
  for (const cidr of VIPS) {
    const res = await lab.api(host, 'POST', '/ips', { ip: cidr });
    if (res.status !== 201)
      throw new Error(`POST /ips ${cidr} on ${host}: ${res.status} ${JSON.stringify(res.body)}`);
  }
}

/** Every VIP on exactly one host, none on `host`. */
const awayFrom = (ownership: Ownership, host: string) => {
  const loads = ownership.loads();
  return loads !== null && loads.get(host) === 0;
};

async function initial(lab: Lab, ownership: Ownership, clients: Client[]): Promise<PhaseResult> {
  const t0 = Date.now();
  try {
    // Every other host carries each VIP at once (one POST per host in parallel), so the set of
    // live candidates changes at the start only.
    const others = lab.hosts.slice(1).map((h) => h.name);
    await Promise.all(others.map((host) => addVips(lab, host)));
    const end = await converge(ownership, 'initial', t0);
    return phaseResult(lab, ownership, clients, 'initial (all on h1)', t0, end, {
      awayAt: null,
      startedAt: null,
    });
  } catch (err) {
    return phaseResult(
      lab,
      ownership,
      clients,
      'initial (all on h1)',
      t0,
      null,
      { awayAt: null, startedAt: null },
      String(err),
    );
  }
}

async function outage(
  lab: Lab,
  ownership: Ownership,
  clients: Client[],
  host: string,
  signal: 'SIGTERM' | 'SIGKILL',
): Promise<PhaseResult> {
  const phase = `${signal === 'SIGTERM' ? 'restart' : 'crash (kill -9)'} of ${host}`;
  const t0 = Date.now();
  const away: { awayAt: number | null; startedAt: number | null } = { awayAt: null, startedAt: null };
  try {
    await lab.signalAgent(host, signal);
    await ownership.fresh();
    await until(`${phase}: every VIP off ${host}`, () => awayFrom(ownership, host), MOVED_AWAY_DEADLINE_MS);
    away.awayAt = ownership.polledAt;
    await lab.startAgent(host);
    away.startedAt = Date.now();
    const end = await converge(ownership, phase, t0);
    return phaseResult(lab, ownership, clients, phase, t0, end, away);
  } catch (err) {
    if (!lab.agentRunning(host)) await lab.startAgent(host).catch(() => undefined);
    return phaseResult(lab, ownership, clients, phase, t0, null, away, String(err));
  }
}

const started = new Date();
const loadBefore = loadavg();
const loadSamples: number[] = [];
const loadTimer = setInterval(() => loadSamples.push(loadavg()[0]!), 10_000);
const lab = await Lab.up({
  name: `bp-${process.pid}`,
  hosts: HOSTS,
  etcdMembers: 1,
  etcdDataRoot: ETCD_DATA,
  agentEnv: AGENT_ENV,
});
/** etcd's data directory, on disk under --etcd-data. */
const ETCD_DIR = lab.etcd.map((m) => m.dataDir).join(', ');
const ownership = new Ownership(lab);
const clients: Client[] = [];
const phases: PhaseResult[] = [];
const watched = Array.from(
  { length: WATCH },
  (_, i) => VIPS[WATCH === 1 ? 0 : Math.round((i * (VIP_COUNT - 1)) / (WATCH - 1))]!,
);
try {
  const first = lab.hosts[0]!.name;
  await addVips(lab, first);
  await until(`every VIP on ${first}`, () => ownership.loads()?.get(first) === VIP_COUNT, 60_000);
  for (const cidr of watched) clients.push(await lab.client(cidr, CLIENT_INTERVAL_MS));
  await Promise.all(clients.map((c) => c.waitForReply(10_000)));
  const report = (r: PhaseResult) =>
    process.stderr.write(
      `${r.phase}: ${r.moves} moves seen (${r.balanceMoves} balance), ${r.convergeMs} ms, ` +
        `${JSON.stringify(r.distribution)}, client gap ${r.clientGapMs} ms${r.error ? `, ERROR ${r.error}` : ''}\n`,
    );
  phases.push(await initial(lab, ownership, clients));
  report(phases.at(-1)!);
  if (PHASES.includes('restart') && !phases.at(-1)!.error) {
    for (const { name } of lab.hosts) {
      phases.push(await outage(lab, ownership, clients, name, 'SIGTERM'));
      report(phases.at(-1)!);
      if (phases.at(-1)!.error) break;
    }
  }
  if (PHASES.includes('crash') && !phases.at(-1)!.error) {
    phases.push(await outage(lab, ownership, clients, lab.hosts[1]!.name, 'SIGKILL'));
    report(phases.at(-1)!);
  }
} finally {
  clearInterval(loadTimer);
  await Promise.all(clients.map((c) => c.stop().catch(() => undefined)));
  await ownership.stop();
  await lab.down();
}

const output = {
  date: started.toISOString(),
  durationS: Math.round((Date.now() - started.getTime()) / 1000),
  machine: {
    cpus: cpus().length,
    model: cpus()[0]?.model,
    loadavgBefore: loadBefore,
    loadavgAfter: loadavg(),
    load1Max: loadSamples.length ? Math.max(...loadSamples) : null,
    kernel: readFileSync('/proc/version', 'utf8').trim(),
  },
  params: {
    hosts: HOSTS,
    vips: VIP_COUNT,
    balanceIntervalMs: INTERVAL_MS,
    balanceIntervalSource: INTERVAL_TEXT ? '--interval' : 'agent default',
    stableMs: STABLE_MS,
    pollMs: POLL_MS,
    etcdData: ETCD_DIR,
    agentEnv: AGENT_ENV,
    watchedVips: watched,
    clientIntervalMs: CLIENT_INTERVAL_MS,
    movesCountedFrom:
      'moves: changes of owner seen in the hosts\' kernels (ip addr, every pollMs); balanceMoves: the agents\' "balance: handing" log lines, less the failed ones',
  },
  phases,
  twoHolders: ownership.twoHolders,
  changes: ownership.changes,
};
const file = saveResults('placement', started, output);

const header = [
  'phase',
  'moves seen',
  'balance moves',
  'off the host',
  'converged (ms)',
  'VIPs off host (ms)',
  'distribution',
  'client gap max (ms)',
  'dup replies',
  'two holders: polls; for ≥ 2 polls',
  'agent warnings',
];
const rows = phases.map((p) => [
  p.phase + (p.error ? ` (ERROR: ${p.error})` : ''),
  String(p.moves),
  String(p.balanceMoves) + (p.balanceFailed ? ` (+${p.balanceFailed} failed)` : ''),
  String(p.movesAway),
  String(p.convergeMs),
  p.awayMs === null ? '-' : String(p.awayMs),
  lab.hosts.map((h) => p.distribution[h.name] ?? '?').join('/'),
  p.clientGapMs === null ? '-' : `${p.clientGapMs} (${p.clientGapVip} at +${p.clientGapAtMs} ms)`,
  String(p.clientDuplicates),
  `${p.twoHolderPolls}${p.twoHolderEpisodes.length ? `; ${p.twoHolderEpisodes.map((e) => `${e.cidr} on ${e.hosts.join('+')} ${e.ms} ms`).join(', ')}` : ''}`,
  WARNING_CODES.filter((c) => p.warnings[c] > 0)
    .map((c) => `${c} ${p.warnings[c]}`)
    .join(', ') || '-',
]);
console.log(
  `\nPlacement, BALANCE=on: ${VIP_COUNT} VIPs on ${HOSTS} hosts, BALANCE_INTERVAL ${INTERVAL_MS} ms ` +
    `(${INTERVAL_TEXT ? '--interval' : 'agent default'}), converged = every host within ±1 of ${EVEN} and no ` +
    `change of owner for ${STABLE_MS} ms; etcd data on disk in ${ETCD_DIR} (removed with the lab)\n` +
    `moves seen: changes of owner in the hosts' kernels (polled every ${POLL_MS} ms); balance moves: the agents' ` +
    `"balance: handing" log lines (note BALANCED), less the failed ones; off the host: changes before the host serves again ` +
    `(a stop's handovers, a crash's takeovers); client: ping every ${CLIENT_INTERVAL_MS} ms to ${watched.join(', ')}; ` +
    `two holders: polls that saw a VIP on two hosts (one poll alone may be the poll's own doing: one \`ip\` per host, ` +
    `not one instant), and the VIPs seen so in consecutive polls (held twice for that long at least); client gap ` +
    `at +N ms: its start, from the phase's start; agent warnings: log lines with ${WARNING_CODES.join(', ')}\n`,
);
console.log(markdown(header, rows));
console.log(
  `\nload average: before ${loadBefore.map((n) => n.toFixed(1)).join(' ')}, after ${loadavg()
    .map((n) => n.toFixed(1))
    .join(' ')}; ${output.durationS} s`,
);
console.log(`JSON: ${file}`);
