/**
 * The lab's observer: runs inside the observer namespace, asks "who has VIP?" by ARP every
 * `interval` ms from a raw socket, and writes one JSON line per round on stdout:
 *   {"kind":"round","t":123.4,"macs":["02:..."]}
 * plus {"kind":"announce","t":…,"mac":…} for every gratuitous ARP it sees for the VIP.
 * Usage: node --import tsx lab/observer.ts IFACE OBSERVER_IP VIP INTERVAL_MS
 */
import { performance } from 'node:perf_hooks';
import { PacketSocket } from '../adapters/net/packet-socket.ts';
import { BROADCAST_MAC, ZERO_MAC, buildArpFrame, parseArp, parseEthernet } from '../adapters/net/frames.ts';
import { ifNameToIndex, interfaceMac } from '../adapters/net/libc.ts';
import { ETH_P_ARP } from '../adapters/net/linux.ts';

const [iface = 'eth0', observerIp = '', vip = '', intervalText = '10'] = process.argv.slice(2);
const intervalMs = Number(intervalText);
const ipBytes = (text: string) => Uint8Array.from(text.split('.').map(Number));
const macText = (mac: Uint8Array) => [...mac].map((b) => b.toString(16).padStart(2, '0')).join(':');
const same = (a: Uint8Array, b: Uint8Array) => a.length === b.length && a.every((v, i) => v === b[i]);

const { index } = ifNameToIndex(iface);
const mac = interfaceMac(iface);
const socket = PacketSocket.open(iface, index, ETH_P_ARP);
const vipBytes = ipBytes(vip);
const request = buildArpFrame(BROADCAST_MAC, mac, {
  op: 1,
  senderMac: mac,
  senderIp: ipBytes(observerIp),
  targetMac: ZERO_MAC,
  targetIp: vipBytes,
});

let round: { t: number; macs: Set<string> } | null = null;
const out: string[] = [];
const flush = () => {
  if (out.length) process.stdout.write(out.join(''));
  out.length = 0;
};

socket.receive(
  ({ frame }) => {
    const eth = parseEthernet(frame);
    const arp = eth && eth.ethertype === ETH_P_ARP ? parseArp(eth.payload) : null;
    if (!arp || !same(arp.senderIp, vipBytes)) return;
    const sender = macText(arp.senderMac);
    if (arp.op === 2 && round) round.macs.add(sender);
    if (same(arp.targetIp, vipBytes)) {
      out.push(JSON.stringify({ kind: 'announce', t: performance.now(), mac: sender }) + '\n');
    }
  },
  (err) => {
    process.stderr.write(`observer: ${String(err)}\n`);
    process.exit(1);
  },
);

const timer = setInterval(() => {
  if (round) out.push(JSON.stringify({ kind: 'round', t: round.t, macs: [...round.macs] }) + '\n');
  round = { t: performance.now(), macs: new Set() };
  socket.send(request, BROADCAST_MAC, ETH_P_ARP);
  flush();
}, intervalMs);

const stop = () => {
  clearInterval(timer);
  flush();
  socket.close();
  process.exit(0);
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
