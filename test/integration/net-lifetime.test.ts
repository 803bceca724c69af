import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createTestNetwork, waitUntil, type TestHost, type TestNetwork } from '../support/netns.ts';
import type { RemoteNetAdapter } from '../support/net-stdio.ts';

/** The kernel's address lifetime as a dead-man's switch (valid_lft/preferred_lft). */
describe('net adapter: address lifetime', () => {
  let net: TestNetwork;
  let host: TestHost;
  let adapter: RemoteNetAdapter;
  const present = async (cidr: string): Promise<boolean> =>
    (await net.addresses(host)).some((x) => `${x.local}/${x.prefixlen}` === cidr);

  before(async () => {
    net = await createTestNetwork({ hosts: 1 });
    host = net.hosts[0]!;
    adapter = await net.adapter(host);
  });
  after(async () => {
    await adapter?.close();
    await net?.destroy();
  });

  it('sets valid_lft and preferred_lft like ip addr add … valid_lft N preferred_lft N', async () => {
    await adapter.bind('198.18.0.140/24', { lifetimeSec: 30 });
    const info = (await net.addresses(host)).find((x) => x.local === '198.18.0.140');
    assert.ok(info);
    assert.ok(info.valid_life_time! <= 30 && info.valid_life_time! >= 28);
    assert.ok(info.preferred_life_time! <= 30 && info.preferred_life_time! >= 28);
    await adapter.unbind('198.18.0.140/24');
  });

  for (const cidr of ['198.18.0.141/24', '2001:db8::141/64']) {
    it(`lets the kernel remove ${cidr} about 2 s after a bind that is never refreshed`, async () => {
      const started = Date.now();
      await adapter.bind(cidr, { lifetimeSec: 2 });
      assert.equal(await present(cidr), true);
      await waitUntil(async () => !(await present(cidr)), {
        timeoutMs: 6000,
        intervalMs: 100,
        what: `${cidr} to expire`,
      });
      const elapsed = Date.now() - started;
      assert.ok(elapsed >= 1500, `gone after ${elapsed} ms, not before its lifetime`);
    });
  }

  it('keeps an address refreshed every 500 ms, then lets it expire once refreshes stop', async () => {
    const cidr = '198.18.0.142/24';
    await adapter.bind(cidr, { lifetimeSec: 2 });
    const timer = setInterval(() => void adapter.refresh(cidr, { lifetimeSec: 2 }), 500);
    try {
      // Observe for twice the lifetime: every sample must see the address.
      const until = Date.now() + 4500;
      while (Date.now() < until) {
        assert.equal(await present(cidr), true, 'refreshed address disappeared');
        await new Promise((r) => setTimeout(r, 100));
      }
    } finally {
      clearInterval(timer);
    }
    await waitUntil(async () => !(await present(cidr)), {
      timeoutMs: 6000,
      intervalMs: 100,
      what: 'expiry after refreshes stop',
    });
  });

  it('refreshMany renews 600 addresses (v4 and v6) in one call and reports none failed', async () => {
    const cidrs = [
      ...Array.from({ length: 300 }, (_, i) => `198.19.${i >> 8}.${i & 255}/32`),
      ...Array.from({ length: 300 }, (_, i) => `2001:db8:1::${(i + 1).toString(16)}/128`),
    ];
    for (const cidr of cidrs) await adapter.bind(cidr, { lifetimeSec: 5 });
    const failures = await adapter.refreshMany(cidrs, { lifetimeSec: 60 });
    assert.equal(failures.size, 0);
    const lifetimes = (await net.addresses(host))
      .filter((x) => cidrs.includes(`${x.local}/${x.prefixlen}`))
      .map((x) => x.valid_life_time!);
    assert.equal(lifetimes.length, cidrs.length);
    assert.ok(
      lifetimes.every((l) => l > 5 && l <= 60),
      'every lifetime renewed',
    );
    for (const cidr of cidrs) await adapter.unbind(cidr);
  });

  it('a bind of an address already there applies the requested lifetime', async () => {
    const cidr = '198.18.0.143/24';
    await adapter.bind(cidr);
    await adapter.bind(cidr, { lifetimeSec: 20 });
    const info = (await net.addresses(host)).find((x) => x.local === '198.18.0.143');
    assert.ok(info && info.valid_life_time! <= 20);
    await adapter.bind(cidr);
    const forever = (await net.addresses(host)).find((x) => x.local === '198.18.0.143');
    assert.equal(forever?.valid_life_time, 4294967295);
    await adapter.unbind(cidr);
  });
});
