import { readFileSync, statSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { DEFAULT_VIP, Lab, type Observation } from '../../lab/lab.ts';
import type { Client } from '../../lab/client.ts';
import { REPO_ROOT } from '../../lab/netns.ts';
import { analyseRounds, percentile } from '../../lab/samples.ts';
import { markdown, option, runInOwnNetns, saveResults } from '../support.ts';

/**
 * Crash-restart benchmark (issue 18 part 6): the owner's agent is killed with SIGKILL and
 * started again, as systemd's Restart=on-failure does, either at once or after the packaged
 * RestartSec (read from packaging/link.service). A run "kept the VIP" when the restarted agent
 * reused its lease (its log says "lease … reused"), it holds the VIP again, no other host
 * answered for it meanwhile (observer) and the client's neighbour entry still names it. Each
 * run also records the client's longest gap (lab/client.ts: ping every 5 ms through an ordinary
 * neighbour table), the observer's gap, the time from the kill and from the start to the lease
 * reuse, and whether two hosts answered at once.
 *
 * etcd's data lives on disk, under --etcd-data (default /var/tmp), as in production: in memory
 * (the lab's default, /dev/shm) its fsyncs cost nothing.
 *
 *   scripts/in-netns.sh node --import tsx bench/restart/run.ts [--runs 100] [--modes at-once,restart-sec]
 *                                [--hosts 3] [--etcd-data /var/tmp] [--linkctl tsx] [--env NAME=VALUE,…]
 *
 * --linkctl tsx runs the agents as `node --import tsx cli/main.ts` (a checkout without a build)
 * instead of the release build the package runs. Prints a table and writes
 * bench/results/restart-<date>.json. It re-runs itself under scripts/in-netns.sh when started in
 * the host's network namespace.
 */

runInOwnNetns('bench/restart/run.ts');

type Mode = 'at-once' | 'restart-sec';
const MODE_TEXT: Record<Mode, string> = {
  'at-once': 'started again as soon as the killed process is gone',
  'restart-sec': "started again RestartSec after the kill (packaging/link.service's delay)",
};
const RUNS = Math.max(1, Number(option('runs') ?? 100));
const MODES = (option('modes')?.split(',') ?? ['at-once', 'restart-sec']) as Mode[];
const HOSTS = Math.max(2, Number(option('hosts') ?? 3));
const ETCD_DATA = option('etcd-data') ?? '/var/tmp';
const TSX = join(REPO_ROOT, 'node_modules', 'tsx', 'dist', 'esm', 'index.mjs');
const VARIANT = option('linkctl') === 'tsx' ? 'tsx' : 'release build';
const LINKCTL =
  VARIANT === 'tsx' ? [process.execPath, '--import', TSX, join(REPO_ROOT, 'cli', 'main.ts')] : undefined;
const AGENT_ENV = Object.fromEntries(
  (option('env')?.split(',') ?? []).map((pair) => [
    pair.slice(0, pair.indexOf('=')),
    pair.slice(pair.indexOf('=') + 1),
  ]),
);
const PROBE_MS = 2;
/** Settled: one host answering (observer) and binding, for this long. */
const SETTLE_MS = 500;
const RUN_DEADLINE_MS = 30_000;

/** RestartSec= of the packaged unit, in ms (the one home of that delay). */
function restartSecMs(): number {
  const text = readFileSync(join(REPO_ROOT, 'packaging/link.service'), 'utf8');
  const value = /^RestartSec=(\S+)$/m.exec(text)?.[1];
  const m = value ? /^(\d+(?:\.\d+)?)(ms|s)?$/.exec(value) : null;
  if (!m) throw new Error(`packaging/link.service: no RestartSec= this bench understands (${value})`);
  return Number(m[1]) * (m[2] === 'ms' ? 1 : 1000);
}
const RESTART_SEC_MS = restartSecMs();

interface RunResult {
  run: number;
  owner: string;
  kept: boolean;
  leaseReused: boolean | null;
  ownerAfter: string | null;
  otherAnswered: boolean;
  clientGapMs: number;
  /** The client without replies while echoes went unanswered (lab/client.ts longestOutage). */
  clientOutageMs: number;
  clientMacIsOwner: boolean;
  clientDuplicates: number;
  observerGapMs: number;
  twoAnswersMs: number;
  killToLeaseMs: number | null;
  startToLeaseMs: number | null;
  /** From the kill to the renewal of its addresses on etcd's first answer (first-contact.ts). */
  killToRenewalMs: number | null;
  error?: string;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function until<T>(what: string, probe: () => Promise<T | null | undefined | false>, timeoutMs: number) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(20);
  }
}

