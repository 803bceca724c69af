import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createTestNetwork, waitUntil, type TestHost, type TestNetwork } from '../support/netns.ts';
import type { RemoteNetAdapter } from '../support/net-stdio.ts';
import type { Capture, CapturedFrame } from '../../lab/netns.ts';
import { AddressController } from '../../actors/address.ts';
import { silentLogger } from '../../actors/logger.ts';
import type { NetAdapter } from '../../adapters/net/types.ts';
import { formatIp, formatMac, parseIp } from '../../adapters/net/address.ts';
import {
  icmpv6Checksum,
  ndpLinkAddress,
  parseArp,
  parseEthernet,
  parseIpv6,
  parseNdp,
} from '../../adapters/net/frames.ts';

const INTERVAL_MS = 100;
const COUNT = 3;
/** Timer jitter on a loaded CI box; the lower bound is what matters to switches. */
const SPACING_TOLERANCE_MS = { below: 15, above: 150 };

function arpOf(frame: CapturedFrame) {
  const eth = parseEthernet(frame.data);
  const arp = eth?.ethertype === 0x0806 ? parseArp(eth.payload) : null;
  return eth && arp ? { eth, arp } : null;
}

function naOf(frame: CapturedFrame) {
  const eth = parseEthernet(frame.data);
  const ip6 = eth?.ethertype === 0x86dd ? parseIpv6(eth.payload) : null;
  const ndp = ip6 && ip6.nextHeader === 58 ? parseNdp(ip6.payload) : null;
  return eth && ip6 && ndp && ndp.type === 136 ? { eth, ip6, ndp } : null;
}

function assertSpacing(frames: CapturedFrame[]): void {
  for (let i = 1; i < frames.length; i++) {
    const gapMs = (frames[i]!.timeUs - frames[i - 1]!.timeUs) / 1000;
    assert.ok(
      gapMs >= INTERVAL_MS - SPACING_TOLERANCE_MS.below && gapMs <= INTERVAL_MS + SPACING_TOLERANCE_MS.above,
      `frame ${i} came ${gapMs.toFixed(1)} ms after the previous one, expected ~${INTERVAL_MS} ms`,
    );
  }
}

/**
 * A burst as the agent sends it: through actors/address.ts, the one owner of bursts (the adapter
 * sends one frame a call). Resolves once the capture holds COUNT frames of the VIP.
 */
async function announceBurst(
  net: NetAdapter,
  cidr: string,
  capture: Capture,
  ours: (f: CapturedFrame) => boolean,
): Promise<void> {
  const failures: unknown[] = [];
  const controller = new AddressController({
    cidr,
    net,
    lifetimeSec: () => 0,
    announce: { count: COUNT, intervalMs: INTERVAL_MS, refreshIntervalMs: 0 },
    onError: (_code, err) => failures.push(err),
    onAnnounced: () => undefined,
    mayRecreate: () => false,
    logger: silentLogger,
  });
  try {
    controller.want(true);
    controller.announce();
    await capture.waitFor(ours, COUNT, 5000);
    assert.deepEqual(failures, []);
  } finally {
    controller.close();
  }
}

