import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { AddressController } from '../../actors/address.ts';
import { VipConflicts } from '../../actors/conflicts.ts';
import { DEFEND_BURST, DEFEND_INTERVAL_MS } from '../../actors/defence.ts';
import { silentLogger } from '../../actors/logger.ts';
import type { NoteCode } from '../../actors/notes.ts';
import { parseIp, parseMac } from '../../adapters/net/address.ts';
import { arpClaimSource, ClaimListener, ndpClaimSource } from '../../adapters/net/claims.ts';
import {
  buildArpFrame,
  buildArpProbe,
  buildGratuitousArp,
  buildNeighbourAdvert,
  buildNeighbourSolicit,
  BROADCAST_MAC,
  ZERO_MAC,
} from '../../adapters/net/frames.ts';
import { ARPOP_REPLY, ARPOP_REQUEST, PACKET_OUTGOING } from '../../adapters/net/linux.ts';
import type { NetAdapter } from '../../adapters/net/types.ts';

/**
 * The owner's defence of its VIPs (RFC 5227 §2.4): fake sockets feed real frames, built by
 * frames.ts, through the adapter's claim listeners into a real address controller and the
 * actor layer's VipConflicts / Defender, with a fake clock. Which frames count as another MAC's
 * claim, what is answered (one announcement, only while etcd says this host owns the VIP), how
 * often (DEFEND_BURST per DEFEND_INTERVAL_MS, the rest folded into one trailing answer), and
 * that the socket is open exactly while the address is held.
 */

const OWN = '02:00:00:00:00:01';
const OTHER = '02:00:00:00:00:99';
const VIP4 = '198.18.0.150/32';
const VIP6 = '2001:db8::150/128';
const ip = (cidr: string) => parseIp(cidr.split('/')[0]!).bytes;

class FakeSocket<R> {
  open = true;
  private deliver: ((received: R) => void) | undefined;
  private fail: ((err: unknown) => void) | undefined;
  receive(onReceived: (received: R) => void, onError: (err: unknown) => void): () => void {
    this.deliver = onReceived;
    this.fail = onError;
    return () => (this.deliver = undefined);
  }
  close(): void {
    this.open = false;
  }
  push(received: R): void {
    if (this.open) this.deliver?.(received);
  }
  error(err: unknown): void {
    this.fail?.(err);
  }
}

type ArpSocket = FakeSocket<{ frame: Buffer; pktType: number }>;
type NdpSocket = FakeSocket<{ message: Buffer; source: Uint8Array }>;

/** A virtual clock and its timers. */
function fakeClock() {
  let now = 0;
  const timers: { at: number; fn: () => void }[] = [];
  return {
    now: () => now,
    setTimer: (fn: () => void, ms: number) => {
      const timer = { at: now + ms, fn };
      timers.push(timer);
      return () => timers.splice(timers.indexOf(timer) >>> 0, 1);
    },
    advance(ms: number) {
      const until = now + ms;
      for (;;) {
        timers.sort((a, b) => a.at - b.at);
        const next = timers[0];
        if (!next || next.at > until) break;
        timers.shift();
        now = next.at;
        next.fn();
      }
      now = until;
    },
  };
}

function setup(cidr = VIP4, heldAtStart = false) {
  const sockets: { arp: ArpSocket[]; ndp: NdpSocket[] } = { arp: [], ndp: [] };
  const v4 = new ClaimListener(() => {
    const socket: ArpSocket = new FakeSocket();
    sockets.arp.push(socket);
    return arpClaimSource(socket, parseMac(OWN));
  });
  const v6 = new ClaimListener(() => {
    const socket: NdpSocket = new FakeSocket();
    sockets.ndp.push(socket);
    return ndpClaimSource(socket, parseMac(OWN));
  });
  const sent: string[] = [];
  const net: NetAdapter = {
    interfaceName: 'test0',
    bind: () => Promise.resolve(),
    refresh: () => Promise.resolve(),
    refreshMany: () => Promise.resolve(new Map()),
    unbind: () => Promise.resolve(),
    isBound: () => Promise.resolve(true),
    announce: (c) => (sent.push(`announce ${c}`), Promise.resolve()),
    probeConflict: () => Promise.resolve(null),
    addresses: () => Promise.resolve([]),
    hardwareAddress: () => Promise.resolve(OWN),
    close: () => Promise.resolve(),
    watchClaims: (c, handlers) => (c.includes(':') ? v6 : v4).watch(ip(c), c, handlers),
    sendProbe: (c) => sent.push(`probe ${c}`),
  };
  const clock = fakeClock();
  const notes: { code: NoteCode; message: string }[] = [];
  const hooks: string[] = [];
  const state = { owner: true };
  /** The takeover probe's waits, released by the test (no real listening time). */
  const sleeps: (() => void)[] = [];
  const wake = async () => {
    await until(() => sleeps.length > 0);
    sleeps.shift()!();
  };
  const address: AddressController = new AddressController({
    cidr,
    net,
    lifetimeSec: () => 0,
    announce: { count: 1, intervalMs: 0, refreshIntervalMs: 0 },
    onError: (code) => notes.push({ code, message: '' }),
    onAnnounced: () => undefined,
    mayRecreate: () => true,
    logger: silentLogger,
    onClaim: (claim) => conflicts.claim(claim),
    onClaimWatchError: (err) => notes.push({ code: 'CLAIM_WATCH_FAILED', message: String(err) }),
  });
  const conflicts = new VipConflicts({
    cidr,
    net,
    address: () => address,
    isOwner: () => state.owner,
    note: (code, message) => notes.push({ code, message }),
    notifyConflict: (mac) => hooks.push(mac),
    onProbeError: (err) => notes.push({ code: 'PROBE_FAILED', message: String(err) }),
    probeListenMs: 20,
    heldAtStart,
    defender: { now: clock.now, setTimer: clock.setTimer },
    sleep: () => new Promise<void>((resolve) => sleeps.push(resolve)),
  });
  const arp = () => sockets.arp.at(-1)!;
  const ndp = () => sockets.ndp.at(-1)!;
  return { address, conflicts, sockets, arp, ndp, sent, notes, hooks, clock, state, v4, wake };
}

