import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { JournalEntry, VipView } from '../../actors/types.ts';
import { formatMac, parseIp } from '../../adapters/net/address.ts';
import { ndpLinkAddress, parseArp, parseEthernet, parseIpv6, parseNdp } from '../../adapters/net/frames.ts';
import { ETH_P_ARP, ND_NEIGHBOR_ADVERT, ND_OPT_TARGET_LINKADDR } from '../../adapters/net/linux.ts';
import { Lab } from '../../lab/lab.ts';
import { capture, spawnNodeIn, type CapturedFrame } from '../../lab/netns.ts';
import { RemoteNetAdapter } from '../support/net-stdio.ts';
import { until } from '../support/until.ts';

/**
 * Issue 14 part 3: the owner defends its VIPs. A real agent holds a VIP in the namespace lab; a
 * real client (lab/client.ts: ping through an ordinary kernel neighbour table) talks to it. A
 * machine that is not a LinK host (the lab's observer, its own MAC) announces the VIP: a
 * gratuitous ARP claiming it (IPv6: an unsolicited advertisement with override). The client's
 * kernel moves its neighbour entry to that MAC; the owner hears the claim and answers with its
 * own announcement, and the client's entry holds the owner's MAC again. Measured from the
 * client's own capture (kernel timestamps, so a loaded test process does not skew it): the
 * owner's answer follows the claim within 50 ms, as issue 14 asks. CONFLICT_DETECTED names the
 * observer's MAC, /metrics counts it, and the notify command runs with LINK_EVENT=conflict and
 * the observer's MAC. Without the defence the entry stays on the observer
 * until it fails (seconds): the test fails at the wait for the owner's MAC.
 */

const CASES = [
  { vip: '198.18.0.170/32', family: 4 as const },
  { vip: '2001:db8::170/128', family: 6 as const },
];
/** Issue 14: "the owner wins the client back within 50 ms". */
const WIN_BACK_MS = 50;

/** The MAC a captured frame announces for `address`, or null: an ARP from it, or an NA for it. */
function announcedMac(frame: CapturedFrame, address: Uint8Array): string | null {
  const eth = parseEthernet(frame.data);
  if (!eth) return null;
  if (eth.ethertype === ETH_P_ARP) {
    const arp = parseArp(eth.payload);
    return arp && Buffer.from(arp.senderIp).equals(address) ? formatMac(arp.senderMac) : null;
  }
  const ip6 = parseIpv6(eth.payload);
  const ndp = ip6 && ip6.nextHeader === 58 ? parseNdp(ip6.payload) : null;
  if (!ndp || ndp.type !== ND_NEIGHBOR_ADVERT || !Buffer.from(ndp.target).equals(address)) return null;
  const mac = ndpLinkAddress(ndp, ND_OPT_TARGET_LINKADDR);
  return mac ? formatMac(mac) : null;
}

