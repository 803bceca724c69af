import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { DEFAULT_VIP, Lab } from '../../lab/lab.ts';
import { addresses, spawnIn } from '../../lab/netns.ts';
import { analyseRounds } from '../../lab/samples.ts';
import type { AgentHealth, JournalEntry, VipView } from '../../actors/types.ts';
import type { HostMembership } from '../../adapters/etcd/types.ts';
import type { HealthCheckSpec } from '../../adapters/health/types.ts';
import { until } from '../support/until.ts';

/**
 * Health checks gate candidacy, in a real lab: three agents carry one VIP with a TCP check on
 * a small service in each host's namespace. A host whose service dies goes FAILING, unbinds,
 * leaves the candidates and never takes the lock; a healthy host takes over within
 * fall × interval + margin. All hosts sick: nobody holds the VIP, /healthz and /metrics say why.
 * PATCH replaces the checks of a running VIP without dropping it, and the change is persisted.
 */

const INTERVAL_MS = 200;
const FALL = 3;
/** etcd round trips, a check timing out instead of being refused, a loaded machine. */
const MARGIN_MS = 1500;
const MOVE_BOUND_MS = FALL * INTERVAL_MS + MARGIN_MS;
const SERVICE_PORT = 7000;
const OTHER_PORT = 7001;
const VIP_ADDRESS = DEFAULT_VIP.split('/')[0]!;

const SERVICE_SCRIPT = `
const port = Number(process.argv[1]);
require('node:net').createServer((c) => c.destroy()).listen(port, '127.0.0.1', () => console.log('ready'));
`;

/** A TCP listener on 127.0.0.1:port inside one host's namespace (its "service"). */
class Service {
  private constructor(
    private readonly child: ChildProcess,
    private readonly closed: Promise<void>,
  ) {}

  static async start(ns: string, port: number): Promise<Service> {
    const child = spawnIn(ns, process.execPath, ['-e', SERVICE_SCRIPT, String(port)]);
    const closed = new Promise<void>((resolve) => child.once('close', () => resolve()));
    const lines = createInterface({ input: child.stdout! });
    let stderr = '';
    child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`service ${ns}:${port} not ready: ${stderr}`)), 10_000);
      lines.on('line', (line) => {
        if (line.trim() !== 'ready') return;
        clearTimeout(timer);
        resolve();
      });
      child.once('close', () => {
        clearTimeout(timer);
        reject(new Error(`service ${ns}:${port} exited: ${stderr}`));
      });
    });
    return new Service(child, closed);
  }

  async stop(): Promise<void> {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGKILL');
    await this.closed;
  }
}