describe('net adapter: announcements seen from a peer namespace', () => {
  let net: TestNetwork;
  let a: TestHost, b: TestHost, observer: TestHost;
  let adapterA: RemoteNetAdapter, adapterB: RemoteNetAdapter;
  before(async () => {
    net = await createTestNetwork({ hosts: 3 });
    [a, b, observer] = net.hosts as [TestHost, TestHost, TestHost];
    [adapterA, adapterB] = await Promise.all([net.adapter(a), net.adapter(b)]);
  });
  after(async () => {
    await Promise.allSettled([adapterA?.close(), adapterB?.close()]);
    await net?.destroy();
  });

  /** Announces a marker VIP once; frames are FIFO on the bridge, so when it arrives all earlier ones have. */
  async function flush(
    capture: { waitFor: (p: (f: CapturedFrame) => boolean) => Promise<unknown> },
    v6: boolean,
  ) {
    const marker = v6 ? '2001:db8::1ff/64' : '198.18.0.254/24';
    await adapterA.announce(marker);
    const target = parseIp(marker.split('/')[0]!).text;
    await capture.waitFor((f) =>
      v6
        ? formatIp(naOf(f)?.ndp.target ?? new Uint8Array(16)) === target
        : formatIp(arpOf(f)?.arp.senderIp ?? new Uint8Array(4)) === target,
    );
  }

  it('a burst is COUNT gratuitous ARP requests, INTERVAL apart, with every field right', async () => {
    const vip = '198.18.0.110';
    await adapterA.bind(`${vip}/24`);
    const cap = await net.capture(b, ['arp']);
    const ours = (f: CapturedFrame): boolean => arpOf(f) !== null && formatIp(arpOf(f)!.arp.senderIp) === vip;
    try {
      await announceBurst(adapterA, `${vip}/24`, cap, ours);
      await flush(cap, false);
      const frames = cap.frames.filter(ours);
      assert.equal(frames.length, COUNT);
      for (const f of frames) {
        const { eth, arp } = arpOf(f)!;
        assert.equal(formatMac(eth.dst), 'ff:ff:ff:ff:ff:ff', 'broadcast destination');
        assert.equal(formatMac(eth.src), a.mac, 'source MAC is the interface MAC');
        assert.equal(f.data.readUInt16BE(14), 1, 'hardware type Ethernet');
        assert.equal(f.data.readUInt16BE(16), 0x0800, 'protocol IPv4');
        assert.equal(f.data[18], 6);
        assert.equal(f.data[19], 4);
        assert.equal(arp.op, 1, 'request form');
        assert.equal(formatMac(arp.senderMac), a.mac);
        assert.equal(formatIp(arp.senderIp), vip);
        assert.equal(formatMac(arp.targetMac), '00:00:00:00:00:00');
        assert.equal(formatIp(arp.targetIp), vip, 'sender IP = target IP = VIP');
      }
      assertSpacing(frames);
    } finally {
      await cap.stop();
      await adapterA.unbind(`${vip}/24`);
    }
  });

  it('optionally sends the reply form too', async () => {
    const vip = '198.18.0.111';
    const cap = await net.capture(b, ['arp']);
    try {
      await adapterA.announce(`${vip}/24`, { arpReply: true });
      await flush(cap, false);
      const ops = cap.frames
        .map(arpOf)
        .filter((x) => x && formatIp(x.arp.senderIp) === vip)
        .map((x) => x!);
      assert.deepEqual(
        ops.map((x) => x.arp.op),
        [1, 2],
      );
      const reply = ops[1]!;
      assert.equal(formatMac(reply.eth.dst), 'ff:ff:ff:ff:ff:ff');
      assert.equal(formatMac(reply.arp.senderMac), a.mac);
      assert.equal(formatMac(reply.arp.targetMac), a.mac);
      assert.equal(formatIp(reply.arp.targetIp), vip);
    } finally {
      await cap.stop();
    }
  });

  it('a burst is COUNT unsolicited neighbour advertisements to ff02::1 with override and target option', async () => {
    const vip = '2001:db8::110';
    await adapterA.bind(`${vip}/64`);
    const cap = await net.capture(b, ['icmp6']);
    const ours = (f: CapturedFrame): boolean => naOf(f) !== null && formatIp(naOf(f)!.ndp.target) === vip;
    try {
      await announceBurst(adapterA, `${vip}/64`, cap, ours);
      await flush(cap, true);
      const frames = cap.frames.filter(ours);
      assert.equal(frames.length, COUNT);
      for (const f of frames) {
        const { eth, ip6, ndp } = naOf(f)!;
        assert.equal(formatMac(eth.dst), '33:33:00:00:00:01', 'all-nodes multicast MAC');
        assert.equal(formatMac(eth.src), a.mac);
        assert.equal(formatIp(ip6.dst), 'ff02::1');
        assert.equal(ip6.hopLimit, 255, 'RFC 4861 hop limit');
        assert.equal(ndp.type, 136);
        assert.equal(ndp.code, 0);
        assert.equal(ndp.checksum, icmpv6Checksum(ip6.src, ip6.dst, ip6.payload), 'valid checksum');
        assert.equal(ndp.flags >>> 29, 0b001, 'override set; router and solicited clear');
        assert.equal(formatIp(ndp.target), vip);
        const tlla = ndpLinkAddress(ndp, 2);
        assert.ok(tlla, 'target link-layer address option present');
        assert.equal(formatMac(tlla), a.mac);
      }
      assertSpacing(frames);
    } finally {
      await cap.stop();
      await adapterA.unbind(`${vip}/64`);
    }
  });

  it('the address controller re-announces every ARP_REFRESH_INTERVAL while wanted and bound, and stops on unbind or when the address is gone', async () => {
    const REFRESH_MS = 150;
    const vip = '198.18.0.115';
    const failures: unknown[] = [];
    const controller = new AddressController({
      cidr: `${vip}/24`,
      net: adapterA,
      lifetimeSec: () => 0,
      announce: { count: 1, intervalMs: 0, refreshIntervalMs: REFRESH_MS },
      onError: (_code, err) => failures.push(err),
      onAnnounced: () => undefined,
      mayRecreate: () => false,
      logger: silentLogger,
    });
    const cap = await net.capture(b, ['arp']);
    const ours = (f: CapturedFrame): boolean => formatIp(arpOf(f)?.arp.senderIp ?? new Uint8Array(4)) === vip;
    /** Absence can only be shown over a window: four refresh periods without a frame. */
    const silentFor = async (ms: number): Promise<number> => {
      const before = cap.frames.filter(ours).length;
      await new Promise((r) => setTimeout(r, ms));
      return cap.frames.filter(ours).length - before;
    };
    try {
      controller.want(true);
      controller.announce();
      const frames = await cap.waitFor(ours, 4, 3000);
      for (let i = 2; i < 4; i++) {
        const gap = (frames[i]!.timeUs - frames[i - 1]!.timeUs) / 1000;
        assert.ok(gap > REFRESH_MS - 20 && gap < REFRESH_MS + 150, `refresh gap ${gap.toFixed(0)} ms`);
      }
      controller.want(false);
      await controller.settled();
      assert.equal(await adapterA.isBound(`${vip}/24`), false);
      assert.equal(await silentFor(4 * REFRESH_MS), 0, 'no refresh after unbind');

      // Bound again: the refresh runs again, without waiting for a new burst.
      controller.want(true);
      await cap.waitFor(ours, cap.frames.filter(ours).length + 2, 3000);
      await net.exec(a, 'ip', ['addr', 'del', `${vip}/24`, 'dev', 'eth0']);
      await silentFor(REFRESH_MS); // a round already running may still send once
      assert.equal(await silentFor(4 * REFRESH_MS), 0, 'no refresh once the address is gone');
      assert.deepEqual(failures, []);
    } finally {
      controller.close();
      await cap.stop();
      await adapterA.unbind(`${vip}/24`).catch(() => undefined);
    }
  });

  for (const family of [4, 6] as const) {
    it(`moves the observer's IPv${family} neighbour entry from A's MAC to B's when B announces`, async () => {
      const vip = family === 4 ? '198.18.0.120' : '2001:db8::120';
      const cidr = family === 4 ? `${vip}/24` : `${vip}/64`;
      const entry = async () => (await net.neighbours(observer)).find((n) => n.dst === vip);
      await adapterA.bind(cidr);
      await net.exec(observer, 'ping', [`-${family}`, '-c1', '-W2', vip]);
      assert.equal((await entry())?.lladdr, a.mac, 'observer learned A');
      await adapterA.unbind(cidr);
      await adapterB.bind(cidr);
      await adapterB.announce(cidr);
      await waitUntil(async () => (await entry())?.lladdr === b.mac, {
        timeoutMs: 3000,
        what: "observer's entry to name B",
      });
      await adapterB.unbind(cidr);
    });
  }
});
