import assert from 'node:assert/strict';
import { describe, it, mock } from 'node:test';
import { AddressController } from '../../actors/address.ts';
import { silentLogger } from '../../actors/logger.ts';
import type { NetAdapter } from '../../adapters/net/types.ts';

/**
 * The probe before a first bind (actors/address.ts), with a recording stand-in for the kernel:
 * a stranger's answer means no bind and no announcement, a retry later, and a bind once clean;
 * a re-bind of an address this controller held never probes again.
 */

function recordingNet() {
  const calls: string[] = [];
  const net: NetAdapter = {
    interfaceName: 'test0',
    bind: (cidr) => (calls.push(`bind ${cidr}`), Promise.resolve()),
    refresh: (cidr) => (calls.push(`refresh ${cidr}`), Promise.resolve()),
    refreshMany: () => Promise.resolve(new Map()),
    unbind: (cidr) => (calls.push(`unbind ${cidr}`), Promise.resolve()),
    isBound: () => Promise.resolve(false),
    announce: (cidr) => (calls.push(`announce ${cidr}`), Promise.resolve()),
    probeConflict: () => Promise.resolve(null),
    addresses: () => Promise.resolve([]),
    hardwareAddress: () => Promise.resolve('02:00:00:00:00:01'),
    close: () => Promise.resolve(),
  };
  return { net, calls };
}

function probed(answers: (string | null)[]) {
  const { net, calls } = recordingNet();
  const inUse: string[] = [];
  let probes = 0;
  const controller = new AddressController({
    cidr: '198.18.0.150/32',
    net,
    lifetimeSec: () => 0,
    announce: { count: 1, intervalMs: 0, refreshIntervalMs: 0 },
    onError: (code, err) => calls.push(`${code} ${String(err)}`),
    onAnnounced: () => undefined,
    mayRecreate: () => true,
    logger: silentLogger,
    probe: () => {
      probes++;
      return Promise.resolve(answers.shift() ?? null);
    },
    onInUse: (mac) => inUse.push(mac),
    inUseRetryMs: 10_000,
  });
  return { controller, calls, inUse, probes: () => probes };
}

/** Lets queued promise work run (the mocked timers do not cover promises). */
const flush = async () => {
  for (let i = 0; i < 20; i++) await Promise.resolve();
};

describe('the probe before a first bind', () => {
  it('a stranger answers: no bind, no announcement; probes again after the retry period, then binds and announces', async () => {
    mock.timers.enable({ apis: ['setTimeout'] });
    try {
      const { controller, calls, inUse, probes } = probed(['02:aa:bb:cc:dd:ee', '02:aa:bb:cc:dd:ee', null]);
      controller.want(true);
      controller.announce();
      await flush();
      assert.deepEqual(calls, [], 'nothing bound nor announced');
      assert.deepEqual(inUse, ['02:aa:bb:cc:dd:ee']);
      assert.ok(controller.isInUse);

      controller.recheck(); // what the refresher does each round: must not probe early
      await flush();
      assert.equal(probes(), 1);

      mock.timers.tick(10_000);
      await flush();
      assert.equal(probes(), 2);
      assert.deepEqual(calls, [], 'still in use');

      mock.timers.tick(10_000);
      await flush();
      assert.equal(probes(), 3);
      assert.deepEqual(calls, ['bind 198.18.0.150/32', 'announce 198.18.0.150/32']);
      assert.ok(controller.isBound && !controller.isInUse);
    } finally {
      mock.timers.reset();
    }
  });

  it('a clean probe binds at once; later re-binds of the address never probe', async () => {
    const { controller, calls, probes } = probed([null]);
    controller.want(true);
    await controller.settled();
    controller.want(false);
    await controller.settled();
    controller.want(true);
    await controller.settled();
    assert.equal(probes(), 1);
    assert.deepEqual(calls, ['bind 198.18.0.150/32', 'unbind 198.18.0.150/32', 'bind 198.18.0.150/32']);
  });

  it('letting go of the VIP while it is in use stops the retries', async () => {
    mock.timers.enable({ apis: ['setTimeout'] });
    try {
      const { controller, probes } = probed(['02:aa:bb:cc:dd:ee', null]);
      controller.want(true);
      await flush();
      controller.want(false);
      await flush();
      mock.timers.tick(30_000);
      await flush();
      assert.equal(probes(), 1);
      assert.ok(!controller.isInUse && !controller.isBound);
    } finally {
      mock.timers.reset();
    }
  });
});
