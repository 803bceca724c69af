/**
 * Network adapter benchmark: time per bind, unbind, isBound and announce burst (median, p99).
 *
 *   npx tsx bench/net/run.ts [--iterations 2000]
 *
 * Builds its own namespaces (a host on a bridge), re-runs itself inside the host namespace with
 * --inside (the adapter never switches namespaces), prints a table and writes
 * bench/results/net-<time>.json. Nothing is created in the root namespace.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { performance } from 'node:perf_hooks';
import { createNetAdapter } from '../../adapters/net/adapter.ts';
import {
  REPO_ROOT,
  addAddress,
  connectToBridge,
  createBridge,
  createNamespace,
  spawnNodeIn,
  sweepNamespaces,
  uniquePrefix,
} from '../../lab/netns.ts';

interface Row {
  op: string;
  n: number;
  medianUs: number;
  p99Us: number;
  meanUs: number;
}

const { values } = parseArgs({
  options: { inside: { type: 'string' }, iterations: { type: 'string', default: '2000' } },
});
const iterations = Number(values.iterations);

function summarise(op: string, samplesMs: number[]): Row {
  const s = [...samplesMs].sort((a, b) => a - b);
  const at = (q: number): number => s[Math.min(s.length - 1, Math.floor(q * s.length))] ?? NaN;
  const us = (ms: number): number => Math.round(ms * 1000 * 10) / 10;
  return {
    op,
    n: s.length,
    medianUs: us(at(0.5)),
    p99Us: us(at(0.99)),
    meanUs: us(s.reduce((a, b) => a + b, 0) / s.length),
  };
}

async function time(n: number, fn: (i: number) => Promise<unknown>): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    await fn(i);
    out.push(performance.now() - t0);
  }
  return out;
}

/** Runs inside the namespace: measures and prints one JSON line. */
async function inside(interfaceName: string): Promise<void> {
  const rows: Row[] = [];
  const burst = 3;
  for (const family of [4, 6] as const) {
    const adapter = createNetAdapter({ interfaceName });
    // The adapter sends one frame a call; a burst back to back measures the frames' cost alone.
    const announceBurst = async (cidr: string): Promise<void> => {
      for (let k = 0; k < burst; k++) await adapter.announce(cidr);
    };
    const vip = (i: number): string =>
      family === 4
        ? `198.18.${1 + Math.floor(i / 250)}.${1 + (i % 250)}/16`
        : `2001:db8::${(0x1000 + i).toString(16)}/64`;
    // The first announce opens the long-lived raw socket; time it apart from the steady state.
    const [first] = await time(1, () => announceBurst(vip(0)));
    rows.push(summarise(`IPv${family} first announce (opens socket)`, [first ?? NaN]));
    // One VIP at a time, as an agent with a handful of VIPs sees it (kernel address lists are linear).
    const samples = {
      bind: [] as number[],
      isBound: [] as number[],
      announce: [] as number[],
      unbind: [] as number[],
    };
    for (let i = 0; i < iterations; i++) {
      const cidr = vip(i % 250);
      samples.bind.push(...(await time(1, () => adapter.bind(cidr))));
      samples.isBound.push(...(await time(1, () => adapter.isBound(cidr))));
      samples.announce.push(...(await time(1, () => announceBurst(cidr))));
      samples.unbind.push(...(await time(1, () => adapter.unbind(cidr))));
    }
    rows.push(summarise(`IPv${family} bind`, samples.bind));
    rows.push(summarise(`IPv${family} isBound (RTM_GETADDR dump)`, samples.isBound));
    rows.push(summarise(`IPv${family} announce burst x${burst}`, samples.announce));
    rows.push(summarise(`IPv${family} unbind`, samples.unbind));
    await adapter.close();
  }
  process.stdout.write(`${JSON.stringify(rows)}\n`);
}

async function outside(): Promise<void> {
  const prefix = uniquePrefix('lkb');
  const host = `${prefix}h1`;
  const bridgeNs = `${prefix}br`;
  const cleanup = (): Promise<string[]> => sweepNamespaces(prefix);
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => void cleanup().finally(() => process.exit(130)));
  }
  try {
    await createNamespace(bridgeNs);
    await createBridge(bridgeNs);
    await createNamespace(host);
    await connectToBridge({ ns: host, ifName: 'eth0', bridgeNs, bridge: 'br0', peerName: 'p1' });
    await addAddress(host, 'eth0', '198.18.0.1/16');
    const child = spawnNodeIn(host, 'bench/net/run.ts', [
      '--inside',
      'eth0',
      '--iterations',
      String(iterations),
    ]);
    let out = '';
    let err = '';
    child.stdout?.on('data', (c: Buffer) => (out += c.toString()));
    child.stderr?.on('data', (c: Buffer) => (err += c.toString()));
    const code = await new Promise<number | null>((resolve) => child.once('close', resolve));
    if (code !== 0) throw new Error(`benchmark child failed (${code}): ${err}`);
    const rows = JSON.parse(out.trim().split('\n').pop() ?? '[]') as Row[];
    console.table(
      rows.map((r) => ({
        op: r.op,
        n: r.n,
        'median µs': r.medianUs,
        'p99 µs': r.p99Us,
        'mean µs': r.meanUs,
      })),
    );
    const result = {
      benchmark: 'net',
      date: new Date().toISOString(),
      node: process.version,
      iterations,
      note: 'announce bursts use intervalMs 0, so they time the sends, not the configured spacing',
      rows,
    };
    const dir = join(REPO_ROOT, 'bench', 'results');
    mkdirSync(dir, { recursive: true });
    const file = join(dir, `net-${result.date.replace(/[:.]/g, '-')}.json`);
    writeFileSync(file, `${JSON.stringify(result, null, 2)}\n`);
    console.log(`written ${file}`);
  } finally {
    await cleanup();
  }
}

if (values.inside) await inside(values.inside);
else await outside();