/** One host binds, answers alone, is ACTIVATED, and the client's entry names it; its name. */
async function settle(lab: Lab, observation: Observation, client: Client): Promise<string> {
  return until(
    'one owner, answering alone, on the client',
    async () => {
      const mac = observation.steadyMac(SETTLE_MS);
      if (!mac) return null;
      const holders = await lab.holders(DEFAULT_VIP);
      if (holders.length !== 1 || lab.host(holders[0]!).mac !== mac) return null;
      if (!lab.agentRunning(holders[0]!)) return null;
      const res = await lab.api<{ ips: { status: string }[] }>(holders[0]!, 'GET', '/ips').catch(() => null);
      if (res?.body.ips[0]?.status !== 'ACTIVATED') return null;
      if ((await client.neighbour())?.mac !== mac) return null;
      return holders[0]!;
    },
    RUN_DEADLINE_MS,
  );
}

/** When the restarted agent logged a line matching `pattern` after `offset` (wall clock), or null. */
function lineTime(log: string, offset: number, pattern: RegExp): number | null {
  for (const line of readFileSync(log, 'utf8').slice(offset).split('\n')) {
    if (!line.startsWith('{')) continue;
    const entry = JSON.parse(line) as { message: string; timestamp: string };
    if (pattern.test(entry.message)) return Date.parse(entry.timestamp);
  }
  return null;
}

/** The restarted agent's "lease … reused|granted" log line after `offset`: which, and when. */
function leaseLine(log: string, offset: number): { reused: boolean; t: number } | null {
  const text = readFileSync(log, 'utf8').slice(offset);
  for (const line of text.split('\n')) {
    const m = /lease \S+ (reused|granted)/.exec(line);
    if (!m) continue;
    try {
      const t = Date.parse((JSON.parse(line) as { timestamp: string }).timestamp);
      return { reused: m[1] === 'reused', t };
    } catch {
      return { reused: m[1] === 'reused', t: NaN };
    }
  }
  return null;
}

async function measureRun(lab: Lab, observation: Observation, client: Client, mode: Mode, run: number) {
  const owner = await settle(lab, observation, client);
  const host = lab.host(owner);
  const offset = statSync(host.log).size;
  const obsT0 = observation.now;
  const t0 = Date.now();
  const result: RunResult = {
    run,
    owner,
    kept: false,
    leaseReused: null,
    ownerAfter: null,
    otherAnswered: false,
    clientGapMs: NaN,
    clientOutageMs: NaN,
    clientMacIsOwner: false,
    clientDuplicates: 0,
    observerGapMs: NaN,
    twoAnswersMs: NaN,
    killToLeaseMs: null,
    startToLeaseMs: null,
    killToRenewalMs: null,
  };
  try {
    await lab.signalAgent(owner, 'SIGKILL');
    if (mode === 'restart-sec') await sleep(Math.max(0, t0 + RESTART_SEC_MS - Date.now()));
    const startedAt = Date.now();
    await lab.startAgent(owner);
    result.ownerAfter = await settle(lab, observation, client);
    const lease = leaseLine(host.log, offset);
    if (lease) {
      result.leaseReused = lease.reused;
      result.killToLeaseMs = Math.round(lease.t - t0);
      result.startToLeaseMs = Math.round(lease.t - startedAt);
    }
    const renewed = lineTime(host.log, offset, /^restart: renewed [1-9]\d* held address.*first answer/);
    if (renewed !== null) result.killToRenewalMs = Math.round(renewed - t0);
  } catch (err) {
    result.error = err instanceof Error ? err.message : String(err);
  }
  const rounds = observation.rounds.filter((r) => r.t >= obsT0);
  const observed = analyseRounds(rounds);
  const clientReport = client.report(t0);
  result.otherAnswered = rounds.some((r) => r.macs.some((m) => m !== host.mac));
  result.observerGapMs = Math.round(observed.longestGapMs * 10) / 10;
  result.twoAnswersMs = Math.round(observed.twoAnswersMs * 10) / 10;
  result.clientGapMs = Math.round(clientReport.longestGap.ms * 10) / 10;
  result.clientOutageMs = Math.round(clientReport.longestOutage.ms * 10) / 10;
  result.clientDuplicates = clientReport.duplicates;
  result.clientMacIsOwner = (await client.neighbour())?.mac === host.mac;
  result.kept =
    !result.error &&
    result.leaseReused === true &&
    result.ownerAfter === owner &&
    !result.otherAnswered &&
    result.clientMacIsOwner;
  return result;
}

