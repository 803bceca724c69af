import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { after, before, describe, it } from 'node:test';
import type { JournalEntry, VipView } from '../../actors/types.ts';
import { LINKCTL, createVethPair, deleteLink, startDaemon } from '../../lab/daemon.ts';
import type { Daemon } from '../../lab/daemon.ts';
import { freePort, startEtcd } from '../support/etcd.ts';
import type { EtcdCluster } from '../support/etcd.ts';

/**
 * `linkctl ips …` and `linkctl version` (bin/linkctl, the real entry) against two running
 * daemons: each command, --json parsed, exit codes 0/1/2, one-line errors, a wrong password,
 * an unreachable host, a Unix socket host. Run under scripts/in-netns.sh.
 */

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function linkctl(args: string[], env: Record<string, string> = {}): Promise<Run> {
  return new Promise((resolve) => {
    execFile(
      LINKCTL,
      args,
      { env: { PATH: process.env['PATH'] ?? '/usr/bin:/bin', ...env }, timeout: 30_000 },
      (err, stdout, stderr) => {
        const code = err ? (typeof err.code === 'number' ? err.code : -1) : 0;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

function assertOneLineError(run: Run, pattern: RegExp): void {
  const lines = run.stderr.trimEnd().split('\n');
  assert.equal(lines.length, 1, `one line on stderr, got:\n${run.stderr}`);
  assert.match(lines[0] ?? '', /^linkctl: /);
  assert.match(lines[0] ?? '', pattern);
  assert.doesNotMatch(run.stderr, /\n\s+at /, 'no stack trace');
}

describe('linkctl against running agents', () => {
  let etcd: EtcdCluster;
  let a: Daemon;
  let b: Daemon;
  let envA: Record<string, string>;
  let envB: Record<string, string>;
  const ifA = `lca${process.pid % 10000}`;
  const ifB = `lcb${process.pid % 10000}`;

  before(async () => {
    etcd = await startEtcd();
    createVethPair(ifA, ifB);
    const common = { etcdHosts: etcd.hosts, user: 'ops', password: 's3cret' };
    [a, b] = await Promise.all([
      startDaemon({ ...common, hostname: 'cli-a', interfaceName: ifA, port: await freePort() }),
      startDaemon({ ...common, hostname: 'cli-b', interfaceName: ifB, port: await freePort() }),
    ]);
    envA = { LINK_HOST: a.url, LINK_USER: 'ops', LINK_PASSWORD: 's3cret' };
    envB = { LINK_HOST: `unix:${b.socketPath}`, LINK_USER: 'ops', LINK_PASSWORD: 's3cret' };
  });
  after(async () => {
    await Promise.allSettled([a?.stop(), b?.stop()]);
    deleteLink(ifA);
    await etcd?.close();
  });

  /** `ips get --json` until the VIP leaves BOOTING (an SSE follow would do too; this is the CLI under test). */
  async function settled(env: Record<string, string>, ref: string): Promise<VipView> {
    const follow = spawn(LINKCTL, ['ips', 'events', ref, '--follow', '--json'], {
      env: { PATH: process.env['PATH'] ?? '', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const exited = new Promise<number | null>((resolve) => follow.once('exit', (code) => resolve(code)));
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${ref} did not settle`)), 10_000);
      createInterface({ input: follow.stdout }).on('line', (line) => {
        const entry = JSON.parse(line) as JournalEntry;
        if (entry.kind === 'event' && entry.to !== 'BOOTING') {
          clearTimeout(timer);
          resolve();
        }
      });
    });
    follow.kill('SIGINT');
    assert.equal(await exited, 0, 'events --follow exits 0 on Ctrl-C');
    const run = await linkctl(['ips', 'get', ref, '--json'], env);
    assert.equal(run.code, 0, run.stderr);
    return (JSON.parse(run.stdout) as { ip: VipView }).ip;
  }

  /** Follows the journal until the VIP entered ACTIVATED at or after `since` (ISO time). */
  async function activatedSince(env: Record<string, string>, ref: string, since: string): Promise<void> {
    const follow = spawn(LINKCTL, ['ips', 'events', ref, '--follow', '--json'], {
      env: { PATH: process.env['PATH'] ?? '', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const exited = new Promise<number | null>((resolve) => follow.once('exit', (code) => resolve(code)));
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${ref} did not become ACTIVATED`)), 10_000);
      createInterface({ input: follow.stdout }).on('line', (line) => {
        const entry = JSON.parse(line) as JournalEntry;
        if (entry.kind === 'event' && entry.to === 'ACTIVATED' && entry.time >= since) {
          clearTimeout(timer);
          resolve();
        }
      });
    });
    follow.kill('SIGINT');
    await exited;
  }

  it('add (LinK v2 form too), list, get, hosts, lock, events, failover, checks set, rm', async () => {
    const addA = await linkctl(['ips', 'add', '198.18.0.130/32', '--json'], envA);
    assert.equal(addA.code, 0, addA.stderr);
    const vipA = JSON.parse(addA.stdout) as VipView;
    assert.equal(vipA.ip, '198.18.0.130/32');
    // LinK v2's form: IP then TYPE HOST:PORT pairs; human output.
    const addB = await linkctl(['ips', 'add', '198.18.0.130', 'TCP', '127.0.0.1:9', 'TCP', '[::1]:9'], envB);
    assert.equal(addB.code, 0, addB.stderr);
    assert.match(addB.stdout, /^added vip-[0-9a-f-]+ 198\.18\.0\.130\/32 \(\w+\)\n$/);
    const vipB = JSON.parse((await linkctl(['ips', 'list', '--json'], envB)).stdout) as { ips: VipView[] };
    assert.deepEqual(
      vipB.ips[0]?.checks.map((c) => c.type),
      ['TCP', 'TCP'],
    );
    const idB = vipB.ips[0]?.id ?? '';
    // Checks on b's VIP fail (nothing listens on port 9): clear them so it can compete.
    const cleared = await linkctl(['ips', 'checks', 'set', idB, '--json'], envB);
    assert.equal(cleared.code, 0, cleared.stderr);
    assert.deepEqual((JSON.parse(cleared.stdout) as VipView).checks, []);

    const viewA = await settled(envA, vipA.id);
    const viewB = await settled(envB, '198.18.0.130');
    assert.equal(Number(viewA.owner) + Number(viewB.owner), 1);

    const table = await linkctl(['ips', 'list'], envA);
    assert.equal(table.code, 0);
    assert.match(table.stdout, /^ID\s+IP\s+STATUS\s+OWNER\s+CHECKS\n/);
    assert.match(table.stdout, new RegExp(`${vipA.id}\\s+198\\.18\\.0\\.130/32\\s+(ACTIVATED|STANDBY)`));

    const get = await linkctl(['ips', 'get', '198.18.0.130/32'], envA);
    assert.equal(get.code, 0, get.stderr);
    assert.match(get.stdout, new RegExp(`^id\\s+${vipA.id}$`, 'm'));

    const hosts = JSON.parse((await linkctl(['ips', 'hosts', vipA.id, '--json'], envA)).stdout) as {
      hosts: { hostname: string; owner: boolean }[];
    };
    assert.deepEqual(
      hosts.hosts.map((h) => h.hostname),
      ['cli-a', 'cli-b'],
    );
    const hostsTable = await linkctl(['ips', 'hosts', vipA.id], envA);
    assert.match(hostsTable.stdout, /^HOST\s+OWNER\s+PRIORITY\s+PREEMPT\n/);

    const [ownerEnv, ownerRef, otherEnv, otherRef] = viewA.owner
      ? [envA, vipA.id, envB, idB]
      : [envB, idB, envA, vipA.id];
    const lock = await linkctl(['ips', 'lock', otherRef, '--json'], otherEnv);
    assert.equal(lock.code, 0, lock.stderr);
    assert.equal((JSON.parse(lock.stdout) as { ip: VipView }).ip.owner, false);

    const events = await linkctl(['ips', 'events', ownerRef, '--json'], ownerEnv);
    assert.ok(
      (JSON.parse(events.stdout) as { events: JournalEntry[] }).events.some((e) => e.kind === 'start'),
    );
    const eventsText = await linkctl(['ips', 'events', ownerRef], ownerEnv);
    assert.match(eventsText.stdout, /event\s+elected from etcd: BOOTING -> ACTIVATED/);

    const notOwner = await linkctl(['ips', 'failover', otherRef], otherEnv);
    assert.equal(notOwner.code, 1);
    assertOneLineError(notOwner, /409 this host does not own 198\.18\.0\.130\/32/);

    const handedAt = new Date().toISOString();
    const failover = await linkctl(['ips', 'failover', ownerRef, '--json'], ownerEnv);
    assert.equal(failover.code, 0, failover.stderr);
    const [ownerName, otherName] = viewA.owner ? ['cli-a', 'cli-b'] : ['cli-b', 'cli-a'];
    assert.deepEqual(JSON.parse(failover.stdout), { id: ownerRef, failover: true, owner: otherName });
    // And back, as a person reads it: the command names the host that holds the VIP now.
    await activatedSince(otherEnv, otherRef, handedAt);
    const back = await linkctl(['ips', 'failover', otherRef], otherEnv);
    assert.equal(back.code, 0, back.stderr);
    assert.equal(back.stdout, `${otherRef} handed over to ${ownerName}\n`);

    for (const [env, ref] of [
      [envA, vipA.id],
      [envB, '198.18.0.130/32'],
    ] as const) {
      const rm = await linkctl(['ips', 'rm', ref], env);
      assert.equal(rm.code, 0, rm.stderr);
      assert.match(rm.stdout, /^removed vip-/);
    }
    const gone = await linkctl(['ips', 'get', vipA.id], envA);
    assert.equal(gone.code, 1);
    assertOneLineError(gone, /404 IP not found/);
    const empty = await linkctl(['ips', 'list'], envA);
    assert.equal(empty.stdout, 'no VIPs configured\n');
  });

  it('version prints both versions; --host/-u/-p flags override the environment', async () => {
    const run = await linkctl([
      'version',
      '--json',
      '--host',
      `unix:${a.socketPath}`,
      '-u',
      'ops',
      '-p',
      's3cret',
    ]);
    assert.equal(run.code, 0, run.stderr);
    const versions = JSON.parse(run.stdout) as { linkctl: string; agent: string };
    assert.equal(versions.agent, versions.linkctl);
    const human = await linkctl(['version'], envA);
    assert.match(human.stdout, /^linkctl \S+\nagent\s+\S+\n$/);
  });

  it('exit 1 with one line: wrong password, unreachable host, duplicate; exit 2 for usage', async () => {
    const wrong = await linkctl(['ips', 'list'], { ...envA, LINK_PASSWORD: 'nope' });
    assert.equal(wrong.code, 1);
    assertOneLineError(wrong, /401 unauthorized/);

    const port = await freePort();
    const unreachable = await linkctl(['ips', 'list', '--host', `http://127.0.0.1:${port}`]);
    assert.equal(unreachable.code, 1);
    assertOneLineError(unreachable, /cannot reach http:\/\/127\.0\.0\.1:\d+: connection refused/);
    const noSocket = await linkctl(['ips', 'list', '--host', 'unix:/nonexistent/link.sock']);
    assert.equal(noSocket.code, 1);
    assertOneLineError(noSocket, /no such socket/);

    const added = await linkctl(['ips', 'add', '198.18.0.131', '--json'], envA);
    assert.equal(added.code, 0, added.stderr);
    const duplicate = await linkctl(['ips', 'add', '198.18.0.131/32'], envA);
    assert.equal(duplicate.code, 1);
    assertOneLineError(duplicate, /409 198\.18\.0\.131\/32 is already assigned/);
    assert.equal((await linkctl(['ips', 'rm', '198.18.0.131'], envA)).code, 0);

    const usage = [
      ['ips', 'add', '198.18.0.999'],
      ['ips', 'add', '198.18.0.140', 'TCP'],
      ['ips', 'add', '198.18.0.140', 'UDP', 'x:1'],
      ['ips', 'add', '198.18.0.140', '--interval', 'soon'],
      ['ips', 'get', 'not-an-id'],
      ['ips', 'list', '--host', 'ftp://x'],
      ['ips', 'list', '--bogus'],
      ['ips', 'frobnicate'],
      ['ips', 'get'],
    ];
    const runs = await Promise.all(usage.map((args) => linkctl(args, envA)));
    runs.forEach((run, i) => {
      assert.equal(run.code, 2, `${usage[i]?.join(' ')}: ${run.stderr}`);
      assert.doesNotMatch(run.stderr, /\n\s+at /);
    });
    assert.equal((await linkctl(['ips', 'list', '--help'])).code, 0);
  });
});
