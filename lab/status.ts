import type { VipView } from '../actors/types.ts';
import type { Lab } from './lab.ts';

/** What `linkctl lab status` and the demo print: each host's VIPs, then who holds each in the kernel. */
export async function printStatus(
  lab: Lab,
  write: (line: string) => void = (l) => process.stdout.write(l + '\n'),
) {
  write(`lab ${lab.name}: ${lab.hosts.length} hosts, etcd ${lab.etcdHosts}, observer ${lab.observer.ip}`);
  for (const host of lab.hosts) {
    let vips = 'agent not running';
    if (lab.agentRunning(host.name)) {
      const res = await lab.api<{ ips: VipView[] }>(host.name, 'GET', '/ips').catch(() => null);
      vips =
        res && res.status === 200
          ? res.body.ips.map((v) => `${v.ip} ${v.status}`).join(', ') || 'no VIPs'
          : 'API unreachable';
    }
    write(`  ${host.name.padEnd(4)} ${host.ip.padEnd(14)} ${host.mac}  ${vips}`);
  }
  const seen = new Set<string>();
  for (const host of lab.hosts) {
    if (!lab.agentRunning(host.name)) continue;
    const res = await lab.api<{ ips: VipView[] }>(host.name, 'GET', '/ips').catch(() => null);
    for (const vip of res?.status === 200 ? res.body.ips : []) seen.add(vip.ip);
  }
  for (const vip of seen)
    write(`  ${vip} is bound (kernel) on: ${(await lab.holders(vip)).join(', ') || 'nobody'}`);
}
