import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { Lab } from '../../lab/lab.ts';
import { REPO_ROOT, addresses, execIn } from '../../lab/netns.ts';
import type { VipView } from '../../actors/types.ts';
import { option, runInOwnNetns } from '../support.ts';

/**
 * Scale benchmark: one agent with 100, 1,000 and 5,000 VIPs (198.19.x.y/32), then 10 agents
 * sharing 1,000 VIPs, in the namespace lab (one etcd member). For each case:
 * - add: time to configure the VIPs through the API (16 requests in flight per agent);
 * - start → settled: the agents are stopped (SIGTERM) and started again; from the start until
 *   every VIP is settled (alone: all ACTIVATED; shared: one ACTIVATED per VIP, the rest STANDBY);
 * - RSS after settling, CPU % over an idle window, and etcd requests per second over that window,
 *   read from etcd's own /metrics (grpc_server_msg_received_total: unary calls and stream messages,
 *   so lease keep-alives count), fetched by curl from the observer namespace.
 *
 *   npx tsx bench/scale/run.ts [--sizes 100,1000,5000] [--idle 60] [--agents 10] [--shared 1000]
 *
 * It re-runs itself under scripts/in-netns.sh when started in the host's network namespace.
 */

runInOwnNetns('bench/scale/run.ts');

const SIZES = (option('sizes') ?? '100,1000,5000')
  .split(',')
  .map(Number)
  .filter((n) => n > 0);
const IDLE_S = Math.max(1, Number(option('idle') ?? 60));
const AGENTS = Math.max(0, Number(option('agents') ?? 10));
const SHARED = Math.max(1, Number(option('shared') ?? 1000));
const SETTLE_DEADLINE_MS = 300_000;
const CLOCK_TICKS = 100;

/** The i-th VIP of the benchmark: 198.19.0.1/32 upwards, 250 per /24. */
function vipAddress(i: number): string {
  return `198.19.${Math.floor(i / 250)}.${(i % 250) + 1}/32`;
}

interface Row {
  case: string;
  agents: number;
  vips: number;
  addS: number;
  stopMs: number;
  serveMs: number;
  settledMs: number;
  activated: number;
  kernelBound: number;
  rssMb: number;
  rssMaxMb: number;
  cpuPct: number;
  etcdReqPerS: number;
  etcdReqPerSPerAgent: number;
  etcdByMethod: Record<string, number>;
}

function cpuTicks(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // utime and stime are fields 14 and 15 of stat; after the command they are at 11 and 12.
  return Number(fields[11]) + Number(fields[12]);
}

function rssMb(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0);
  return Math.round(kb / 102.4) / 10;
}

async function etcdMessages(lab: Lab): Promise<Map<string, number>> {
  const member = lab.etcd[0]!;
  const { stdout } = await execIn(lab.observer.ns, 'curl', ['-s', `http://${member.ip}:2379/metrics`]);
  const byMethod = new Map<string, number>();
  for (const line of stdout.split('\n')) {
    const m = /^grpc_server_msg_received_total\{([^}]*)\} (\S+)$/.exec(line);
    if (!m) continue;
    const method = /grpc_method="([^"]+)"/.exec(m[1]!)?.[1] ?? '?';
    byMethod.set(method, (byMethod.get(method) ?? 0) + Number(m[2]));
  }
  return byMethod;
}

async function addVips(lab: Lab, host: string, count: number): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < count) {
      const ip = vipAddress(next++);
      const res = await lab.api<VipView>(host, 'POST', '/ips', { ip });
      if (res.status !== 201)
        throw new Error(`POST ${ip} on ${host}: ${res.status} ${JSON.stringify(res.body)}`);
    }
  };
  await Promise.all(Array.from({ length: 16 }, worker));
}

async function statusCounts(lab: Lab, host: string): Promise<Record<string, number>> {
  const res = await lab.api<{ ips: VipView[] }>(host, 'GET', '/ips');
  const counts: Record<string, number> = {};
  for (const vip of res.body.ips ?? []) counts[vip.status] = (counts[vip.status] ?? 0) + 1;
  return counts;
}

