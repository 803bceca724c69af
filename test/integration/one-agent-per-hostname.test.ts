import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { JournalEntry, VipView } from '../../actors/types.ts';
import { AGENT_BUNDLE } from '../../lab/bundle.ts';
import { Lab } from '../../lab/lab.ts';
import { until } from '../support/until.ts';

/**
 * Issue 14 part 6, "One host name, one agent", in the lab (real etcd, real agents): a second
 * agent started with an existing host's HOSTNAME (a cloned VM: here another host's namespace)
 * exits 2 with one line naming the hostname and the fix, and touches nothing of the first (its
 * lease, its keys): the first never faults and keeps its VIP. `linkctl agent --check` says the
 * same. A kill -9 and restart of the real host still reuses its lease. Before the part the clone
 * reused the real host's lease, both bound the VIP, and the clone's stop revoked the lease.
 */

const VIP = '198.18.0.100/32';

describe('one host name, one agent (lab)', { timeout: 180_000 }, () => {
  let lab: Lab;
  let vipId: string;
  let scratch: string;

  /** `linkctl agent [args]` in h2's namespace as h1, from the lab's bundle: its exit code and output. */
  async function asH1InH2(args: string[] = []): Promise<{ code: number; stdout: string; stderr: string }> {
    const env = [
      'INTERFACE=eth0',
      'HOSTNAME=h1',
      `ETCD_HOSTS=${lab.etcdHosts}`,
      `STATE_DIR=${join(scratch, 'state')}`,
      `API_SOCKET=${join(scratch, 'api.sock')}`,
      'PORT=1313',
      'LOG_FORMAT=json',
    ];
    const argv = [
      'netns',
      'exec',
      lab.host('h2').ns,
      'env',
      ...env,
      process.execPath,
      AGENT_BUNDLE,
      'agent',
      ...args,
    ];
    return new Promise((resolve) => {
      execFile('ip', argv, { timeout: 30_000 }, (err, stdout, stderr) => {
        const code = err === null ? 0 : typeof err.code === 'number' ? err.code : -1;
        resolve({ code, stdout, stderr });
      });
    });
  }

  async function h1Lease(): Promise<string> {
    const record = await lab.etcdctl(['get', '--print-value-only', '/link/config/h1']);
    return /"lease_id":(\d+)/.exec(record)?.[1] ?? '';
  }

  const faults = async (): Promise<JournalEntry[]> =>
    (await lab.api<{ events: JournalEntry[] }>('h1', 'GET', `/ips/${vipId}/events`)).body.events.filter(
      (e) => e.kind === 'event' && e.event === 'fault',
    );

  before(async () => {
    scratch = mkdtempSync(join(tmpdir(), 'fh-dup-'));
    lab = await Lab.up({ name: `fh-dup-${process.pid}`, hosts: 2 });
    // h2's own agent stops: its namespace is the clone's machine (its API port is then free).
    await lab.signalAgent('h2', 'SIGTERM');
    const res = await lab.api<VipView>('h1', 'POST', '/ips', { ip: VIP });
    assert.equal(res.status, 201, JSON.stringify(res.body));
    vipId = res.body.id;
    await until('h1 to bind the VIP', async () => (await lab.holders(VIP)).includes('h1'), 15_000);
  });

  after(async () => {
    await lab?.down();
    rmSync(scratch, { recursive: true, force: true });
  });

  it('a second agent with HOSTNAME=h1 (another machine) exits 2 with one line; h1 never faults, keeps its lease and its VIP', async () => {
    const lease = await h1Lease();
    const clone = await asH1InH2();
    console.log(`# clone: exit ${clone.code}: ${clone.stderr.trim()}`);
    assert.equal(clone.code, 2, clone.stderr);
    const lines = clone.stderr.trim().split('\n');
    assert.equal(lines.length, 1, clone.stderr);
    assert.match(
      lines[0]!,
      /^linkctl agent: ETCD_HOSTNAME_TAKEN: HOSTNAME=h1 is taken: an agent on another system .*give this host its own HOSTNAME/,
    );
    assert.equal(await h1Lease(), lease, "h1's lease id is untouched");
    // The clone would have revoked h1's lease on its way out: h1 keeps renewing it past a TTL.
    const ttl = await lab.etcdctl(['lease', 'timetolive', BigInt(lease).toString(16)]);
    assert.match(ttl, /remaining\(\d+s\)/, ttl);
    assert.doesNotMatch(ttl, /already expired/, ttl);
    assert.deepEqual(await lab.holders(VIP), ['h1'], 'only h1 holds the VIP');
    assert.deepEqual(await faults(), [], "h1's journal has no fault");
    const healthz = await lab.api<{ etcd: string }>('h1', 'GET', '/healthz');
    assert.equal(healthz.status, 200, JSON.stringify(healthz.body));
  });

  it('linkctl agent --check as h1 on the other machine reports it', async () => {
    const check = await asH1InH2(['--check']);
    const line = check.stdout.split('\n').find((l) => l.includes('HOSTNAME:'));
    console.log(`# --check: ${line}`);
    assert.ok(line, check.stdout);
    assert.match(line, /✗ HOSTNAME: h1 is taken: an agent on another system/);
    assert.equal(check.code, 1);
  });

  it('a kill -9 and a restart of h1 itself still starts, reusing its lease: the VIP stays on h1', async () => {
    const lease = await h1Lease();
    await lab.signalAgent('h1', 'SIGKILL');
    await lab.startAgent('h1');
    await until('h1 to hold the VIP again', async () => (await lab.holders(VIP)).includes('h1'), 15_000);
    assert.equal(await h1Lease(), lease, "the killed agent's lease was reused");
    assert.deepEqual(await lab.holders(VIP), ['h1']);
    // And the clone is refused by the new process too.
    assert.equal((await asH1InH2()).code, 2);
  });

  it('a restart through the bridge lease (SIGUSR2, then a new agent) still starts; the VIP stays on h1', async () => {
    await lab.signalAgent('h1', 'SIGUSR2');
    assert.deepEqual(await lab.holders(VIP), ['h1'], 'kept bound across the restart');
    await lab.startAgent('h1');
    await until(
      'h1 to serve the VIP as ACTIVATED',
      async () => {
        const res = await lab.api<{ ip: VipView }>('h1', 'GET', `/ips/${vipId}`);
        return res.status === 200 && res.body.ip.status === 'ACTIVATED';
      },
      15_000,
    );
    assert.deepEqual(await lab.holders(VIP), ['h1']);
  });
});
