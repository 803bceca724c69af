import { mkdirSync, writeFileSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { cpus, totalmem } from 'node:os';
import { fileURLToPath } from 'node:url';
import { freePort, startEtcd } from '../../lab/etcd.ts';
import { createVethPair, deleteLink, startDaemon } from '../../lab/daemon.ts';

/**
 * `GET /ips` with 1,000 VIPs configured on a real agent (real etcd, real interface): requests per
 * second and latency percentiles, over TCP on loopback with keep-alive, for a few concurrency
 * levels. A small node:http loop (no autocannon dependency). Prints a table and writes
 * bench/results/api-<date>.json.
 *
 *   scripts/in-netns.sh node --import tsx bench/api/run.ts [--vips 1000] [--seconds 5]
 */

function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  const value = i >= 0 ? Number(process.argv[i + 1]) : fallback;
  return Number.isFinite(value) && value > 0 ? value : fallback;
}

const VIPS = arg('vips', 1000);
const SECONDS = arg('seconds', 5);
const CONCURRENCY = [1, 8, 32];
const AUTH = `Basic ${Buffer.from('bench:bench').toString('base64')}`;

function get(port: number, path: string, agent: Agent): Promise<{ status: number; bytes: number }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, agent, headers: { Authorization: AUTH } }, (res) => {
      let bytes = 0;
      res.on('data', (c: Buffer) => (bytes += c.length));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, bytes }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

function post(port: number, body: string, agent: Agent): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        port,
        path: '/ips',
        method: 'POST',
        agent,
        headers: {
          Authorization: AUTH,
          'Content-Type': 'application/json',
          'Content-Length': Buffer.byteLength(body),
        },
      },
      (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? 0;
}

interface Row {
  concurrency: number;
  requests: number;
  errors: number;
  rps: number;
  p50Ms: number;
  p90Ms: number;
  p99Ms: number;
  maxMs: number;
  bodyBytes: number;
}

async function measure(port: number, concurrency: number, seconds: number): Promise<Row> {
  const agent = new Agent({ keepAlive: true, maxSockets: concurrency });
  const latencies: number[] = [];
  let errors = 0;
  let bodyBytes = 0;
  // Warm-up: a second, not counted.
  const warmEnd = performance.now() + 1000;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (performance.now() < warmEnd) await get(port, '/ips', agent);
    }),
  );
  const start = performance.now();
  const end = start + seconds * 1000;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (performance.now() < end) {
        const t0 = performance.now();
        try {
          const { status, bytes } = await get(port, '/ips', agent);
          if (status !== 200) errors++;
          bodyBytes = bytes;
        } catch {
          errors++;
        }
        latencies.push(performance.now() - t0);
      }
    }),
  );
  const elapsed = (performance.now() - start) / 1000;
  agent.destroy();
  latencies.sort((x, y) => x - y);
  const round = (n: number) => Math.round(n * 100) / 100;
  return {
    concurrency,
    requests: latencies.length,
    errors,
    rps: Math.round(latencies.length / elapsed),
    p50Ms: round(percentile(latencies, 50)),
    p90Ms: round(percentile(latencies, 90)),
    p99Ms: round(percentile(latencies, 99)),
    maxMs: round(latencies[latencies.length - 1] ?? 0),
    bodyBytes,
  };
}

const etcd = await startEtcd();
const ifA = `lba${process.pid % 10000}`;
createVethPair(ifA, `lbb${process.pid % 10000}`);
const port = await freePort();
const daemon = await startDaemon({
  hostname: 'bench-a',
  interfaceName: ifA,
  etcdHosts: etcd.hosts,
  port,
  user: 'bench',
  password: 'bench',
});
try {
  const setup = new Agent({ keepAlive: true, maxSockets: 16 });
  const t0 = performance.now();
  const addresses = Array.from(
    { length: VIPS },
    (_, i) => `198.18.${4 + Math.floor(i / 250)}.${(i % 250) + 1}/32`,
  );
  for (let i = 0; i < addresses.length; i += 16) {
    const statuses = await Promise.all(
      addresses.slice(i, i + 16).map((ip) => post(port, JSON.stringify({ ip }), setup)),
    );
    if (statuses.some((s) => s !== 201)) throw new Error(`adding VIPs failed: ${statuses.join(',')}`);
  }
  const setupSeconds = (performance.now() - t0) / 1000;
  setup.destroy();
  const listed = await get(port, '/ips', new Agent());
  process.stderr.write(
    `${VIPS} VIPs added in ${setupSeconds.toFixed(1)} s; GET /ips body ${listed.bytes} bytes\n`,
  );

  const rows: Row[] = [];
  for (const concurrency of CONCURRENCY) rows.push(await measure(port, concurrency, SECONDS));

  const header = ['concurrency', 'requests', 'errors', 'req/s', 'p50 ms', 'p90 ms', 'p99 ms', 'max ms'];
  const lines = rows.map((r) =>
    [r.concurrency, r.requests, r.errors, r.rps, r.p50Ms, r.p90Ms, r.p99Ms, r.maxMs].map(String),
  );
  const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => (l[i] ?? '').length)));
  const fmt = (cells: string[]) => cells.map((c, i) => c.padStart(widths[i] ?? 0)).join('  ');
  process.stdout.write(
    `GET /ips with ${VIPS} VIPs (${listed.bytes} bytes), ${SECONDS} s per row, keep-alive, loopback TCP\n`,
  );
  process.stdout.write([fmt(header), ...lines.map(fmt)].join('\n') + '\n');

  const result = {
    benchmark: 'api GET /ips',
    date: new Date().toISOString(),
    vips: VIPS,
    secondsPerRow: SECONDS,
    bodyBytes: listed.bytes,
    setupSeconds: Math.round(setupSeconds * 10) / 10,
    machine: {
      cpus: cpus().length,
      cpuModel: cpus()[0]?.model ?? 'unknown',
      memGiB: Math.round(totalmem() / 2 ** 30),
      node: process.version,
    },
    rows,
  };
  const dir = fileURLToPath(new URL('../results/', import.meta.url));
  mkdirSync(dir, { recursive: true });
  const file = `${dir}api-${result.date.slice(0, 10)}.json`;
  writeFileSync(file, JSON.stringify(result, null, 2) + '\n');
  process.stdout.write(`written ${file}\n`);
} finally {
  await daemon.stop();
  deleteLink(ifA);
  await etcd.close();
}