async function held(t: ReturnType<typeof setup>) {
  t.address.want(true);
  await t.address.settled();
  assert.ok(t.address.isBound);
}

const frame = (f: Buffer, pktType = 0) => ({ frame: f, pktType });
const conflictNotes = (t: ReturnType<typeof setup>) => t.notes.filter((n) => n.code === 'CONFLICT_DETECTED');

describe('the owner defends its VIPs (RFC 5227 §2.4)', () => {
  it('answers a gratuitous ARP from another MAC at once with one announcement, noted and hooked', async () => {
    const t = setup();
    await held(t);
    t.arp().push(frame(buildGratuitousArp(parseMac(OTHER), ip(VIP4))));
    assert.deepEqual(t.sent, [`announce ${VIP4}`], 'one announcement, in the same turn');
    const [note] = conflictNotes(t);
    assert.match(
      note!.message,
      new RegExp(`${OTHER} claimed it \\(ARP request\\) while this host owns it: defended`),
    );
    assert.deepEqual(t.hooks, [OTHER]);
  });

  it('counts any ARP packet from the VIP by another MAC, request or reply; nothing else', async () => {
    const t = setup();
    await held(t);
    const other = parseMac(OTHER);
    const own = parseMac(OWN);
    const notClaims: [string, { frame: Buffer; pktType: number }][] = [
      ['our own announcement', frame(buildGratuitousArp(own, ip(VIP4)))],
      ['a frame this host sent', frame(buildGratuitousArp(other, ip(VIP4)), PACKET_OUTGOING)],
      ['an RFC 5227 probe (sender 0.0.0.0): the kernel answers it', frame(buildArpProbe(other, ip(VIP4)))],
      ['a claim on another address', frame(buildGratuitousArp(other, ip('198.18.0.151/32')))],
      [
        'a request for the VIP from another address',
        frame(
          buildArpFrame(BROADCAST_MAC, other, {
            op: ARPOP_REQUEST,
            senderMac: other,
            senderIp: ip('198.18.0.20/32'),
            targetMac: ZERO_MAC,
            targetIp: ip(VIP4),
          }),
        ),
      ],
      ['a truncated frame', frame(buildGratuitousArp(other, ip(VIP4)).subarray(0, 30))],
    ];
    for (const [what, f] of notClaims) {
      t.arp().push(f);
      assert.deepEqual(t.sent, [], `${what} is no claim`);
    }
    t.arp().push(
      frame(
        buildArpFrame(parseMac(OWN), other, {
          op: ARPOP_REPLY,
          senderMac: other,
          senderIp: ip(VIP4),
          targetMac: own,
          targetIp: ip('198.18.0.11/32'),
        }),
      ),
    );
    assert.deepEqual(t.sent, [`announce ${VIP4}`], 'an ARP reply from the VIP by another MAC is a claim');
    assert.match(conflictNotes(t)[0]!.message, /\(ARP reply\)/);
  });

  it(`answers at most ${DEFEND_BURST} claims per ${DEFEND_INTERVAL_MS} ms; the rest once, at the end of the window`, async () => {
    const t = setup();
    await held(t);
    const claim = () => t.arp().push(frame(buildGratuitousArp(parseMac(OTHER), ip(VIP4))));
    for (let i = 0; i < DEFEND_BURST; i++) {
      claim();
      t.clock.advance(100);
    }
    assert.equal(t.sent.length, DEFEND_BURST, "a peer's burst is answered frame by frame");
    for (let i = 0; i < 10; i++) claim();
    assert.equal(t.sent.length, DEFEND_BURST, 'beyond the rate: held back');
    t.clock.advance(DEFEND_INTERVAL_MS - DEFEND_BURST * 100 - 1);
    assert.equal(t.sent.length, DEFEND_BURST, 'not before the window frees a slot');
    t.clock.advance(1);
    assert.equal(t.sent.length, DEFEND_BURST + 1, 'one trailing answer: the last word is the owner’s');
    const notes = conflictNotes(t);
    assert.equal(notes.length, DEFEND_BURST + 1, 'notes follow the same rate');
    assert.match(notes.at(-1)!.message, /10 frames since the last answer/);
    t.clock.advance(10 * DEFEND_INTERVAL_MS);
    assert.equal(t.sent.length, DEFEND_BURST + 1, 'nothing pending: no more answers');
  });

  it('a host etcd does not name as owner only notes the claim, and never announces', async () => {
    const t = setup();
    await held(t);
    t.state.owner = false;
    t.arp().push(frame(buildGratuitousArp(parseMac(OTHER), ip(VIP4))));
    assert.deepEqual(t.sent, []);
    assert.match(conflictNotes(t)[0]!.message, /etcd does not say this host owns it.*not defended/);
  });

  it('listens exactly while the address is held: one socket for every VIP, closed when none is held', async () => {
    const t = setup();
    assert.equal(t.sockets.arp.length, 0, 'nothing held: no socket');
    await held(t);
    assert.equal(t.v4.openSockets, 1);
    t.address.want(false);
    await t.address.settled();
    assert.equal(t.arp().open, false, 'given up: socket closed');
    t.arp().push(frame(buildGratuitousArp(parseMac(OTHER), ip(VIP4))));
    assert.deepEqual(t.sent, [], 'a VIP not held is not defended');
    await held(t);
    assert.equal(t.sockets.arp.length, 2, 'held again: listening again');
  });

  it('a failed socket ends the watch and is noted (CLAIM_WATCH_FAILED)', async () => {
    const t = setup();
    await held(t);
    t.arp().error(new Error('EPERM'));
    assert.equal(t.arp().open, false);
    assert.match(t.notes.find((n) => n.code === 'CLAIM_WATCH_FAILED')!.message, /EPERM/);
  });

  it('IPv6: an advertisement for the VIP or a solicitation from it with another MAC is a claim', async () => {
    const t = setup(VIP6);
    await held(t);
    const linkLocal = ip('fe80::99/128');
    t.ndp().push({ message: buildNeighbourAdvert(ip(VIP6), parseMac(OWN)), source: linkLocal });
    t.ndp().push({ message: buildNeighbourSolicit(ip(VIP6), parseMac(OTHER)), source: new Uint8Array(16) });
    assert.deepEqual(t.sent, [], 'our own advertisement and a DAD solicitation (from ::) are no claims');
    t.ndp().push({ message: buildNeighbourAdvert(ip(VIP6), parseMac(OTHER)), source: linkLocal });
    assert.deepEqual(t.sent, [`announce ${VIP6}`]);
    t.ndp().push({
      message: buildNeighbourSolicit(ip('2001:db8::1/128'), parseMac(OTHER)),
      source: ip(VIP6),
    });
    assert.equal(t.sent.length, 2, 'a solicitation sent from the VIP by another MAC');
    assert.match(conflictNotes(t)[1]!.message, /neighbour solicitation/);
  });

  it('after a takeover, one probe: a second holder answering is named, and defended', async () => {
    const t = setup();
    await held(t);
    t.conflicts.afterTakeover();
    await t.address.settled();
    await until(() => t.sent.includes(`probe ${VIP4}`));
    // The former owner's kernel answers the probe: an ARP reply from the VIP.
    t.arp().push(
      frame(
        buildArpFrame(parseMac(OWN), parseMac(OTHER), {
          op: ARPOP_REPLY,
          senderMac: parseMac(OTHER),
          senderIp: ip(VIP4),
          targetMac: parseMac(OWN),
          targetIp: new Uint8Array(4),
        }),
      ),
    );
    assert.ok(t.sent.includes(`announce ${VIP4}`), 'defended');
    await t.wake();
    await t.wake();
    const second = await until(() => t.notes.find((n) => n.code === 'SECOND_HOLDER'));
    assert.match(second.message, new RegExp(OTHER));

    const alone = setup();
    await held(alone);
    alone.conflicts.afterTakeover();
    await alone.wake();
    await alone.wake();
    const clean = await until(() => alone.notes.find((n) => n.code === 'TAKEOVER_PROBED'));
    assert.match(clean.message, /no other machine answered/);
    assert.equal(alone.sent.filter((s) => s.startsWith('probe')).length, 2, 'a second probe halfway');
  });
});

describe('the takeover probe', () => {
  it('is not sent when a restart resumes the address it kept bound; it is at the next takeover', async () => {
    const t = setup(VIP4, true);
    await held(t);
    t.conflicts.afterTakeover();
    await t.address.settled();
    await new Promise((resolve) => setImmediate(resolve));
    assert.deepEqual(t.sent, [], "a restart's own address: no probe");
    t.conflicts.afterTakeover();
    await t.wake();
    await t.wake();
    await until(() => t.notes.find((n) => n.code === 'TAKEOVER_PROBED'));
  });
});

/** Waits for a condition of the promise chain (the probe runs after the address queue settles). */
async function until<T>(probe: () => T | undefined | false): Promise<T> {
  const deadline = Date.now() + 5000;
  for (;;) {
    const value = probe();
    if (value) return value;
    if (Date.now() > deadline) assert.fail('condition not met within 5 s');
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}
