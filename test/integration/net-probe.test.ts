import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createTestNetwork, type TestHost, type TestNetwork } from '../support/netns.ts';
import type { RemoteNetAdapter } from '../../adapters/net/stdio.ts';

describe('net adapter: conflict probe', () => {
  let net: TestNetwork;
  let a: TestHost, b: TestHost;
  let adapterA: RemoteNetAdapter, adapterB: RemoteNetAdapter;
  before(async () => {
    net = await createTestNetwork({ hosts: 2 });
    [a, b] = net.hosts as [TestHost, TestHost];
    [adapterA, adapterB] = await Promise.all([net.adapter(a), net.adapter(b)]);
  });
  after(async () => {
    await Promise.allSettled([adapterA?.close(), adapterB?.close()]);
    await net?.destroy();
  });

  for (const cidr of ['198.18.0.130/24', '2001:db8::130/64']) {
    it(`finds the second holder of ${cidr} and names its MAC`, async () => {
      await adapterA.bind(cidr);
      await adapterB.bind(cidr);
      try {
        const started = Date.now();
        const report = await adapterA.probeConflict(cidr, { timeoutMs: 2000 });
        assert.deepEqual(report, { cidr, mac: b.mac });
        assert.ok(Date.now() - started < 2000, 'resolves at the first answer, not at the deadline');
      } finally {
        await adapterA.unbind(cidr);
        await adapterB.unbind(cidr);
      }
    });

    it(`finds no conflict for ${cidr} when only this host holds it`, async () => {
      await adapterA.bind(cidr);
      try {
        assert.equal(await adapterA.probeConflict(cidr, { timeoutMs: 500 }), null);
      } finally {
        await adapterA.unbind(cidr);
      }
    });
  }
});
