/**
 * The README's demo: a 3-host lab, one VIP on all three hosts, then the owner's agent is
 * killed (kill -9) while the observer asks "who has the VIP?" by ARP every 10 ms and a client
 * pings the VIP every 5 ms through an ordinary kernel neighbour table (lab/client.ts); prints
 * the failover as both saw it: the observer finds whoever holds the VIP, the client only the host
 * its neighbour entry names. Leaves the lab up (tear down: linkctl lab down --name demo),
 * or tears it down with --down.
 */
import { analyseRounds } from './samples.ts';
import { leaseTiming } from '../config/lease-timing.ts';
import { DEFAULT_VIP, Lab } from './lab.ts';
import { printStatus } from './status.ts';

const tearDown = process.argv.includes('--down');
const say = (line: string) => process.stdout.write(`${line}\n`);

say('Building the lab: 3 hosts, 1 etcd, 1 observer, each in its own network namespace…');
const lab = await Lab.up({ name: 'demo', hosts: 3 });
try {
  say(`Adding ${DEFAULT_VIP} on every host (POST /ips)…`);
  for (const host of lab.hosts) {
    const res = await lab.api(host.name, 'POST', '/ips', { ip: DEFAULT_VIP });
    if (res.status !== 201)
      throw new Error(`${host.name}: POST /ips answered ${res.status} ${JSON.stringify(res.body)}`);
  }
  const observation = lab.observe(DEFAULT_VIP, 10);
  const client = await lab.client(DEFAULT_VIP, 5);
  const first = await observation.waitForRound((r) => r.macs.length === 1, 15_000);
  const owner = lab.hostOfMac(first.macs[0]!)!;
  await client.waitForReply(15_000);
  say('');
  await printStatus(lab, say);
  say('');
  say(`The observer sees ${owner} answer for ${DEFAULT_VIP}. Killing ${owner}'s agent (kill -9)…`);
  const killedAt = observation.now;
  const killedAtWall = Date.now();
  await lab.signalAgent(owner, 'SIGKILL');
  const next = await observation.waitForRound(
    (r) => r.macs.length === 1 && lab.hostOfMac(r.macs[0]!) !== owner,
    20_000,
  );
  await observation.waitForRound(() => true, 1000);
  // The client's first reply after the takeover (it may take longer than the observer's).
  await client.waitForReply(10_000).catch(() => undefined);
  await observation.stop();
  const seen = await client.stop(killedAtWall);
  const report = analyseRounds(observation.rounds, killedAt);
  const newOwner = lab.hostOfMac(next.macs[0]!)!;
  const entry = seen.neighbour?.mac ? (lab.hostOfMac(seen.neighbour.mac) ?? seen.neighbour.mac) : 'none';
  const announcers = [
    ...new Set(observation.announcements.filter((a) => a.t >= killedAt).map((a) => lab.hostOfMac(a.mac))),
  ];
  say('');
  say(`Failover as the observer (ARP probe every 10 ms) and a client (ping every 5 ms) saw it:`);
  say(`  new owner:               ${newOwner}`);
  say(
    `  observer's gap:          ${report.longestGapMs.toFixed(0)} ms (lease TTL ${leaseTiming({}).ttlMs / 1000} s, the default; the owner died silently)`,
  );
  say(
    `  client's gap:            ${seen.longestGap.ms.toFixed(0)} ms without a ping reply; its neighbour entry now on ${entry}`,
  );
  say(`  announced by:            ${announcers.join(', ') || 'nobody'} (gratuitous ARP)`);
  say(
    `  time two hosts answered: ${report.twoAnswersMs.toFixed(0)} ms (client: ${seen.duplicates} echoes answered twice)`,
  );
  say('');
  await printStatus(lab, say);
  say('');
  if (tearDown) {
    await lab.down();
    say('Lab torn down.');
  } else {
    say('The lab is still up. Try:');
    say('  bin/linkctl lab status --name demo');
    say(`  bin/linkctl lab start ${owner} --name demo      # bring the killed agent back`);
    say(`  bin/linkctl lab stop ${newOwner} --name demo       # graceful handover`);
    say(`  bin/linkctl ips list --host unix:${lab.host(newOwner).socket}`);
    say(
      `  bin/linkctl lab forward ${newOwner} --name demo --port 13131   # then open http://127.0.0.1:13131/ui`,
    );
    say('  bin/linkctl lab down --name demo               # tear it all down');
  }
} catch (err) {
  await lab.down();
  throw err;
}
