/**
 * Supervisor benchmark: CPU time of the pure agent machine (machines/agent.ts) to take VIPs,
 * as the number it already holds grows. Shows what an add costs at n VIPs, one per event (a
 * client adding one at a time) and gathered by turn (concurrent adds, actors/batcher.ts).
 *
 *   npx tsx bench/supervisor/run.ts [--max 8000] [--step 2000] [--batch 16]
 *
 * No IO: the IP actors' inputs are streams that never emit. Prints a table and writes
 * bench/results/supervisor-<time>.json.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { performance } from 'node:perf_hooks';
import { NEVER, type Observable } from 'rxjs';
import { createActor, fromEventObservable } from 'xstate';
import { supervisorWith, type AgentVip } from '../../machines/agent.ts';
import { ipMachine, type IpEvent } from '../../machines/ip.ts';
import { REPO_ROOT } from '../../lab/netns.ts';

const { values } = parseArgs({
  options: {
    max: { type: 'string', default: '8000' },
    step: { type: 'string', default: '2000' },
    batch: { type: 'string', default: '16' },
  },
});
const max = Number(values.max);
const step = Number(values.step);
const batchSize = Number(values.batch);

interface Row {
  mode: string;
  vips: number;
  /** Mean CPU per VIP over the last `step` VIPs added. */
  usPerVip: number;
  /** Total from 0 to `vips`. */
  totalMs: number;
}

function vip(i: number): AgentVip {
  return { vipId: `vip-${i.toString(16).padStart(8, '0')}`, ip: `198.18.${i >> 8}.${i & 255}/32` };
}

function run(mode: string, perEvent: number): Row[] {
  const ip = ipMachine.provide({ actors: { inputs: fromEventObservable((): Observable<IpEvent> => NEVER) } });
  const actor = createActor(supervisorWith(ip), {
    input: { faultPolicy: 'at-least-one' },
  }).start();
  const rows: Row[] = [];
  let total = 0;
  for (let from = 0; from < max; from += step) {
    const started = performance.now();
    for (let i = from; i < from + step; i += perEvent) {
      const vips = Array.from({ length: Math.min(perEvent, from + step - i) }, (_, k) => vip(i + k));
      actor.send({ type: 'vip.add', vips });
    }
    const spent = performance.now() - started;
    total += spent;
    rows.push({ mode, vips: from + step, usPerVip: (spent * 1000) / step, totalMs: total });
  }
  return rows;
}

const rows = [...run('one per event', 1), ...run(`${batchSize} per event`, batchSize)];
console.table(
  rows.map((r) => ({
    mode: r.mode,
    'VIPs held': r.vips,
    'µs per add (last step)': r.usPerVip.toFixed(0),
    'total ms': r.totalMs.toFixed(0),
  })),
);
const dir = join(REPO_ROOT, 'bench', 'results');
mkdirSync(dir, { recursive: true });
const file = join(dir, `supervisor-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
writeFileSync(file, `${JSON.stringify({ max, step, batchSize, rows }, null, 2)}\n`);
console.log(`written ${file}`);