interface Stats {
  median: number;
  p95: number;
  max: number;
}
function stats(values: number[]): Stats {
  const finite = values.filter(Number.isFinite);
  if (finite.length === 0) return { median: NaN, p95: NaN, max: NaN };
  return { median: percentile(finite, 50), p95: percentile(finite, 95), max: Math.max(...finite) };
}

const started = new Date();
const loadBefore = loadavg();
const lab = await Lab.up({
  name: `cr-rs-${process.pid}`,
  hosts: HOSTS,
  etcdMembers: 1,
  etcdDataRoot: ETCD_DATA,
  ...(LINKCTL ? { linkctl: LINKCTL } : {}),
  agentEnv: AGENT_ENV,
});
const runs: Record<string, RunResult[]> = {};
let observation: Observation | undefined;
let client: Client | undefined;
try {
  for (const h of lab.hosts) {
    const res = await lab.api(h.name, 'POST', '/ips', { ip: DEFAULT_VIP });
    if (res.status !== 201)
      throw new Error(`POST /ips on ${h.name}: ${res.status} ${JSON.stringify(res.body)}`);
  }
  observation = lab.observe(DEFAULT_VIP, PROBE_MS);
  client = await lab.client(DEFAULT_VIP);
  await client.waitForReply(20_000);
  for (const mode of MODES) {
    runs[mode] = [];
    for (let i = 1; i <= RUNS; i++) {
      const r = await measureRun(lab, observation, client, mode, i);
      runs[mode].push(r);
      process.stderr.write(
        `${mode} #${i} ${r.owner}: ${r.kept ? 'kept' : 'LOST'}, lease ${r.leaseReused === null ? '?' : r.leaseReused ? 'reused' : 'granted'}` +
          `, kill->lease ${r.killToLeaseMs ?? '-'} ms (start->lease ${r.startToLeaseMs ?? '-'}), client gap ${r.clientGapMs} ms` +
          `, observer gap ${r.observerGapMs} ms, two ${r.twoAnswersMs} ms${r.ownerAfter !== r.owner ? `, now on ${r.ownerAfter}` : ''}` +
          `${r.error ? `, ERROR ${r.error}` : ''}\n`,
      );
    }
  }
} finally {
  await client?.stop().catch(() => undefined);
  await observation?.stop();
  await lab.down();
}

