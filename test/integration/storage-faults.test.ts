import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Lab, ownMountNamespace } from '../../lab/lab.ts';
import { bootingBoundMs } from '../../actors/health.ts';
import type { JournalEntry, VipView } from '../../actors/types.ts';
import { until } from '../support/until.ts';

/**
 * Issue 18, parts 2 and 4: storage faults degrade, never kill, and /healthz says so. One real
 * agent in the namespace lab against its real etcd, its STATE_DIR made unusable inside a private
 * mount namespace of its own (lab/lab.ts ownMountNamespace): bound read-only, a 64 KiB tmpfs full
 * at start, a 64 KiB tmpfs that fills while it runs. Every time: every VIP etcd holds is bound and
 * served, a new VIP is bound within 5 s, /healthz is 503 naming the path, the process lives on.
 * Then malformed state (a journal line with seq 1e308, garbage, a directory named `*.jsonl`,
 * `vips.json` = `{}` with etcd down): the agent starts, skips each and warns naming the file.
 */

const VIPS = ['198.18.0.100/32', '198.18.0.101/32', '2001:db8::100/128'];
/** The brief's bound for a VIP added while STATE_DIR is unusable. */
const NEW_VIP_BOUND_MS = 5000;
/** A 64 KiB tmpfs; `cat /dev/zero` fills it (ENOSPC ends the copy, the `||` keeps sh going). */
const TMPFS = 'mount -t tmpfs -o size=64k link-state "$STATE_DIR"';
const FILL = 'cat /dev/zero > "$STATE_DIR/fill" 2>/dev/null || true';

interface Health {
  status: string;
  codes?: string[];
  reasons?: string[];
}

