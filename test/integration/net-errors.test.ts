import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createTestNetwork, type TestHost, type TestNetwork } from '../support/netns.ts';
import type { RemoteNetAdapter } from '../support/net-stdio.ts';

type Coded = Error & { code: string };
const rejectsWith = async (p: Promise<unknown>, code: string, message?: RegExp): Promise<Coded> => {
  let caught: unknown;
  try {
    await p;
  } catch (err) {
    caught = err;
  }
  assert.ok(caught instanceof Error, `expected a rejection with ${code}`);
  assert.equal((caught as Coded).code, code, caught.message);
  if (message) assert.match(caught.message, message);
  return caught as Coded;
};

describe('net adapter: errors that say what to do', () => {
  let net: TestNetwork;
  let host: TestHost;
  let adapter: RemoteNetAdapter;
  before(async () => {
    net = await createTestNetwork({ hosts: 1 });
    host = net.hosts[0]!;
    adapter = await net.adapter(host);
  });
  after(async () => {
    await adapter?.close();
    await net?.destroy();
  });

  it('a missing interface gives ENODEV naming it, for every operation', async () => {
    const ghost = await net.adapter(host, { interfaceName: 'nosuch0' });
    try {
      await rejectsWith(ghost.bind('198.18.0.150/24'), 'ENODEV', /"nosuch0"/);
      await rejectsWith(ghost.unbind('198.18.0.150/24'), 'ENODEV', /"nosuch0"/);
      await rejectsWith(ghost.isBound('198.18.0.150/24'), 'ENODEV', /"nosuch0"/);
      await rejectsWith(ghost.announce('198.18.0.150/24'), 'ENODEV', /"nosuch0"/);
      await rejectsWith(ghost.announce('2001:db8::150/64'), 'ENODEV', /"nosuch0"/);
      await rejectsWith(ghost.probeConflict('198.18.0.150/24'), 'ENODEV', /"nosuch0"/);
      // Validation comes before any system call, even on a missing interface.
      await rejectsWith(ghost.bind('198.18.0.256/24'), 'INVALID_ADDRESS');
    } finally {
      await ghost.close();
    }
  });

  for (const bad of [
    '198.18.0.1/33',
    '198.18.0.300/24',
    '198.18.0/24',
    'fe80::1%eth0/64',
    '2001:db8::1/129',
    'nope',
    '',
    '224.0.0.1/32',
    '0.0.0.0/0',
  ]) {
    it(`rejects ${JSON.stringify(bad)} with INVALID_ADDRESS and touches nothing`, async () => {
      const before = await net.addresses(host);
      await rejectsWith(adapter.bind(bad), 'INVALID_ADDRESS');
      assert.deepEqual(await net.addresses(host), before);
    });
  }

  it('rejects a bad lifetime with INVALID_ARGUMENT', async () => {
    await rejectsWith(adapter.bind('198.18.0.151/24', { lifetimeSec: -1 }), 'INVALID_ARGUMENT');
    await rejectsWith(adapter.bind('198.18.0.151/24', { lifetimeSec: 1.5 }), 'INVALID_ARGUMENT');
    assert.equal(await adapter.isBound('198.18.0.151/24'), false);
  });

  it('without CAP_NET_ADMIN / CAP_NET_RAW: EPERM naming the capability, and no address left', async () => {
    const weak = await net.adapter(host, {
      wrapper: [
        'setpriv',
        '--inh-caps=-all',
        '--ambient-caps=-all',
        '--bounding-set=-net_admin,-net_raw',
        '--',
      ],
    });
    try {
      const bindErr = await rejectsWith(weak.bind('198.18.0.152/24'), 'EPERM', /CAP_NET_ADMIN/);
      assert.equal(bindErr.name, 'PermissionError');
      await rejectsWith(weak.bind('2001:db8::152/64'), 'EPERM', /CAP_NET_ADMIN/);
      await rejectsWith(weak.unbind(host.cidr4), 'EPERM', /CAP_NET_ADMIN/);
      await rejectsWith(weak.announce('198.18.0.152/24'), 'EPERM', /CAP_NET_RAW/);
      await rejectsWith(weak.announce('2001:db8::152/64'), 'EPERM', /CAP_NET_RAW/);
      await rejectsWith(weak.probeConflict('198.18.0.152/24'), 'EPERM', /CAP_NET_RAW/);
      // Reading needs no privilege.
      assert.equal(await weak.isBound(host.cidr4), true);
      assert.equal(await adapter.isBound('198.18.0.152/24'), false, 'a failed bind leaves no address');
    } finally {
      await weak.close();
    }
  });
});