const fmt = (n: number) => (Number.isNaN(n) ? '-' : n >= 100 ? n.toFixed(0) : n.toFixed(1));
const summaries = Object.entries(runs).map(([mode, results]) => ({
  mode,
  runs: results.length,
  kept: results.filter((r) => r.kept).length,
  leaseReused: results.filter((r) => r.leaseReused === true).length,
  moved: results.filter((r) => r.ownerAfter !== null && r.ownerAfter !== r.owner).length,
  twoAnswering: results.filter((r) => r.twoAnswersMs > 0 || r.clientDuplicates > 0).length,
  errors: results.filter((r) => r.error).length,
  clientGapMs: stats(results.map((r) => r.clientGapMs)),
  observerGapMs: stats(results.map((r) => r.observerGapMs)),
  killToLeaseMs: stats(results.flatMap((r) => (r.killToLeaseMs === null ? [] : [r.killToLeaseMs]))),
  startToLeaseMs: stats(results.flatMap((r) => (r.startToLeaseMs === null ? [] : [r.startToLeaseMs]))),
  renewedEarly: results.filter((r) => r.killToRenewalMs !== null).length,
  killToRenewalMs: stats(results.flatMap((r) => (r.killToRenewalMs === null ? [] : [r.killToRenewalMs]))),
  clientGapUnder100: results.filter((r) => r.clientGapMs <= 100).length,
  clientOutageUnder100: results.filter((r) => r.clientOutageMs <= 100).length,
  clientOutageMs: stats(results.map((r) => r.clientOutageMs)),
}));
const output = {
  date: started.toISOString(),
  durationS: Math.round((Date.now() - started.getTime()) / 1000),
  machine: {
    cpus: cpus().length,
    model: cpus()[0]?.model,
    loadavgBefore: loadBefore,
    loadavgAfter: loadavg(),
    kernel: readFileSync('/proc/version', 'utf8').trim(),
  },
  params: {
    runs: RUNS,
    hosts: HOSTS,
    variant: VARIANT,
    restartSecMs: RESTART_SEC_MS,
    etcdData: ETCD_DATA,
    agentEnv: AGENT_ENV,
    probeIntervalMs: PROBE_MS,
    clientIntervalMs: 5,
    vip: DEFAULT_VIP,
  },
  modes: MODE_TEXT,
  summaries,
  runs,
};
const file = saveResults('restart', started, output);

const header = [
  'mode',
  'VIP kept',
  'lease reused',
  'moved',
  'two answered',
  'client gap ≤ 100',
  'outage ≤ 100',
  'outage max',
  'client gap med',
  'p95',
  'max',
  'observer gap med',
  'max',
  'kill→lease med',
  'max',
  'start→lease med',
  'max',
  'renewed early',
  'kill→renewal med',
  'max',
];
const rows = summaries.map((s) => [
  s.mode,
  `${s.kept}/${s.runs}`,
  `${s.leaseReused}/${s.runs}`,
  String(s.moved),
  String(s.twoAnswering),
  `${s.clientGapUnder100}/${s.runs}`,
  `${s.clientOutageUnder100}/${s.runs}`,
  fmt(s.clientOutageMs.max),
  fmt(s.clientGapMs.median),
  fmt(s.clientGapMs.p95),
  fmt(s.clientGapMs.max),
  fmt(s.observerGapMs.median),
  fmt(s.observerGapMs.max),
  fmt(s.killToLeaseMs.median),
  fmt(s.killToLeaseMs.max),
  fmt(s.startToLeaseMs.median),
  fmt(s.startToLeaseMs.max),
  `${s.renewedEarly}/${s.runs}`,
  fmt(s.killToRenewalMs.median),
  fmt(s.killToRenewalMs.max),
]);
console.log(
  `\nCrash-restart (kill -9 of the owner, then start), ${RUNS} runs per mode, ${HOSTS} hosts, ${VARIANT}, ` +
    `RestartSec ${RESTART_SEC_MS} ms, etcd data under ${ETCD_DATA}, agentEnv ${JSON.stringify(AGENT_ENV)}; times in ms\n`,
);
console.log(markdown(header, rows));
console.log(
  `\nload average: before ${loadBefore.map((n) => n.toFixed(1)).join(' ')}, after ${loadavg()
    .map((n) => n.toFixed(1))
    .join(' ')}; ${output.durationS} s`,
);
console.log(`JSON: ${file}`);