describe('storage faults degrade, never kill', { timeout: 180_000 }, () => {
  let lab: Lab;
  let stateDir: string;
  let next = 110;

  before(async () => {
    lab = await Lab.up({ name: `sf-${process.pid}`, hosts: 1, agentEnv: { LEASE_TTL: '2' } });
    stateDir = lab.host('h1').stateDir;
    for (const ip of VIPS) {
      const res = await lab.api<VipView>('h1', 'POST', '/ips', { ip });
      assert.equal(res.status, 201, JSON.stringify(res.body));
    }
    await allBound();
  });

  after(async () => {
    await lab?.down();
  });

  async function allBound(extra: string[] = []): Promise<void> {
    for (const ip of [...VIPS, ...extra]) {
      await until(`h1 to bind ${ip}`, async () => (await lab.holders(ip)).includes('h1'), 10_000);
    }
  }

  async function health(): Promise<{ status: number; body: Health }> {
    return lab.api<Health>('h1', 'GET', '/healthz');
  }

  /** Restarts h1's agent (graceful stop) with `wrapper`. */
  async function restart(wrapper: string[] = []): Promise<void> {
    await lab.signalAgent('h1', 'SIGTERM');
    await lab.startAgent('h1', {}, wrapper);
  }

  /** A new VIP is bound within NEW_VIP_BOUND_MS of its POST; returns its address. */
  async function newVipBound(): Promise<string> {
    const ip = `198.18.0.${next++}/32`;
    const res = await lab.api<VipView>('h1', 'POST', '/ips', { ip });
    assert.equal(res.status, 201, JSON.stringify(res.body));
    const started = Date.now();
    await until(
      `h1 to bind the new ${ip}`,
      async () => (await lab.holders(ip)).includes('h1'),
      NEW_VIP_BOUND_MS,
    );
    console.log(`new VIP bound ${Date.now() - started} ms after its POST answered`);
    await until(
      `h1 to announce ${ip}`,
      async () => {
        const events = await lab.api<{ events: JournalEntry[] }>('h1', 'GET', `/ips/${res.body.id}/events`);
        return events.body.events.some((e) => e.kind === 'note' && e.code === 'ANNOUNCE_SENT');
      },
      NEW_VIP_BOUND_MS,
    );
    return ip;
  }

  async function unhealthyNaming(path: string): Promise<Health> {
    const answer = await until(
      '/healthz to be 503 naming the state directory',
      async () => {
        const res = await health();
        return res.status === 503 && JSON.stringify(res.body).includes(path) ? res : null;
      },
      10_000,
    );
    assert.ok(answer.body.codes?.includes('STORAGE_WRITE_FAILED'), JSON.stringify(answer.body));
    return answer.body;
  }

  /** Every VIP the agent lists is ACTIVATED and bound. */
  async function servingAll(): Promise<VipView[]> {
    const listed = (await lab.api<{ ips: VipView[] }>('h1', 'GET', '/ips')).body.ips;
    for (const vip of listed) {
      await until(`h1 to serve ${vip.ip}`, async () => (await lab.holders(vip.ip)).includes('h1'), 10_000);
    }
    return listed;
  }

  it('STATE_DIR read-only from the start: every VIP served, a new one bound, /healthz 503 naming the path', async () => {
    await restart(
      ownMountNamespace('mount --bind "$STATE_DIR" "$STATE_DIR"; mount -o remount,bind,ro "$STATE_DIR"'),
    );
    await allBound();
    const body = await unhealthyNaming(stateDir);
    console.log(`read-only: /healthz ${JSON.stringify(body.reasons)}`);
    const ip = await newVipBound();
    assert.ok(lab.agentRunning('h1'), 'the agent lives on');
    assert.deepEqual((await servingAll()).length, VIPS.length + next - 110);
    assert.ok(ip);
  });

  it('a 64 KiB tmpfs full at start, no vips.json: the VIPs etcd holds are served, not none', async () => {
    await restart(ownMountNamespace(`${TMPFS}; ${FILL}`));
    const listed = await servingAll();
    assert.equal(listed.length, VIPS.length + next - 110, 'every VIP etcd holds');
    await unhealthyNaming(stateDir);
    await newVipBound();
    assert.ok(lab.agentRunning('h1'), 'the agent lives on');
  });

  it('the disk fills while the agent runs, then it wins a VIP: bound, no crash; space back: /healthz 200', async () => {
    await restart(ownMountNamespace(TMPFS));
    await servingAll();
    await until(
      '/healthz 200 with a writable STATE_DIR',
      async () => (await health()).status === 200,
      10_000,
    );
    await lab.inAgentMounts('h1', ['sh', '-c', `STATE_DIR='${stateDir}'; ${FILL}`]);
    await newVipBound();
    await unhealthyNaming(stateDir);
    assert.ok(lab.agentRunning('h1'), 'the agent lives on');
    const metrics = (await lab.api<string>('h1', 'GET', '/metrics')).body;
    assert.match(String(metrics), /link_storage_write_failures_total\{store="journal"\} [1-9]/);
    assert.match(String(metrics), /link_storage_writable\{store="journal"\} 0/);

    await lab.inAgentMounts('h1', ['rm', '-f', join(stateDir, 'fill')]);
    const freed = Date.now();
    await until('/healthz 200 once writes work again', async () => (await health()).status === 200, 15_000);
    console.log(`/healthz 200 again ${Date.now() - freed} ms after space came back`);
    await servingAll();
  });

  it('a journal line with seq 1e308, garbage, a lower seq and a directory named *.jsonl: starts, skips, warns with the path', async () => {
    await restart();
    const [first] = await servingAll();
    assert.ok(first);
    await lab.signalAgent('h1', 'SIGTERM');
    const journalDir = join(stateDir, 'journal');
    const file = join(journalDir, `${first.id}.jsonl`);
    const lines = readFileSync(file, 'utf8').split('\n').filter(Boolean);
    const good = JSON.parse(lines[0]!) as JournalEntry;
    const lineCount = lines.length;
    writeFileSync(
      file,
      [
        ...lines,
        JSON.stringify({ ...good, seq: 1e308 }).replace('1e+308', '1e308'),
        'not json at all {',
        JSON.stringify({ ...good, seq: 1 }),
        '',
      ].join('\n'),
    );
    mkdirSync(join(journalDir, 'vip-dir.jsonl'), { recursive: true });
    const logFrom = readFileSync(lab.host('h1').log, 'utf8').length;
    await lab.startAgent('h1');
    await servingAll();

    const log = readFileSync(lab.host('h1').log, 'utf8').slice(logFrom);
    const warnings = log
      .split('\n')
      .filter((line) => line.includes('"journal line skipped"') || line.includes('"journal file skipped"'))
      .map((line) => JSON.parse(line) as { message: string; file: string; line?: number; problem: string });
    const about = (line: number) => warnings.find((w) => w.file === file && w.line === line);
    assert.ok(about(lineCount + 1), `seq 1e308 (line ${lineCount + 1}) warned naming ${file}: ${log}`);
    assert.ok(about(lineCount + 2), `garbage (line ${lineCount + 2}) warned`);
    assert.ok(about(lineCount + 3), `a seq that does not increase (line ${lineCount + 3}) warned`);
    assert.ok(
      warnings.some(
        (w) => w.file === join(journalDir, 'vip-dir.jsonl') && w.message === 'journal file skipped',
      ),
      `the directory warned with its path: ${JSON.stringify(warnings)}`,
    );

    const events = (await lab.api<{ events: JournalEntry[] }>('h1', 'GET', `/ips/${first.id}/events`)).body
      .events;
    const seqs = events.map((e) => e.seq);
    assert.ok(
      seqs.every((seq) => Number.isSafeInteger(seq) && seq < 1e6),
      `sane seqs: ${seqs.join(',')}`,
    );
    assert.ok(
      seqs.every((seq, i) => i === 0 || seq > seqs[i - 1]!),
      `increasing seqs: ${seqs.join(',')}`,
    );
    const restarted = events.filter((e) => e.kind === 'start').at(-1);
    assert.ok(restarted && restarted.seq > good.seq, 'this run journals on from the highest valid seq');
    rmSync(join(journalDir, 'vip-dir.jsonl'), { recursive: true, force: true });
  });

  it('etcd down at start: the cached VIPs leave BOOTING within the BOOTING bound; /healthz 200, degraded (at-least-one)', async () => {
    await lab.signalAgent('h1', 'SIGTERM');
    await lab.stopEtcd();
    const started = Date.now();
    await lab.startAgent('h1');
    const bound = bootingBoundMs(2000);
    const left = await until(
      'every VIP out of BOOTING',
      async () => {
        const ips = (await lab.api<{ ips: VipView[] }>('h1', 'GET', '/ips')).body.ips;
        return ips.length > 0 && ips.every((vip) => vip.status !== 'BOOTING') ? ips : null;
      },
      bound,
    );
    console.log(
      `etcd down at start: ${left.length} VIPs out of BOOTING ${Date.now() - started} ms after the start`,
    );
    assert.ok(
      left.every((vip) => vip.status === 'ACTIVATED'),
      JSON.stringify(left),
    );
    const res = await until(
      '/healthz 200 degraded',
      async () => {
        const answer = await health();
        return answer.status === 200 && answer.body.status === 'degraded' ? answer : null;
      },
      bound,
    );
    assert.deepEqual(res.body.codes, ['ETCD_FAULT_AT_LEAST_ONE']);
  });

  it('vips.json = {} with etcd down: starts, warns naming the file; etcd back and a restart: every VIP again', async () => {
    await lab.signalAgent('h1', 'SIGTERM');
    const cache = join(stateDir, 'vips.json');
    writeFileSync(cache, '{}');
    const logFrom = readFileSync(lab.host('h1').log, 'utf8').length;
    await lab.startAgent('h1');
    const log = readFileSync(lab.host('h1').log, 'utf8').slice(logFrom);
    assert.ok(lab.agentRunning('h1'), `the agent runs: ${log}`);
    assert.ok(
      log.split('\n').some((line) => line.includes('local VIP cache') && line.includes(cache)),
      `a warning names ${cache}: ${log}`,
    );
    await lab.startEtcd();
    await restart();
    await servingAll();
  });
});
