import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { Lab } from '../../lab/lab.ts';
import { REPO_ROOT } from '../../lab/netns.ts';

/**
 * The agent's memory at rest: VmRSS of one lab agent (one host, one etcd) with 0 VIPs, then 100
 * (all ACTIVATED), for each way of running it: the release build (dist/linkctl.mjs, what the
 * package runs) and cli/main.ts through tsx (development, and installs before the build).
 * "At rest" is the median of the last 10 of 20 one-second samples taken once the agent serves
 * (or every VIP is ACTIVATED). Prints a table and writes bench/results/rss-<date>.json.
 *
 *   scripts/in-netns.sh node --import tsx bench/rss/run.ts
 */

const TSX = join(REPO_ROOT, 'node_modules', 'tsx', 'dist', 'esm', 'index.mjs');
const VARIANTS: Record<string, string[] | undefined> = {
  'release build': undefined,
  tsx: [process.execPath, '--import', TSX, join(REPO_ROOT, 'cli', 'main.ts')],
};
const VIPS = 100;

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

function vmRssMb(pid: number): number {
  const kb = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
  return Number(kb) / 1024;
}

async function atRest(pid: number): Promise<number> {
  const samples: number[] = [];
  for (let i = 0; i < 20; i++) {
    // Sampling once a second is the measurement itself, not a wait for a condition.
    await sleep(1000);
    samples.push(vmRssMb(pid));
  }
  const last = samples.slice(10).sort((a, b) => a - b);
  return last[Math.floor(last.length / 2)]!;
}

const rows: { variant: string; idleMb: number; vipsMb: number; vips: number }[] = [];
for (const [variant, linkctl] of Object.entries(VARIANTS)) {
  const lab = await Lab.up({ name: `rss-${process.pid}`, hosts: 1, ...(linkctl ? { linkctl } : {}) });
  try {
    const pid = lab.hosts[0]!.pid!;
    const idleMb = await atRest(pid);
    for (let i = 0; i < VIPS; i++) {
      const res = await lab.api('h1', 'POST', '/ips', { ip: `198.18.0.${100 + i}/32` });
      if (res.status !== 201) throw new Error(`POST /ips: ${res.status} ${JSON.stringify(res.body)}`);
    }
    const deadline = Date.now() + 60_000;
    for (;;) {
      const { body } = await lab.api<{ ips: { status: string }[] }>('h1', 'GET', '/ips');
      if (body.ips.length === VIPS && body.ips.every((v) => v.status === 'ACTIVATED')) break;
      if (Date.now() > deadline)
        throw new Error(`${variant}: the ${VIPS} VIPs were not ACTIVATED within 60 s`);
      await sleep(200);
    }
    rows.push({ variant, idleMb, vipsMb: await atRest(pid), vips: VIPS });
  } finally {
    await lab.down();
  }
}

console.log(`load average ${loadavg()[0]!.toFixed(1)}`);
console.log('| agent run as | VmRSS, 0 VIPs (MB) | VmRSS, 100 VIPs (MB) |');
console.log('| --- | --- | --- |');
for (const r of rows) console.log(`| ${r.variant} | ${r.idleMb.toFixed(1)} | ${r.vipsMb.toFixed(1)} |`);
const dir = join(REPO_ROOT, 'bench', 'results');
mkdirSync(dir, { recursive: true });
writeFileSync(
  join(dir, `rss-${new Date().toISOString().replace(/[:.]/g, '-')}.json`),
  JSON.stringify({ loadavg: loadavg(), rows }, null, 2),
);