describe('health checks gate candidacy in the lab', { timeout: 240_000 }, () => {
  let lab: Lab;
  /** The VIP's id on each host (each agent has its own configuration). */
  const ids = new Map<string, string>();
  const services = new Map<string, Service>();

  const idOf = (host: string): string => ids.get(host)!;
  const view = async (host: string): Promise<VipView> =>
    (await lab.api<{ ip: VipView }>(host, 'GET', `/ips/${idOf(host)}`)).body.ip;
  const statusOf = async (host: string) => (await view(host)).status;
  const hostsSeenFrom = async (host: string): Promise<HostMembership[]> =>
    (await lab.api<{ hosts: HostMembership[] }>(host, 'GET', `/ips/${idOf(host)}/hosts`)).body.hosts;
  const journalOf = async (host: string): Promise<JournalEntry[]> =>
    (await lab.api<{ events: JournalEntry[] }>(host, 'GET', `/ips/${idOf(host)}/events`)).body.events;

  async function startService(host: string, port = SERVICE_PORT): Promise<void> {
    services.set(`${host}:${port}`, await Service.start(lab.host(host).ns, port));
  }
  async function stopService(host: string, port = SERVICE_PORT): Promise<void> {
    await services.get(`${host}:${port}`)?.stop();
    services.delete(`${host}:${port}`);
  }

  async function singleHolder(timeoutMs = MOVE_BOUND_MS + 2000): Promise<string> {
    return until(
      'exactly one host to bind the VIP',
      async () => {
        const holders = await lab.holders(DEFAULT_VIP);
        return holders.length === 1 ? holders[0] : null;
      },
      timeoutMs,
    );
  }

  /** Samples, until stopped, who owns the lock and who is a candidate, as a healthy host sees it. */
  function sampleElection(from: string) {
    const owners = new Set<string>();
    const members = new Set<string>();
    let running = true;
    const loop = (async () => {
      while (running) {
        for (const h of await hostsSeenFrom(from)) {
          members.add(h.hostname);
          if (h.owner) owners.add(h.hostname);
        }
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    })();
    return {
      owners,
      members,
      stop: async () => {
        running = false;
        await loop;
      },
    };
  }

  before(async () => {
    lab = await Lab.up({
      name: `hl-${process.pid}`,
      hosts: 3,
      agentEnv: {
        HEALTH_CHECK_INTERVAL: `${INTERVAL_MS}ms`,
        HEALTH_CHECK_TIMEOUT: '150ms',
        FAIL_COUNT_BEFORE_FAILOVER: String(FALL),
        RISE_COUNT: '1',
      },
    });
    for (const host of lab.hosts) await startService(host.name);
    const checks: HealthCheckSpec[] = [{ type: 'TCP', host: '127.0.0.1', port: SERVICE_PORT }];
    for (const host of lab.hosts) {
      const res = await lab.api<VipView>(host.name, 'POST', '/ips', { ip: DEFAULT_VIP, checks });
      assert.equal(res.status, 201, JSON.stringify(res.body));
      ids.set(host.name, res.body.id);
    }
  });

  after(async () => {
    for (const service of services.values()) await service.stop().catch(() => undefined);
    await lab?.down();
  });

  it("the owner's service stops: the VIP moves within fall × interval + margin; the sick host never competes; back, it stays STANDBY", async () => {
    const owner = await singleHolder();
    const healthy = lab.hosts.map((h) => h.name).filter((h) => h !== owner);
    const witness = healthy[0]!;
    await until(
      'every host to be a candidate',
      async () => (await hostsSeenFrom(witness)).length === 3,
      5000,
    );

    const observation = lab.observe(DEFAULT_VIP, 10);
    await observation.waitForRound((r) => r.macs.length > 0, 5000);
    const observedFrom = observation.now;
    const stoppedAt = Date.now();
    await stopService(owner);
    const successor = await until(
      'a healthy host to bind the VIP',
      async () => (await lab.holders(DEFAULT_VIP)).find((h) => h !== owner),
      MOVE_BOUND_MS,
    );
    const movedMs = Date.now() - stoppedAt;
    assert.ok(healthy.includes(successor));
    await until('the sick host to be FAILING', async () => (await statusOf(owner)) === 'FAILING', 2000);
    assert.ok(!(await lab.holders(DEFAULT_VIP)).includes(owner), 'the sick host still binds the VIP');
    await until(
      'the sick host to leave the candidates',
      async () => !(await hostsSeenFrom(witness)).some((h) => h.hostname === owner),
      2000,
    );
    await observation.waitForRound((r) => r.macs.includes(lab.host(successor).mac), 2000);
    await observation.stop();
    const report = analyseRounds(observation.rounds, observedFrom);
    console.log(
      `service stop: ${successor} bound the VIP ${movedMs} ms after the service died ` +
        `(bound ${MOVE_BOUND_MS} ms); observer gap ${report.longestGapMs.toFixed(0)} ms, ` +
        `two answers ${report.twoAnswersMs.toFixed(0)} ms`,
    );
    assert.equal(report.twoAnswersMs, 0, 'two hosts answered for the VIP');

    // FAILING for several fall periods: never the owner, never a candidate, never bound.
    const sampler = sampleElection(witness);
    const failingUntil = Date.now() + 4 * FALL * INTERVAL_MS;
    while (Date.now() < failingUntil) {
      assert.ok(!(await lab.holders(DEFAULT_VIP)).includes(owner), 'the sick host bound the VIP');
      assert.equal(await statusOf(owner), 'FAILING');
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    await sampler.stop();
    assert.ok(!sampler.owners.has(owner), 'the sick host took the lock');
    assert.ok(!sampler.members.has(owner), 'the sick host stayed a candidate');
    const failing = (await journalOf(owner)).filter(
      (e): e is Extract<JournalEntry, { kind: 'event' }> => e.kind === 'event' && e.from === 'FAILING',
    );
    assert.ok(!failing.some((e) => e.event === 'elected'), 'the sick host was elected while FAILING');
    assert.deepEqual(await lab.holders(DEFAULT_VIP), [successor]);

    // The service comes back: STANDBY, a candidate again, and it does not take the VIP back.
    await startService(owner);
    await until('the recovered host to be STANDBY', async () => (await statusOf(owner)) === 'STANDBY', 3000);
    await until(
      'the recovered host to be a candidate again',
      async () => (await hostsSeenFrom(witness)).some((h) => h.hostname === owner && !h.owner),
      2000,
    );
    const stableUntil = Date.now() + 4 * FALL * INTERVAL_MS;
    while (Date.now() < stableUntil) {
      assert.deepEqual(await lab.holders(DEFAULT_VIP), [successor], 'the recovered host took the VIP back');
      assert.equal(await statusOf(owner), 'STANDBY');
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  });

  it('all hosts unhealthy: nobody holds the VIP; /healthz answers 503 saying why; /metrics shows FAILING', async () => {
    await singleHolder();
    const names = lab.hosts.map((h) => h.name);
    await Promise.all(names.map((h) => stopService(h)));
    await until(
      'every host to be FAILING',
      async () => (await Promise.all(names.map(statusOf))).every((s) => s === 'FAILING'),
      MOVE_BOUND_MS,
    );
    await until('nobody to bind the VIP', async () => (await lab.holders(DEFAULT_VIP)).length === 0, 2000);
    await until(
      'the lock to be free and no candidate left',
      async () => (await hostsSeenFrom(names[0]!)).length === 0,
      2000,
    );
    // It stays that way: no host competes while its checks fail.
    const quietUntil = Date.now() + 3 * FALL * INTERVAL_MS;
    while (Date.now() < quietUntil) {
      assert.deepEqual(await lab.holders(DEFAULT_VIP), []);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }

    for (const host of names) {
      const health = await lab.api<AgentHealth & { status: string; error: string }>(host, 'GET', '/healthz');
      assert.equal(health.status, 503, JSON.stringify(health.body));
      assert.equal(health.body.status, 'failing');
      assert.match(
        health.body.error,
        new RegExp(`health checks failing for ${VIP_ADDRESS.replaceAll('.', '\\.')}`),
      );

      const metrics = (await lab.api<string>(host, 'GET', '/metrics')).body;
      const failing = new RegExp(
        `^link_vip_state\\{[^}]*vip_id="${idOf(host)}"[^}]*state="FAILING"[^}]*\\} 1$`,
        'm',
      );
      assert.match(metrics, failing);
      assert.match(metrics, /^link_agent_healthy 0$/m);
    }

    // One service back: that host competes again and takes the VIP.
    await startService(names[1]!);
    assert.equal(await singleHolder(), names[1]);
    await until(
      'the recovered host to be ACTIVATED',
      async () => (await statusOf(names[1]!)) === 'ACTIVATED',
      2000,
    );
    assert.equal((await lab.api(names[1]!, 'GET', '/healthz')).status, 200);
    await Promise.all([names[0]!, names[2]!].map((h) => startService(h)));
    await until(
      'every host to be healthy again',
      async () => (await Promise.all(names.map(statusOf))).every((s) => s !== 'FAILING'),
      3000,
    );
  });

  it('PATCH replaces the checks live: the owner stays ACTIVATED, the address never leaves the kernel, the change is persisted', async () => {
    const owner = await singleHolder();
    const ns = lab.host(owner).ns;
    await startService(owner, OTHER_PORT);
    const seqBefore = Math.max(...(await journalOf(owner)).map((e) => e.seq));

    let left = 0;
    let samples = 0;
    let watching = true;
    const watcher = (async () => {
      while (watching) {
        samples++;
        if (!(await addresses(ns, 'eth0')).some((a) => a.local === VIP_ADDRESS)) left++;
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
    })();
    const newChecks: HealthCheckSpec[] = [{ type: 'TCP', host: '127.0.0.1', port: OTHER_PORT }];
    try {
      const res = await lab.api<VipView>(owner, 'PATCH', `/ips/${idOf(owner)}`, { checks: newChecks });
      assert.equal(res.status, 200, JSON.stringify(res.body));
      assert.deepEqual(res.body.checks, newChecks);
      // Several rounds of the new checks.
      const until2 = Date.now() + 3 * FALL * INTERVAL_MS;
      while (Date.now() < until2) {
        assert.equal(await statusOf(owner), 'ACTIVATED');
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    } finally {
      watching = false;
      await watcher;
    }
    assert.equal(
      left,
      0,
      `the VIP left the owner's kernel in ${left} of ${samples} samples during the PATCH`,
    );
    const transitions = (await journalOf(owner)).filter(
      (e) => e.seq > seqBefore && e.kind === 'event' && e.from !== e.to,
    );
    assert.deepEqual(transitions, [], 'the owner changed state during the PATCH');

    // Persisted in etcd.
    const stored = await lab.etcdctl(['get', `/link/hosts/${owner}/${idOf(owner)}`, '--print-value-only']);
    assert.deepEqual((JSON.parse(stored) as { checks: HealthCheckSpec[] }).checks, newChecks);

    // The new checks are the ones running: the old service going away changes nothing...
    await stopService(owner, SERVICE_PORT);
    const stillUntil = Date.now() + 2 * FALL * INTERVAL_MS;
    while (Date.now() < stillUntil) {
      assert.equal(await statusOf(owner), 'ACTIVATED');
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    // ...and the new service going away makes the owner give the VIP up.
    await stopService(owner, OTHER_PORT);
    await until(
      'the owner to go FAILING on the new check',
      async () => (await statusOf(owner)) === 'FAILING',
      MOVE_BOUND_MS,
    );
    const successor = await singleHolder();
    assert.notEqual(successor, owner);

    // Survives a restart of the agent (read back from etcd).
    await lab.signalAgent(owner, 'SIGTERM');
    await lab.startAgent(owner);
    assert.deepEqual((await view(owner)).checks, newChecks);
    await until(
      'the restarted host to be FAILING (its new check still fails)',
      async () => (await statusOf(owner)) === 'FAILING',
      MOVE_BOUND_MS + 2000,
    );
    await startService(owner, OTHER_PORT);
    await until(
      'the restarted host to be STANDBY once its new check passes',
      async () => (await statusOf(owner)) === 'STANDBY',
      3000,
    );
    assert.deepEqual(await lab.holders(DEFAULT_VIP), [successor]);
  });
});

describe('a VIP that fails its checks during its announcement burst', { timeout: 120_000 }, () => {
  // A long burst (8 × 250 ms, longer than the address lifetime under a 2 s lease): the
  // unbind of FAILING and the address refreshes must not wait for it, and the lock must be
  // released only after the unbind.
  let lab: Lab;
  const ids = new Map<string, string>();
  const services = new Map<string, Service>();
  const statusOf = async (host: string) =>
    (await lab.api<{ ip: VipView }>(host, 'GET', `/ips/${ids.get(host)!}`)).body.ip.status;

  before(async () => {
    lab = await Lab.up({
      name: `hb-${process.pid}`,
      hosts: 2,
      agentEnv: {
        HEALTH_CHECK_INTERVAL: `${INTERVAL_MS}ms`,
        HEALTH_CHECK_TIMEOUT: '150ms',
        FAIL_COUNT_BEFORE_FAILOVER: String(FALL),
        ARP_GRATUITOUS_COUNT: '8',
        ARP_GRATUITOUS_INTERVAL: '250ms',
        LEASE_TTL: '2s',
      },
    });
    for (const host of lab.hosts) services.set(host.name, await Service.start(host.ns, SERVICE_PORT));
    const checks: HealthCheckSpec[] = [{ type: 'TCP', host: '127.0.0.1', port: SERVICE_PORT }];
    for (const host of lab.hosts) {
      const res = await lab.api<VipView>(host.name, 'POST', '/ips', { ip: DEFAULT_VIP, checks });
      assert.equal(res.status, 201, JSON.stringify(res.body));
      ids.set(host.name, res.body.id);
    }
  });

  after(async () => {
    for (const service of services.values()) await service.stop().catch(() => undefined);
    await lab?.down();
  });

  it('unbinds before it releases the lock: never two holders', async () => {
    const first = await until(
      'one holder',
      async () => {
        const holders = await lab.holders(DEFAULT_VIP);
        return holders.length === 1 ? holders[0] : null;
      },
      5000,
    );
    const second = lab.hosts.map((h) => h.name).find((h) => h !== first)!;
    await until('the other host STANDBY', async () => (await statusOf(second)) === 'STANDBY', 3000);
    // Hand over: `second` is elected and starts its 1.75 s burst; its service dies at once.
    assert.equal((await lab.api(first, 'POST', `/ips/${ids.get(first)!}/failover`)).status, 204);
    await services.get(second)!.stop();
    let both = 0;
    let samples = 0;
    const start = Date.now();
    const timeline: string[] = [];
    const deadline = Date.now() + FALL * INTERVAL_MS + 2500;
    while (Date.now() < deadline) {
      samples++;
      const holders = await lab.holders(DEFAULT_VIP);
      timeline.push(`${Date.now() - start} ${holders.join(',')}`);
      if (holders.length > 1) both++;
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    assert.equal(await statusOf(second), 'FAILING');
    console.log(
      'holders after the handover (ms: hosts): ' +
        timeline
          .filter((line, i) => i === 0 || line.split(' ')[1] !== timeline[i - 1]!.split(' ')[1])
          .join('; '),
    );
    assert.deepEqual(await lab.holders(DEFAULT_VIP), [first]);
    assert.equal(both, 0, `two hosts held the VIP in ${both} of ${samples} samples`);
  });
});
