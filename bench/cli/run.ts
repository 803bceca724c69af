import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { createVethPair, deleteLink, LINKCTL, startDaemon } from '../../lab/daemon.ts';
import { REPO_ROOT } from '../../lab/netns.ts';
import { freePort, startEtcd } from '../../lab/etcd.ts';

/**
 * Start-up time of `linkctl ips list` against a running agent (real etcd, one VIP): the wall
 * time of the whole process, from spawn to exit, for each way of running the CLI that exists
 * here: bin/linkctl as it is, cli/main.ts through tsx (development), the release build
 * (dist/linkctl.mjs, `npm run build`) run by node directly, and `node -e 0` as the floor.
 * Prints a table and writes bench/results/cli-<date>.json.
 *
 *   scripts/in-netns.sh node --import tsx bench/cli/run.ts [--runs 20]
 */

const runsArg = process.argv.indexOf('--runs');
const RUNS = runsArg >= 0 ? Math.max(1, Number(process.argv[runsArg + 1]) || 20) : 20;
const BUILD = join(REPO_ROOT, 'dist', 'linkctl.mjs');
const TSX = join(REPO_ROOT, 'node_modules', 'tsx', 'dist', 'esm', 'index.mjs');

function percentile(sorted: readonly number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? NaN;
}

const etcd = await startEtcd();
const ifA = `bcl${process.pid % 10000}`;
createVethPair(ifA, `${ifA}p`);
const daemon = await startDaemon({
  hostname: 'bench-cli',
  interfaceName: ifA,
  etcdHosts: etcd.hosts,
  port: await freePort(),
});
try {
  const add = spawnSync(LINKCTL, ['ips', 'add', '198.18.0.160/32', '--host', daemon.url], {
    encoding: 'utf8',
  });
  if (add.status !== 0) throw new Error(`ips add: ${add.stderr}`);
  const list = ['ips', 'list', '--host', daemon.url];
  const ways: [string, string, string[]][] = [
    ['node -e 0 (floor)', process.execPath, ['-e', '0']],
    ['bin/linkctl ips list', LINKCTL, list],
    [
      'tsx cli/main.ts ips list',
      process.execPath,
      ['--import', TSX, join(REPO_ROOT, 'cli', 'main.ts'), ...list],
    ],
  ];
  if (existsSync(BUILD)) ways.push(['node dist/linkctl.mjs ips list', process.execPath, [BUILD, ...list]]);
  const rows: { way: string; runs: number; min: number; p50: number; p90: number; max: number }[] = [];
  for (const [way, file, args] of ways) {
    spawnSync(file, args); // warm the page cache
    const times: number[] = [];
    for (let i = 0; i < RUNS; i++) {
      const started = performance.now();
      const run = spawnSync(file, args, { encoding: 'utf8' });
      times.push(performance.now() - started);
      if (run.status !== 0) throw new Error(`${way}: exit ${run.status}: ${run.stderr}`);
    }
    times.sort((a, b) => a - b);
    const round = (ms: number) => Math.round(ms);
    rows.push({
      way,
      runs: RUNS,
      min: round(times[0] ?? NaN),
      p50: round(percentile(times, 50)),
      p90: round(percentile(times, 90)),
      max: round(times[times.length - 1] ?? NaN),
    });
  }
  console.log(`${cpus().length} CPUs, load ${loadavg()[0]?.toFixed(2)}, ${RUNS} runs each (ms)`);
  console.log('| command | min | p50 | p90 | max |\n| --- | --- | --- | --- | --- |');
  for (const r of rows) console.log(`| ${r.way} | ${r.min} | ${r.p50} | ${r.p90} | ${r.max} |`);
  const dir = join(REPO_ROOT, 'bench', 'results');
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `cli-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
  writeFileSync(file, JSON.stringify({ cpus: cpus().length, load: loadavg(), rows }, null, 2));
  console.log(`written ${file}`);
} finally {
  await daemon.stop();
  deleteLink(ifA);
  await etcd.close();
}
