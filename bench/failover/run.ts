import { readFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { Lab, type Observation } from '../../lab/lab.ts';
import type { Client } from '../../lab/client.ts';
import { analyseRounds, percentile, type ProbeRound } from '../../lab/samples.ts';
import {
  NO_TAKEOVER,
  SCENARIOS,
  SCENARIO_TEXT,
  SYSTEMS,
  VIP,
  type Scenario,
  type SystemDef,
  type SystemDriver,
} from './systems.ts';
import { markdown, option, runInOwnNetns, saveResults } from '../support.ts';

/**
 * Failover benchmark: LinK against keepalived and ucarp in the same namespace lab (3 hosts, one
 * etcd member, an observer asking "who has the VIP?" by ARP every 2 ms from a raw socket).
 * Beside the observer, a client (lab/client.ts) pings the VIP every 5 ms from a namespace with an
 * ordinary kernel neighbour table: it keeps sending to the MAC it learned last, as real clients
 * do, so it sees what the observer cannot: a host that announced the VIP and gave it back.
 * Every scenario is run N times per system; each run measures, from the observer's rounds:
 * - gap: the longest time no host answered (analyseRounds; a round answered at t covers one
 *   probe interval);
 * - takeover: from the fault to the first answer from another host than the old owner;
 * - two answering: time during which two or more hosts answered;
 * - announcements: gratuitous ARPs seen for the VIP;
 * and from the client's replies:
 * - client gap: the longest time between two echo replies (the run's window lasts until the
 *   client is answered by the host holding the VIP again, at most CLIENT_DEADLINE_MS after the
 *   observer's window);
 * - entry on owner: whether the client's neighbour entry names the host holding the VIP at the end.
 * Between runs the lab is restored (link up, daemon restarted) and must settle with exactly one
 * host answering, and the client answered by it.
 *
 * etcd's data lives on disk (--etcd-data, default /var/tmp), as in production: in memory
 * (/dev/shm, the tests' default) etcd never waits for an fsync.
 *
 *   npx tsx bench/failover/run.ts [--runs 10] [--systems link,keepalived] [--scenarios crash,kill9]
 *                                 [--interval 2] [--etcd-data /var/tmp]
 *
 * It re-runs itself under scripts/in-netns.sh when started in the host's network namespace.
 */

runInOwnNetns('bench/failover/run.ts');

const RUNS = Math.max(1, Number(option('runs') ?? 10));
const INTERVAL_MS = Math.max(1, Number(option('interval') ?? 2));
const SYSTEM_IDS = option('systems')?.split(',') ?? SYSTEMS.map((s) => s.id);
const SCENARIO_FILTER = option('scenarios')?.split(',');
const ETCD_DATA = option('etcd-data') ?? '/var/tmp';
/** Echo interval of the client (ms). */
const CLIENT_INTERVAL_MS = 5;
/**
 * After the observer's window, how long to wait for the client to be answered by the holder
 * again: long enough for a stranded client's neighbour entry to fail and resolve anew (~8 s).
 */
const CLIENT_DEADLINE_MS = 12_000;
/** After the takeover, how long to keep watching (two hosts answering, late announcements). */
const TAIL_MS = 1000;
/** A run that has not seen a takeover after this is recorded as failed. */
const RUN_DEADLINE_MS = 20_000;
/** Settled: one host answering in every round for this long. */
const SETTLE_MS = 400;

interface RunResult {
  run: number;
  owner: string;
  successor: string | null;
  gapMs: number;
  takeoverMs: number | null;
  twoAnswersMs: number;
  /** Two hosts still answered when the window closed (a dead daemon's VIP stays bound). */
  twoAtEnd: boolean;
  announcements: number;
  windowMs: number;
  /** The client's longest time without an echo reply (ms). */
  clientGapMs: number;
  /** Echoes answered twice: two hosts answered the client. */
  clientDuplicates: number;
  /** The host the client's neighbour entry names at the end (null: none, or a MAC of no host). */
  clientEntry: string | null;
  /** That host holds the VIP at the end. */
  clientOnOwner: boolean;
  error?: string;
}

interface Summary {
  system: string;
  label: string;
  scenario: Scenario;
  runs: number;
  failed: number;
  gapMs: Stats;
  takeoverMs: Stats;
  twoAnswersMs: Stats;
  twoAtEnd: number;
  announcements: Stats;
  clientGapMs: Stats;
  clientOnOwner: number;
  clientDuplicates: number;
}

interface Stats {
  min: number;
  median: number;
  p95: number;
  max: number;
}

function stats(values: number[]): Stats {
  if (values.length === 0) return { min: NaN, median: NaN, p95: NaN, max: NaN };
  const r = (n: number) => Math.round(n * 10) / 10;
  return {
    min: r(Math.min(...values)),
    median: r(percentile(values, 50)),
    p95: r(percentile(values, 95)),
    max: r(Math.max(...values)),
  };
}

async function until<T>(what: string, probe: () => Promise<T | null | undefined | false>, timeoutMs: number) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** The last `ms` of rounds all have exactly one responder (and there are enough of them). */
function steady(observation: Observation, ms: number): string | null {
  const end = observation.now;
  const recent: ProbeRound[] = [];
  for (let i = observation.rounds.length - 1; i >= 0; i--) {
    const round = observation.rounds[i]!;
    if (round.t < end - ms) break;
    recent.push(round);
  }
  if (recent.length < ms / INTERVAL_MS / 3) return null;
  const mac = recent[0]?.macs[0];
  return mac && recent.every((r) => r.macs.length === 1 && r.macs[0] === mac) ? mac : null;
}

/** Waits until exactly one host binds and answers, the system is ready; returns the owner. */
async function settle(lab: Lab, driver: SystemDriver, observation: Observation): Promise<string> {
  return until(
    'exactly one host to answer for the VIP',
    async () => {
      const mac = steady(observation, SETTLE_MS);
      if (!mac) return null;
      const holders = await lab.holders(VIP);
      if (holders.length !== 1 || lab.host(holders[0]!).mac !== mac) return null;
      return (await driver.ready()) ? holders[0]! : null;
    },
    60_000,
  );
}

/**
 * Waits (at most timeoutMs) until the client's neighbour entry names `host` and a reply came
 * after that; returns whether it did.
 */
async function clientAnsweredBy(lab: Lab, client: Client, host: string, timeoutMs: number): Promise<boolean> {
  const mac = lab.host(host).mac;
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if ((await client.neighbour())?.mac === mac) {
      return client.waitForReply(Math.max(1, deadline - Date.now())).then(
        () => true,
        () => false,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return false;
}

async function measureRun(
  lab: Lab,
  driver: SystemDriver,
  observation: Observation,
  client: Client,
  scenario: Scenario,
  run: number,
): Promise<RunResult> {
  const owner = await settle(lab, driver, observation);
  // A client stranded by the previous run (a killed keepalived's address removed under it) waits
  // for its neighbour entry to fail: every run starts with the client answered by the owner.
  if (!(await clientAnsweredBy(lab, client, owner, 2 * CLIENT_DEADLINE_MS))) {
    throw new Error(`the client is not answered by the owner ${owner}`);
  }
  const ownerMac = lab.host(owner).mac;
  const t0 = observation.now;
  const w0 = Date.now();
  const firstAnnouncement = observation.announcements.length;
  let successor: string | null = null;
  let takeoverAt: number | null = null;
  let error: string | undefined;
  try {
    if (NO_TAKEOVER.includes(scenario)) {
      await driver.fault(scenario, owner);
      await until('the system to settle', () => driver.ready(), RUN_DEADLINE_MS);
    } else {
      const faulted = driver.fault(scenario, owner);
      const round = await observation.waitForRound(
        (r) => r.t >= t0 && r.macs.some((m) => m !== ownerMac),
        RUN_DEADLINE_MS,
      );
      await faulted;
      takeoverAt = round.t;
      successor = lab.hostOfMac(round.macs.find((m) => m !== ownerMac)!) ?? null;
    }
  } catch (err) {
    error = err instanceof Error ? err.message : String(err);
  }
  // Tail: until one host answers steadily, at least TAIL_MS after the takeover, at most 3 s.
  const tailFrom = takeoverAt ?? observation.now;
  await observation.waitForRound((r) => r.t >= tailFrom + TAIL_MS, TAIL_MS + 5000).catch(() => undefined);
  await until('one host answering', () => Promise.resolve(steady(observation, 200)), 2000).catch(
    () => undefined,
  );
  const tEnd = observation.now;
  const holders = await lab.holders(VIP);
  const holder = holders.length === 1 ? holders[0]! : null;
  if (holder) await clientAnsweredBy(lab, client, holder, CLIENT_DEADLINE_MS);
  const seen = client.report(w0);
  const entryMac = (await client.neighbour())?.mac ?? null;
  const clientEntry = entryMac ? (lab.hostOfMac(entryMac) ?? null) : null;
  const report = analyseRounds(observation.rounds, t0 - 3 * INTERVAL_MS, tEnd);
  const last = observation.rounds.at(-1);
  const result: RunResult = {
    run,
    owner,
    successor,
    gapMs: Math.round(report.longestGapMs * 10) / 10,
    takeoverMs: takeoverAt === null ? null : Math.round((takeoverAt - t0) * 10) / 10,
    twoAnswersMs: Math.round(report.twoAnswersMs * 10) / 10,
    twoAtEnd: (last?.macs.length ?? 0) >= 2,
    announcements: observation.announcements.slice(firstAnnouncement).filter((a) => a.t >= t0 && a.t <= tEnd)
      .length,
    windowMs: Math.round(tEnd - t0),
    clientGapMs: Math.round(seen.longestGap.ms * 10) / 10,
    clientDuplicates: seen.duplicates,
    clientEntry,
    clientOnOwner: clientEntry !== null && holders.includes(clientEntry),
    ...(error ? { error } : {}),
  };
  await driver.restore(scenario, owner);
  return result;
}

function summarise(system: SystemDef, scenario: Scenario, results: RunResult[]): Summary {
  const ok = results.filter((r) => !r.error);
  return {
    system: system.id,
    label: system.label,
    scenario,
    runs: results.length,
    failed: results.length - ok.length,
    gapMs: stats(ok.map((r) => r.gapMs)),
    takeoverMs: stats(ok.flatMap((r) => (r.takeoverMs === null ? [] : [r.takeoverMs]))),
    twoAnswersMs: stats(ok.map((r) => r.twoAnswersMs)),
    twoAtEnd: ok.filter((r) => r.twoAtEnd).length,
    announcements: stats(ok.map((r) => r.announcements)),
    clientGapMs: stats(ok.map((r) => r.clientGapMs)),
    clientOnOwner: ok.filter((r) => r.clientOnOwner).length,
    clientDuplicates: ok.reduce((n, r) => n + r.clientDuplicates, 0),
  };
}

interface ProbeRate {
  rounds: number;
  medianMs: number;
  p99Ms: number;
  maxMs: number;
}

async function benchSystem(
  system: SystemDef,
  index: number,
): Promise<{ runs: Record<string, RunResult[]>; probe: ProbeRate | null }> {
  let probe: ProbeRate | null = null;
  const scenarios = system.scenarios.filter((s) => !SCENARIO_FILTER || SCENARIO_FILTER.includes(s));
  const lab = await Lab.up({
    name: `fb-${process.pid}-${index}`,
    hosts: 3,
    etcdMembers: 1,
    etcdDataRoot: ETCD_DATA,
    ...system.lab,
  });
  const driver = system.driver(lab);
  const runs: Record<string, RunResult[]> = {};
  const observation = lab.observe(VIP, INTERVAL_MS);
  let client: Client | undefined;
  try {
    await driver.start();
    client = await lab.client(VIP, CLIENT_INTERVAL_MS);
    for (const scenario of scenarios) {
      runs[scenario] = [];
      let failures = 0;
      for (let i = 1; i <= RUNS && failures < 3; i++) {
        const result = await measureRun(lab, driver, observation, client, scenario, i).catch(
          (err: unknown): RunResult => ({
            run: i,
            owner: '?',
            successor: null,
            gapMs: NaN,
            takeoverMs: null,
            twoAnswersMs: NaN,
            twoAtEnd: false,
            announcements: 0,
            windowMs: 0,
            clientGapMs: NaN,
            clientDuplicates: 0,
            clientEntry: null,
            clientOnOwner: false,
            error: err instanceof Error ? err.message : String(err),
          }),
        );
        failures = result.error ? failures + 1 : 0;
        runs[scenario].push(result);
        const take = result.takeoverMs === null ? '-' : result.takeoverMs.toFixed(0);
        process.stderr.write(
          `${system.id} ${scenario} #${i}: gap ${result.gapMs.toFixed(1)} ms, takeover ${take} ms, ` +
            `two ${result.twoAnswersMs.toFixed(0)} ms${result.twoAtEnd ? ' (still at end)' : ''}, ` +
            `${result.announcements} GARP; client gap ${result.clientGapMs.toFixed(1)} ms, entry on ` +
            `${result.clientEntry ?? 'none'}${result.clientOnOwner ? ' (the owner)' : ''}` +
            `${result.clientDuplicates ? `, ${result.clientDuplicates} dup` : ''}` +
            `${result.error ? `, ERROR ${result.error}` : ''}\n`,
        );
      }
    }
    const gaps = observation.rounds.slice(1).map((r, i) => r.t - observation.rounds[i]!.t);
    probe = {
      rounds: observation.rounds.length,
      medianMs: Math.round(percentile(gaps, 50) * 100) / 100,
      p99Ms: Math.round(percentile(gaps, 99) * 100) / 100,
      maxMs: Math.round(Math.max(...gaps) * 100) / 100,
    };
  } finally {
    await client?.stop().catch(() => undefined);
    await observation.stop();
    await driver.stop().catch(() => undefined);
    await lab.down();
  }
  return { runs, probe };
}

const fmt = (n: number) => (Number.isNaN(n) ? '-' : n >= 100 ? n.toFixed(0) : n.toFixed(1));

/**
 * One row per system and scenario, the scenarios a system does not have included ("n/a": no
 * etcd to freeze, no restart or switchover of its own), so the table covers every pair.
 */
function table(summaries: Summary[], systems: readonly SystemDef[]): string {
  const header = [
    'system',
    'scenario',
    'n',
    'gap min',
    'gap med',
    'gap p95',
    'gap max',
    'takeover med',
    'two-answer med',
    'two-answer max',
    'GARPs med',
    'client gap med',
    'client gap max',
    'client entry on owner',
  ];
  const scenarios = SCENARIOS.filter((s) => !SCENARIO_FILTER || SCENARIO_FILTER.includes(s));
  const rows: string[][] = [];
  for (const system of systems) {
    for (const scenario of scenarios) {
      const s = summaries.find((x) => x.system === system.id && x.scenario === scenario);
      if (s) rows.push(row(s));
      else rows.push([system.id, scenario, 'n/a', ...header.slice(3).map(() => '')]);
    }
  }
  return markdown(header, rows);
}

function row(s: Summary): string[] {
  return [
    s.system,
    s.scenario,
    `${s.runs - s.failed}/${s.runs}`,
    fmt(s.gapMs.min),
    fmt(s.gapMs.median),
    fmt(s.gapMs.p95),
    fmt(s.gapMs.max),
    fmt(s.takeoverMs.median),
    fmt(s.twoAnswersMs.median),
    `${fmt(s.twoAnswersMs.max)}${s.twoAtEnd > 0 ? ` (${s.twoAtEnd} persist)` : ''}`,
    fmt(s.announcements.median),
    fmt(s.clientGapMs.median),
    `${fmt(s.clientGapMs.max)}${s.clientDuplicates > 0 ? ` (${s.clientDuplicates} dup)` : ''}`,
    `${s.clientOnOwner}/${s.runs - s.failed}`,
  ];
}

function ratios(summaries: Summary[]): string {
  const find = (system: string, scenario: Scenario) =>
    summaries.find((s) => s.system === system && s.scenario === scenario);
  const rows: string[][] = [];
  for (const scenario of ['crash', 'kill9', 'graceful'] as const) {
    for (const [link, keepalived] of [
      ['link', 'keepalived'],
      ['link-tuned', 'keepalived-tuned'],
    ] as const) {
      const a = find(link, scenario);
      const b = find(keepalived, scenario);
      if (!a || !b) continue;
      const ratio = (x: number, y: number) => (y > 0 && Number.isFinite(x) ? (x / y).toFixed(2) : '-');
      rows.push([
        scenario,
        `${link} / ${keepalived}`,
        `${fmt(a.gapMs.median)} / ${fmt(b.gapMs.median)}`,
        ratio(a.gapMs.median, b.gapMs.median),
        `${fmt(a.takeoverMs.median)} / ${fmt(b.takeoverMs.median)}`,
        ratio(a.takeoverMs.median, b.takeoverMs.median),
      ]);
    }
  }
  return markdown(
    ['scenario', 'pair', 'gap med (ms)', 'gap ratio', 'takeover med (ms)', 'takeover ratio'],
    rows,
  );
}

const selected = SYSTEMS.filter((s) => SYSTEM_IDS.includes(s.id));
if (selected.length === 0) {
  process.stderr.write(
    `no system among ${SYSTEM_IDS.join(',')}; known: ${SYSTEMS.map((s) => s.id).join(',')}\n`,
  );
  process.exit(2);
}
const started = new Date();
const loadBefore = loadavg();
const loadSamples: number[] = [];
const loadTimer = setInterval(() => loadSamples.push(loadavg()[0]!), 10_000);
const summaries: Summary[] = [];
const raw: Record<string, Record<string, RunResult[]>> = {};
const probes: Record<string, ProbeRate | null> = {};
for (const [i, system] of selected.entries()) {
  process.stderr.write(`== ${system.label}\n`);
  const { runs, probe } = await benchSystem(system, i);
  raw[system.id] = runs;
  probes[system.id] = probe;
  for (const [scenario, results] of Object.entries(runs)) {
    summaries.push(summarise(system, scenario as Scenario, results));
  }
}
clearInterval(loadTimer);

const output = {
  date: started.toISOString(),
  durationS: Math.round((Date.now() - started.getTime()) / 1000),
  machine: {
    cpus: cpus().length,
    model: cpus()[0]?.model,
    loadavgBefore: loadBefore,
    loadavgAfter: loadavg(),
    load1Median: percentile(loadSamples, 50),
    load1Max: loadSamples.length ? Math.max(...loadSamples) : null,
    kernel: readFileSync('/proc/version', 'utf8').trim(),
  },
  params: {
    runs: RUNS,
    probeIntervalMs: INTERVAL_MS,
    clientIntervalMs: CLIENT_INTERVAL_MS,
    tailMs: TAIL_MS,
    vip: VIP,
    etcdDataRoot: ETCD_DATA,
  },
  /** Achieved probe round spacing per system (the observer's own timestamps). */
  probes,
  scenarios: SCENARIO_TEXT,
  systems: selected.map((s) => ({ id: s.id, label: s.label, lab: s.lab })),
  summaries,
  runs: raw,
};
const file = saveResults('failover', started, output);

const spacing = Object.values(probes).filter((p): p is ProbeRate => p !== null);
const achieved = spacing.length
  ? `achieved spacing median ${Math.max(...spacing.map((p) => p.medianMs)).toFixed(2)} ms, ` +
    `p99 ${Math.max(...spacing.map((p) => p.p99Ms)).toFixed(1)} ms, max ${Math.max(...spacing.map((p) => p.maxMs)).toFixed(0)} ms`
  : '';
console.log(
  `\nFailover, ${RUNS} runs per scenario, ARP probe every ${INTERVAL_MS} ms (${achieved}), client ping ` +
    `every ${CLIENT_INTERVAL_MS} ms, etcd data on disk (${ETCD_DATA}); times in ms\n`,
);
console.log(table(summaries, selected));
console.log('\nLinK / keepalived (medians)\n');
console.log(ratios(summaries));
console.log(
  `\nload average: before ${loadBefore.map((n) => n.toFixed(1)).join(' ')}, during (1 min) median ` +
    `${fmt(output.machine.load1Median)} max ${fmt(output.machine.load1Max ?? NaN)}; ${output.durationS} s`,
);
console.log(`JSON: ${file}`);
