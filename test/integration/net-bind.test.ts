import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createTestNetwork, type TestNetwork } from '../support/netns.ts';
import type { RemoteNetAdapter } from '../support/net-stdio.ts';

const has = async (net: TestNetwork, host: TestNetwork['hosts'][number], cidr: string): Promise<boolean> => {
  const [local, prefix] = cidr.split('/');
  return (await net.addresses(host)).some((a) => a.local === local && a.prefixlen === Number(prefix));
};

describe('net adapter: bind and unbind in a namespace', () => {
  let net: TestNetwork;
  let adapter: RemoteNetAdapter;
  before(async () => {
    net = await createTestNetwork({ hosts: 1 });
    adapter = await net.adapter(net.hosts[0]!);
  });
  after(async () => {
    await adapter?.close();
    await net?.destroy();
  });

  for (const cidr of ['198.18.0.100/24', '2001:db8::100/64']) {
    it(`binds and unbinds ${cidr} like ip addr add/del`, async () => {
      const host = net.hosts[0]!;
      assert.equal(await has(net, host, cidr), false);
      await adapter.bind(cidr);
      assert.equal(await has(net, host, cidr), true, 'ip -n NS addr shows the VIP');
      assert.equal(await adapter.isBound(cidr), true);
      await adapter.unbind(cidr);
      assert.equal(await has(net, host, cidr), false);
      assert.equal(await adapter.isBound(cidr), false);
    });
  }

  it('adds IPv6 VIPs with nodad so they are usable at once', async () => {
    const host = net.hosts[0]!;
    await adapter.bind('2001:db8::101/64');
    const { stdout } = await net.exec(host, 'ip', ['-6', 'addr', 'show', 'dev', 'eth0']);
    assert.match(stdout, /2001:db8::101\/64 scope global nodad/);
    assert.doesNotMatch(stdout, /2001:db8::101\/64.*tentative/);
    await adapter.unbind('2001:db8::101/64');
  });

  it('is idempotent: binding twice and unbinding an absent address succeed', async () => {
    const host = net.hosts[0]!;
    for (const cidr of ['198.18.0.102/24', '2001:db8::102/64']) {
      await adapter.bind(cidr);
      await adapter.bind(cidr);
      assert.equal((await net.addresses(host)).filter((a) => `${a.local}/${a.prefixlen}` === cidr).length, 1);
      await adapter.unbind(cidr);
      await adapter.unbind(cidr);
      assert.equal(await has(net, host, cidr), false);
    }
  });

  it('accepts non-canonical spellings of the same VIP', async () => {
    await adapter.bind('198.18.0.0103/24');
    assert.equal(await adapter.isBound('198.18.0.103/24'), true);
    await adapter.unbind('198.18.000.103/24');
    assert.equal(await adapter.isBound('198.18.0.103/24'), false);
    await adapter.bind('2001:DB8:0:0::0103/64');
    assert.equal(await has(net, net.hosts[0]!, '2001:db8::103/64'), true);
    await adapter.unbind('2001:db8::103/64');
  });

  it('removes only its own address: the host address and other VIPs stay', async () => {
    const host = net.hosts[0]!;
    await adapter.bind('198.18.0.104/24');
    await adapter.bind('198.18.0.105/24');
    await adapter.bind('2001:db8::104/64');
    await adapter.unbind('198.18.0.104/24');
    await adapter.unbind('2001:db8::104/64');
    assert.equal(await has(net, host, '198.18.0.104/24'), false);
    assert.equal(await has(net, host, '198.18.0.105/24'), true);
    assert.equal(await has(net, host, host.cidr4), true);
    assert.equal(await has(net, host, host.cidr6), true);
    await adapter.unbind('198.18.0.105/24');
  });

  it('isBound distinguishes the prefix length and the interface', async () => {
    await adapter.bind('198.18.0.106/24');
    assert.equal(await adapter.isBound('198.18.0.106/32'), false);
    assert.equal(await adapter.isBound('198.18.0.106/24'), true);
    await adapter.unbind('198.18.0.106/24');
  });
});
