import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  createSystemdNotifier,
  notifyMessage,
  parseNotifySocket,
  sockaddrUn,
  STATUS_MAX,
  SystemdEnvError,
  watchdogPingMs,
  withoutNotifyVariables,
} from '../../adapters/systemd/index.ts';
import { statusLine } from '../../cli/systemd.ts';

/** The pure parts of sd_notify: NOTIFY_SOCKET, WATCHDOG_USEC / WATCHDOG_PID, the datagram text. */

describe('NOTIFY_SOCKET', () => {
  it('is a socket path or an @abstract name; unset or empty sends nothing', () => {
    assert.equal(parseNotifySocket(undefined), null);
    assert.equal(parseNotifySocket(''), null);
    assert.deepEqual(parseNotifySocket('/run/systemd/notify'), { kind: 'path', path: '/run/systemd/notify' });
    assert.deepEqual(parseNotifySocket('@/org/freedesktop/systemd1/notify/123'), {
      kind: 'abstract',
      name: '/org/freedesktop/systemd1/notify/123',
    });
  });

  it('refuses what is no unix socket, naming the variable', () => {
    for (const bad of ['run/notify', '@', 'vsock:2:1234', `/${'x'.repeat(107)}`, `@${'x'.repeat(108)}`]) {
      assert.throws(
        () => parseNotifySocket(bad),
        (err: unknown) =>
          err instanceof SystemdEnvError &&
          err.code === 'SYSTEMD_ENV_INVALID' &&
          err.message.startsWith('NOTIFY_SOCKET: got '),
        bad,
      );
    }
    // The longest that fit sun_path[108]: a path and its NUL, an abstract name after its NUL.
    assert.ok(parseNotifySocket(`/${'x'.repeat(106)}`));
    assert.ok(parseNotifySocket(`@${'x'.repeat(107)}`));
  });

  it('encodes struct sockaddr_un as sd_notify sizes it', () => {
    const path = sockaddrUn({ kind: 'path', path: '/run/n' });
    assert.deepEqual([...path], [1, 0, ...Buffer.from('/run/n'), 0]);
    // No trailing NUL: an abstract name is exactly its bytes.
    const abstract = sockaddrUn({ kind: 'abstract', name: 'n/1' });
    assert.deepEqual([...abstract], [1, 0, 0, ...Buffer.from('n/1')]);
  });
});

describe('WATCHDOG_USEC', () => {
  const pid = 4242;
  it('pings every half period, for this process only', () => {
    assert.equal(watchdogPingMs({}, pid), null);
    assert.equal(watchdogPingMs({ WATCHDOG_USEC: '' }, pid), null);
    assert.equal(watchdogPingMs({ WATCHDOG_USEC: '500000' }, pid), 250);
    assert.equal(watchdogPingMs({ WATCHDOG_USEC: '10000000', WATCHDOG_PID: '4242' }, pid), 5000);
    assert.equal(watchdogPingMs({ WATCHDOG_USEC: '1' }, pid), 1, 'never a 0 ms interval');
    // Inherited from a parent that was the service's main process: not ours to ping.
    assert.equal(watchdogPingMs({ WATCHDOG_USEC: '500000', WATCHDOG_PID: '17' }, pid), null);
  });

  it('refuses a malformed value, naming the variable', () => {
    for (const [env, variable] of [
      [{ WATCHDOG_USEC: '0' }, 'WATCHDOG_USEC'],
      [{ WATCHDOG_USEC: '-5' }, 'WATCHDOG_USEC'],
      [{ WATCHDOG_USEC: '2s' }, 'WATCHDOG_USEC'],
      [{ WATCHDOG_USEC: '1e6' }, 'WATCHDOG_USEC'],
      [{ WATCHDOG_USEC: '99999999999999999999' }, 'WATCHDOG_USEC'],
      [{ WATCHDOG_USEC: '500000', WATCHDOG_PID: 'self' }, 'WATCHDOG_PID'],
      [{ WATCHDOG_USEC: '500000', WATCHDOG_PID: '0' }, 'WATCHDOG_PID'],
    ] as const) {
      assert.throws(
        () => watchdogPingMs(env, pid),
        (err: unknown) =>
          err instanceof SystemdEnvError &&
          err.variable === variable &&
          err.message.startsWith(`${variable}: `),
        JSON.stringify(env),
      );
    }
  });
});

describe('notification messages', () => {
  it('one KEY=value a line', () => {
    assert.equal(notifyMessage({ ready: true, status: '1 VIP, 1 owned' }), 'READY=1\nSTATUS=1 VIP, 1 owned');
    assert.equal(notifyMessage({ stopping: true, status: 'stopping' }), 'STOPPING=1\nSTATUS=stopping');
    assert.equal(notifyMessage({ watchdog: true }), 'WATCHDOG=1');
  });

  it('a STATUS text cannot add assignments, and is bounded', () => {
    assert.equal(notifyMessage({ status: 'etcd: down\nREADY=1\r\n' }), 'STATUS=etcd: down READY=1');
    const long = notifyMessage({ status: 'x'.repeat(5000) });
    assert.equal(long.length, 'STATUS='.length + STATUS_MAX);
    assert.ok(long.endsWith('…'));
  });

  it('without NOTIFY_SOCKET the notifier sends nothing and starts no timer', () => {
    const notifier = createSystemdNotifier({
      env: { WATCHDOG_USEC: '1000' },
      pid: process.pid,
      onError: () => assert.fail('nothing to fail'),
    });
    assert.equal(notifier.enabled, false);
    assert.equal(notifier.watchdogMs, null);
    notifier.ready('ready');
    notifier.close();
  });
});

describe('the agent status line', () => {
  const counts = { vips: 3, owned: 1, failing: 0 };
  it('says how many VIPs and how many this host holds', () => {
    assert.equal(statusLine({ state: 'alive' }, counts), '3 VIPs, 1 owned');
    assert.equal(
      statusLine({ state: 'alive' }, { vips: 1, owned: 0, failing: 1 }),
      '1 VIP, 0 owned, 1 failing health checks',
    );
  });

  it('names what is wrong with etcd first', () => {
    assert.equal(statusLine({ state: 'connecting' }, counts), 'connecting to etcd; 3 VIPs, 1 owned');
    assert.equal(
      statusLine({ state: 'fault', faultSource: 'etcd' }, counts),
      'etcd unreachable; 3 VIPs, 1 owned',
    );
    assert.equal(
      statusLine({ state: 'fault', faultSource: 'fence' }, counts),
      'etcd unreachable; 3 VIPs, 1 owned',
    );
    assert.equal(
      statusLine(
        { state: 'fault', faultSource: 'config', configError: { code: 'ETCD_TLS', message: 'x' } },
        counts,
      ),
      'etcd refuses this agent (ETCD_TLS); 3 VIPs, 1 owned',
    );
  });
});

describe('processes started from a service', () => {
  it('do not inherit the notification variables', () => {
    const env = { NOTIFY_SOCKET: '/run/systemd/notify', WATCHDOG_USEC: '1', WATCHDOG_PID: '1', PATH: '/bin' };
    assert.deepEqual(withoutNotifyVariables(env), { PATH: '/bin' });
    assert.equal(env.NOTIFY_SOCKET, '/run/systemd/notify', 'the agent keeps its own');
  });
});