/** Polls until every VIP is settled: `vips` ACTIVATED in total, nothing BOOTING or FAILING. */
async function waitSettled(lab: Lab, hosts: string[], vips: number): Promise<number> {
  const deadline = Date.now() + SETTLE_DEADLINE_MS;
  for (;;) {
    const counts = await Promise.all(
      hosts.map((h) => statusCounts(lab, h).catch((): Record<string, number> => ({}))),
    );
    const sum = (state: string) => counts.reduce((n, c) => n + (c[state] ?? 0), 0);
    const activated = sum('ACTIVATED');
    // Settled through the election, not through a fault (alone, a faulted agent is ACTIVATED too).
    const sessions = await Promise.all(
      hosts.map((h) =>
        lab.api<{ etcd?: string }>(h, 'GET', '/healthz').then(
          (res) => res.body.etcd,
          () => undefined,
        ),
      ),
    );
    if (
      sessions.every((state) => state === 'alive') &&
      activated === vips &&
      sum('BOOTING') === 0 &&
      sum('FAILING') === 0 &&
      sum('STANDBY') === vips * (hosts.length - 1)
    ) {
      return activated;
    }
    if (Date.now() > deadline) {
      process.stderr.write(`not settled: ${JSON.stringify(counts)}\n`);
      return activated;
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** Waits until etcd holds no lease (the stopped agents' leases revoked or expired). */
async function waitNoLease(lab: Lab): Promise<void> {
  const deadline = Date.now() + 30_000;
  while (!/found 0 leases/.test(await lab.etcdctl(['lease', 'list']))) {
    if (Date.now() > deadline) throw new Error('leases still alive 30 s after the stop');
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

async function kernelBound(lab: Lab, hosts: string[]): Promise<number> {
  let n = 0;
  for (const h of hosts) {
    n += (await addresses(lab.host(h).ns, 'eth0')).filter((a) => a.local.startsWith('198.19.')).length;
  }
  return n;
}

async function runCase(label: string, agents: number, vips: number, index: number): Promise<Row> {
  process.stderr.write(`== ${label}: ${agents} agent(s), ${vips} VIPs\n`);
  const lab = await Lab.up({ name: `sc-${process.pid}-${index}`, hosts: agents, etcdMembers: 1 });
  try {
    const hosts = lab.hosts.map((h) => h.name);
    const addStart = performance.now();
    await Promise.all(hosts.map((h) => addVips(lab, h, vips)));
    const addS = (performance.now() - addStart) / 1000;
    process.stderr.write(`   added in ${addS.toFixed(1)} s\n`);
    await waitSettled(lab, hosts, vips);

    // Restart: the figure is from the start of the agents until every VIP is settled.
    const stopStart = performance.now();
    // A graceful stop that outlasts the lab's 15 s bound is recorded as -1, then killed; the
    // start waits until etcd has expired every lease, so it begins from the same state.
    const stopped = await Promise.all(
      hosts.map((h) =>
        lab.signalAgent(h, 'SIGTERM').then(
          () => true,
          () => false,
        ),
      ),
    );
    const stopMs = stopped.every(Boolean) ? performance.now() - stopStart : -1;
    if (stopMs < 0) {
      process.stderr.write('   graceful stop exceeded 15 s: killing the agents\n');
      for (const h of hosts) await lab.signalAgent(h, 'SIGKILL');
    }
    await waitNoLease(lab);
    const start = performance.now();
    let serveMs = 0;
    await Promise.all(
      hosts.map(async (h) => {
        await lab.startAgent(h);
        serveMs = Math.max(serveMs, performance.now() - start);
      }),
    );
    const activated = await waitSettled(lab, hosts, vips);
    const settledMs = performance.now() - start;
    const bound = await kernelBound(lab, hosts);
    process.stderr.write(
      `   restart: serving after ${serveMs.toFixed(0)} ms, settled after ${settledMs.toFixed(0)} ms, ${bound} bound\n`,
    );

    // Idle window.
    const pids = hosts.map((h) => lab.host(h).pid!);
    const ticks0 = pids.map(cpuTicks);
    const etcd0 = await etcdMessages(lab);
    const t0 = performance.now();
    let rssMax = 0;
    const idleEnd = t0 + IDLE_S * 1000;
    while (performance.now() < idleEnd) {
      rssMax = Math.max(rssMax, ...pids.map(rssMb));
      await new Promise((resolve) => setTimeout(resolve, Math.min(1000, idleEnd - performance.now())));
    }
    const elapsedS = (performance.now() - t0) / 1000;
    const etcd1 = await etcdMessages(lab);
    const ticks1 = pids.map(cpuTicks);
    const rss = pids.map(rssMb);
    const cpuPct =
      (pids.reduce((sum, _, i) => sum + (ticks1[i]! - ticks0[i]!), 0) /
        CLOCK_TICKS /
        elapsedS /
        pids.length) *
      100;
    const byMethod: Record<string, number> = {};
    let total = 0;
    for (const [method, n] of etcd1) {
      const rate = (n - (etcd0.get(method) ?? 0)) / elapsedS;
      if (rate > 0) byMethod[method] = Math.round(rate * 100) / 100;
      total += rate;
    }
    const row: Row = {
      case: label,
      agents,
      vips,
      addS: Math.round(addS * 10) / 10,
      stopMs: Math.round(stopMs),
      serveMs: Math.round(serveMs),
      settledMs: Math.round(settledMs),
      activated,
      kernelBound: bound,
      rssMb: Math.round((rss.reduce((a, b) => a + b, 0) / rss.length) * 10) / 10,
      rssMaxMb: Math.max(rssMax, ...rss),
      cpuPct: Math.round(cpuPct * 100) / 100,
      etcdReqPerS: Math.round(total * 100) / 100,
      etcdReqPerSPerAgent: Math.round((total / agents) * 100) / 100,
      etcdByMethod: byMethod,
    };
    process.stderr.write(`   ${JSON.stringify(row)}\n`);
    return row;
  } finally {
    await lab.down();
  }
}

const started = new Date();
const loadBefore = loadavg();
const rows: Row[] = [];
for (const [i, size] of SIZES.entries()) rows.push(await runCase(`1 agent`, 1, size, i));
if (AGENTS > 0) rows.push(await runCase(`${AGENTS} agents`, AGENTS, SHARED, SIZES.length));

const header = [
  'case',
  'VIPs',
  'add (s)',
  'start→serving (ms)',
  'start→settled (ms)',
  'bound',
  'RSS MB (mean/max)',
  'idle CPU % per agent',
  'etcd req/s',
  'per agent',
];
const lines = [
  header,
  header.map(() => '---'),
  ...rows.map((r) => [
    r.case,
    String(r.vips),
    r.addS.toFixed(1),
    String(r.serveMs),
    String(r.settledMs),
    String(r.kernelBound),
    `${r.rssMb.toFixed(0)} / ${r.rssMaxMb.toFixed(0)}`,
    r.cpuPct.toFixed(2),
    r.etcdReqPerS.toFixed(2),
    r.etcdReqPerSPerAgent.toFixed(2),
  ]),
].map((r) => `| ${r.join(' | ')} |`);
console.log(`\nScale, idle window ${IDLE_S} s\n`);
console.log(lines.join('\n'));

const dir = join(REPO_ROOT, 'bench/results');
mkdirSync(dir, { recursive: true });
const file = join(dir, `scale-${started.toISOString().replace(/[:.]/g, '-')}.json`);
writeFileSync(
  file,
  JSON.stringify(
    {
      date: started.toISOString(),
      durationS: Math.round((Date.now() - started.getTime()) / 1000),
      machine: { cpus: cpus().length, loadavgBefore: loadBefore, loadavgAfter: loadavg() },
      params: { sizes: SIZES, idleS: IDLE_S, agents: AGENTS, shared: SHARED },
      rows,
    },
    null,
    2,
  ),
);
console.log(
  `\nload average before ${loadBefore.map((n) => n.toFixed(1)).join(' ')}, after ${loadavg()
    .map((n) => n.toFixed(1))
    .join(' ')}`,
);
console.log(`JSON: ${file}`);