describe('the owner defends its VIPs against a foreign announcement', { timeout: 120_000 }, () => {
  let lab: Lab;
  let foreign: RemoteNetAdapter;
  let hookDir: string;
  const hookCalls = async () =>
    (await readFile(join(hookDir, 'calls.log'), 'utf8').catch(() => '')).split('\n').filter(Boolean);

  before(async () => {
    // The notify command (run sandboxed, without arguments) appends what it got to a file here.
    hookDir = await mkdtemp(join(tmpdir(), 'link-defence-'));
    await chmod(hookDir, 0o777);
    const script = join(hookDir, 'notify.sh');
    await writeFile(
      script,
      `#!/bin/sh\nprintf '%s|%s|%s|%s|%s\\n' "$LINK_VIP" "$LINK_EVENT" "$LINK_FROM" "$LINK_TO" "$LINK_CONFLICT_MAC" >> ${hookDir}/calls.log\n`,
    );
    await chmod(script, 0o755);
    lab = await Lab.up({ name: `df-${process.pid}`, hosts: 1, agentEnv: { NOTIFY_EXEC: script } });
    // A net adapter in the observer's namespace: a machine on the bridge that is not a LinK host.
    const child = spawnNodeIn(lab.observer.ns, 'test/support/net-stdio-main.ts', ['--interface', 'eth0']);
    foreign = new RemoteNetAdapter(child, 'eth0');
    await foreign.whenReady();
  });

  after(async () => {
    await foreign?.close().catch(() => undefined);
    await lab?.down();
    if (hookDir) await rm(hookDir, { recursive: true, force: true });
  });

  for (const { vip, family } of CASES) {
    it(`${vip}: a foreign MAC announces it; the owner wins the client back within ${WIN_BACK_MS} ms`, async () => {
      const owner = lab.host('h1');
      const added = await lab.api<VipView>('h1', 'POST', '/ips', { ip: vip });
      assert.equal(added.status, 201, JSON.stringify(added.body));
      const id = added.body.id;
      await until(`h1 to hold ${vip}`, async () => (await lab.holders(vip)).includes('h1'), 10_000);
      // Taking the VIP, h1 probed once for a second holder: nobody else has it yet.
      await until(
        'the takeover probe to find nobody else (TAKEOVER_PROBED)',
        async () => {
          const res = await lab.api<{ events: JournalEntry[] }>('h1', 'GET', `/ips/${id}/events`);
          return res.body.events.some((e) => e.kind === 'note' && e.code === 'TAKEOVER_PROBED');
        },
        5000,
      );

      const client = await lab.client(vip);
      try {
        await client.waitForReply(10_000);
        await until(
          "the client's neighbour entry on h1",
          async () => (await client.neighbour())?.mac === owner.mac,
          5000,
          () => 'not h1',
        );
        const address = parseIp(vip.split('/')[0]!).bytes;
        const filter = family === 4 ? ['arp'] : ['icmp6'];
        const seen = await capture(client.ns, 'eth0', filter);
        let frames: CapturedFrame[];
        const claimedAt = Date.now();
        try {
          await foreign.announce(vip);
          // The client's kernel moved to the observer, then back to the owner.
          await until(
            "the client's neighbour entry back on the owner's MAC",
            async () => {
              const mac = (await client.neighbour())?.mac;
              return (
                mac === owner.mac && seen.frames.some((f) => announcedMac(f, address) === lab.observer.mac)
              );
            },
            5000,
            () => 'the entry still on the observer, or the claim not captured yet',
          );
          await seen.waitFor((f) => announcedMac(f, address) === owner.mac, 1, 5000);
        } finally {
          frames = await seen.stop();
        }
        const claim = frames.find((f) => announcedMac(f, address) === lab.observer.mac);
        assert.ok(claim, 'the foreign announcement reached the client');
        const answer = frames.find((f) => f.timeUs >= claim.timeUs && announcedMac(f, address) === owner.mac);
        assert.ok(answer, "the owner's answer reached the client after the claim");
        const reactionMs = (answer.timeUs - claim.timeUs) / 1000;
        const gap = client.report(claimedAt - 50).longestGap.ms;
        console.log(
          `${vip}: owner answered ${reactionMs.toFixed(2)} ms after the claim (client capture); client's longest gap ${gap.toFixed(0)} ms (ping every 5 ms)`,
        );
        assert.ok(reactionMs <= WIN_BACK_MS, `won back in ${reactionMs} ms, more than ${WIN_BACK_MS} ms`);
        assert.equal((await client.neighbour())?.mac, owner.mac, "the client's entry holds the owner's MAC");

        const note = await until(
          'the CONFLICT_DETECTED note',
          async () => {
            const res = await lab.api<{ events: JournalEntry[] }>('h1', 'GET', `/ips/${id}/events`);
            return res.body.events.find((e) => e.kind === 'note' && e.code === 'CONFLICT_DETECTED');
          },
          5000,
        );
        assert.ok(note.kind === 'note');
        assert.match(note.message, new RegExp(`${lab.observer.mac} claimed it .*defended`));
        const metrics = await lab.api<string>('h1', 'GET', '/metrics');
        const counted = new RegExp(`^link_conflicts_detected_total\\{vip_id="${id}"\\} ([0-9.]+)$`, 'm').exec(
          metrics.body,
        );
        assert.ok(counted && Number(counted[1]) >= 1, `link_conflicts_detected_total for ${id}`);
        let calls: string[] = [];
        await until(
          'the notify command to run for the conflict',
          async () =>
            (calls = await hookCalls()).includes(`${vip}|conflict|ACTIVATED|ACTIVATED|${lab.observer.mac}`),
          10_000,
          () => JSON.stringify(calls),
        );
      } finally {
        await client.stop();
      }
    });
  }
});
