import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createTestNetwork, type TestHost, type TestNetwork } from '../support/netns.ts';
import type { RemoteNetAdapter } from '../support/net-stdio.ts';

describe('net adapter: conflict probe, what the host holds, and the VIP rule', () => {
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

  it('lists every address of every interface, a dump longer than one read included, and the MAC', async () => {
    // ~300 addresses take several reads of the kernel's dump: each part used to overwrite the
    // entries of the one before (they were views into one receive buffer).
    const many = Array.from(
      { length: 300 },
      (_, i) => `198.18.${1 + Math.floor(i / 250)}.${(i % 250) + 1}/32`,
    );
    try {
      await Promise.all(many.map((cidr) => adapterA.bind(cidr)));
      const listed = await adapterA.addresses();
      const texts = new Set(listed.map((a) => `${a.interfaceName} ${a.cidr}`));
      for (const cidr of [...many, a.cidr4]) assert.ok(texts.has(`eth0 ${cidr}`), `eth0 ${cidr} listed`);
      assert.ok(texts.has('lo 127.0.0.1/8'), 'other interfaces too');
      assert.ok(
        listed.every((x) => !x.cidr.startsWith('0.0.0.0')),
        'no garbled entry',
      );
      assert.equal(await adapterA.hardwareAddress(), a.mac);
    } finally {
      await Promise.all(many.map((cidr) => adapterA.unbind(cidr)));
    }
  });

  for (const [cidr, reason] of [
    ['127.0.0.5/32', /loopback/],
    ['240.0.0.1/32', /240\.0\.0\.0\/4/],
    ['fe80::1/64', /link-local/],
    ['::ffff:198.18.0.11/128', /IPv4-mapped/],
    ['198.18.0.255/24', /broadcast address of 198\.18\.0\.0\/24/],
  ] as const) {
    it(`bind refuses ${cidr} by the API's rule, and the kernel never gets it`, async () => {
      await assert.rejects(adapterA.bind(cidr), (err: unknown) => {
        assert.ok(err instanceof Error && 'code' in err && err.code === 'INVALID_ADDRESS', String(err));
        assert.match(err.message, reason);
        return true;
      });
      const address = cidr.split('/')[0];
      assert.ok(!(await net.addresses(a)).some((x) => x.local === address), `${cidr} not in the kernel`);
    });
  }
});
