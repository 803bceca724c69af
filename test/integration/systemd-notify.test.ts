import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createSystemdNotifier, type SystemdError } from '../../adapters/systemd/index.ts';
import { LinkClient } from '../../cli/client.ts';
import { createVethPair, deleteLink, LINKCTL, startDaemon, type Daemon } from '../../lab/daemon.ts';
import { freePort, startEtcd, type EtcdCluster } from '../support/etcd.ts';
import {
  listenNotify,
  unixDatagramSockets,
  type Notification,
  type NotifyListener,
} from '../support/notify-socket.ts';

/**
 * Type=notify: the real agent (`linkctl agent`, real etcd, a veth of its own) with NOTIFY_SOCKET
 * pointing at a unix datagram socket this test listens on, as systemd's would. Run under
 * scripts/in-netns.sh.
 */

const IF_A = 'sdn0';
const IF_B = 'sdn1';
const VIP = '198.18.17.10/32';

const status = (n: Notification) => n.fields.get('STATUS');
const isWatchdog = (n: Notification) => n.fields.get('WATCHDOG') === '1';

describe('systemd notifications (sd_notify)', () => {
  let etcd: EtcdCluster;
  let dir: string;
  const daemons: Daemon[] = [];
  const listeners: NotifyListener[] = [];

  before(async () => {
    etcd = await startEtcd();
    createVethPair(IF_A, IF_B);
    dir = mkdtempSync(join(tmpdir(), 'link-notify-'));
  });

  after(async () => {
    for (const daemon of daemons) await daemon.stop();
    for (const listener of listeners) listener.close();
    deleteLink(IF_A);
    await etcd.close();
    rmSync(dir, { recursive: true, force: true });
  });

  function listen(address: string): NotifyListener {
    const listener = listenNotify(address);
    listeners.push(listener);
    return listener;
  }

  async function agent(hostname: string, env: Record<string, string>): Promise<Daemon> {
    const daemon = await startDaemon({
      hostname,
      interfaceName: IF_A,
      etcdHosts: etcd.hosts,
      port: await freePort(),
      env,
    });
    daemons.push(daemon);
    return daemon;
  }

  it('the adapter reaches a socket path and an abstract name; a missing listener is one error, not a crash', async () => {
    const path = listen(join(dir, 'notify.sock'));
    assert.ok(statSync(path.address).isSocket());
    const name = `@link-test/notify/${process.pid}`;
    const abstract = listen(name);
    assert.match(
      readFileSync('/proc/net/unix', 'utf8'),
      new RegExp(` ${name}\\n`),
      'bound in the abstract namespace',
    );

    for (const listener of [path, abstract]) {
      const notifier = createSystemdNotifier({
        env: { NOTIFY_SOCKET: listener.address },
        pid: process.pid,
        onError: (err) => assert.fail(err.message),
      });
      notifier.ready('1 VIP, 1 owned');
      notifier.stopping('stopping');
      notifier.close();
      const ready = await listener.next('READY=1', (n) => n.fields.get('READY') === '1', 2000);
      assert.equal(ready.text, 'READY=1\nSTATUS=1 VIP, 1 owned');
      await listener.next('STOPPING=1', (n) => n.text === 'STOPPING=1\nSTATUS=stopping', 2000);
    }

    const errors: SystemdError[] = [];
    const nobody = createSystemdNotifier({
      env: { NOTIFY_SOCKET: join(dir, 'absent.sock') },
      pid: process.pid,
      onError: (err) => errors.push(err),
    });
    nobody.status('a');
    nobody.status('b');
    nobody.close();
    assert.deepEqual(
      errors.map((e) => e.code),
      ['ENOENT'],
      'the same failure is reported once',
    );
  });

  it('tells systemd what it does while starting, READY=1 once it serves, WATCHDOG=1 every WATCHDOG_USEC/2 (none while frozen), STATUS= as it changes, STOPPING=1 at SIGTERM', async (t) => {
    const systemd = listen(join(dir, 'agent-1.sock'));
    const daemon = await agent('sd-a', { NOTIFY_SOCKET: systemd.address, WATCHDOG_USEC: '500000' });
    const pid = daemon.child.pid!;

    const ready = await systemd.next('READY=1', (n) => n.fields.get('READY') === '1', 5000);
    assert.equal(status(ready), '0 VIPs, 0 owned');
    const starting = systemd.received.filter((n) => !isWatchdog(n) && n !== ready).map(status);
    assert.deepEqual(starting, ['starting: connecting to etcd', 'starting: restoring the VIPs']);
    assert.equal(unixDatagramSockets(pid).length, 1, 'one notification socket');

    const client = new LinkClient({ host: daemon.url });
    await client.addIp({ ip: VIP });
    await systemd.next('STATUS of the owned VIP', (n) => status(n) === '1 VIP, 1 owned', 5000);

    // The pings' period, measured over 8 of them.
    const from = systemd.received.length;
    await systemd.next('8 pings', () => systemd.received.slice(from).filter(isWatchdog).length >= 8, 5000);
    const pings = systemd.received
      .slice(from)
      .filter(isWatchdog)
      .map((n) => n.at);
    const gaps = pings
      .slice(1)
      .map((at, i) => at - pings[i]!)
      .sort((a, b) => a - b);
    const median = gaps[Math.floor(gaps.length / 2)]!;
    t.diagnostic(`WATCHDOG=1 gaps (ms): ${gaps.map(Math.round).join(', ')}`);
    assert.ok(
      median >= 200 && median <= 400,
      `median gap ${median.toFixed(0)} ms, expected ~250 (gaps ${gaps.map(Math.round).join(', ')})`,
    );

    // A frozen event loop sends no ping: systemd would restart the agent after WatchdogSec.
    process.kill(pid, 'SIGSTOP');
    const frozenAt = performance.now();
    try {
      await assert.rejects(
        systemd.next('no ping while frozen', (n) => isWatchdog(n) && n.at > frozenAt + 50, 1000, from),
        /no no ping while frozen within/,
      );
    } finally {
      process.kill(pid, 'SIGCONT');
    }
    const thawedAt = performance.now();
    await systemd.next('a ping after SIGCONT', (n) => isWatchdog(n) && n.at > thawedAt, 2000, from);

    // etcd silent: the Status: line says so, and says when it is back.
    const beforePause = systemd.received.length;
    etcd.pause();
    const pausedAt = performance.now();
    try {
      await systemd.next(
        'etcd unreachable',
        (n) => status(n)?.startsWith('etcd unreachable;') === true,
        15_000,
        beforePause,
      );
    } finally {
      etcd.resume();
    }
    t.diagnostic(`etcd unreachable reported ${Math.round(performance.now() - pausedAt)} ms after the pause`);
    const afterResume = systemd.received.length;
    await systemd.next('etcd back', (n) => status(n) === '1 VIP, 1 owned', 15_000, afterResume);

    const beforeStop = systemd.received.length;
    assert.equal(await daemon.stop(), 0);
    const stopping = await systemd.next(
      'STOPPING=1',
      (n) => n.fields.get('STOPPING') === '1',
      1000,
      beforeStop,
    );
    assert.equal(status(stopping), 'stopping: handing the VIPs over');
  });

  it('a restarted agent says READY=1 only once its session is alive and its VIPs are restored', async () => {
    // The VIP this host carried before its restart, as etcd keeps it.
    const stored = { id: 'vip-restored', ip: '198.18.17.11/32', checks: [] };
    await etcd.etcdctl(['put', `/link/hosts/sd-b/${stored.id}`, JSON.stringify(stored)]);
    const systemd = listen(join(dir, 'agent-2.sock'));
    await agent('sd-b', { NOTIFY_SOCKET: systemd.address });
    const ready = await systemd.next('READY=1', (n) => n.fields.get('READY') === '1', 5000);
    // Sent before the VIP was restored it would say 0 VIPs; before the session, "connecting to etcd".
    assert.match(status(ready) ?? '', /^1 VIP, [01] owned$/);
    assert.deepEqual(systemd.received.slice(0, systemd.received.indexOf(ready)).map(status), [
      'starting: connecting to etcd',
      'starting: restoring the VIPs',
    ]);
    assert.ok(!systemd.received.some(isWatchdog), 'no WATCHDOG_USEC, no pings');
    await systemd.next('the VIP owned', (n) => status(n) === '1 VIP, 1 owned', 5000);
  });

  it('a NOTIFY_SOCKET or WATCHDOG_USEC it cannot use stops the agent at start with one line naming it (exit 2)', async () => {
    const run = (extra: Record<string, string>) =>
      new Promise<{ code: number | null; stderr: string }>((resolve) => {
        const env = {
          PATH: process.env['PATH'] ?? '/usr/bin:/bin',
          INTERFACE: IF_A,
          ETCD_HOSTS: etcd.hosts.join(','),
          STATE_DIR: dir,
          ...extra,
        };
        const child = execFile(LINKCTL, ['agent'], { env }, (_err, _stdout, stderr) =>
          resolve({ code: child.exitCode, stderr }),
        );
      });
    const [watchdog, socket] = await Promise.all([
      run({ NOTIFY_SOCKET: join(dir, 'n.sock'), WATCHDOG_USEC: '2s' }),
      run({ NOTIFY_SOCKET: 'vsock:2:9999' }),
    ]);
    assert.equal(watchdog.code, 2);
    assert.equal(
      watchdog.stderr,
      'linkctl agent: WATCHDOG_USEC: got "2s", expected a positive whole number of microseconds\n',
    );
    assert.equal(socket.code, 2);
    assert.match(socket.stderr, /^linkctl agent: NOTIFY_SOCKET: got "vsock:2:9999", expected [^\n]+\n$/);
  });

  it('without NOTIFY_SOCKET the agent opens no notification socket', async () => {
    const daemon = await agent('sd-c', { WATCHDOG_USEC: '500000' });
    assert.deepEqual(unixDatagramSockets(daemon.child.pid!), []);
    const code = await daemon.stop();
    assert.equal(code, 0);
    assert.ok(!daemon.logs.some((line) => line.includes('systemd notification failed')));
  });
});
