import { DEFAULT_VIP, type Lab, type LabSpec } from '../../lab/lab.ts';
import { VrrpDaemons, type VrrpKind } from '../../lab/vrrp.ts';
import type { VipView } from '../../actors/types.ts';

/**
 * The systems the failover benchmark compares, behind one small interface: how to bring one up
 * in a lab, inject each fault on the current owner, and restore the lab afterwards.
 */

/** How long the frozen scenarios last (issue 14's figures: a VM pause, a long GC, a stalled etcd disk). */
export const FROZEN_STANDBYS_MS = 4000;
export const FROZEN_ETCD_MS = 3000;

export type Scenario =
  'crash' | 'kill9' | 'graceful' | 'restart' | 'switchover' | 'standbys-frozen' | 'etcd-frozen';

export const SCENARIOS: readonly Scenario[] = [
  'crash',
  'kill9',
  'graceful',
  'restart',
  'switchover',
  'standbys-frozen',
  'etcd-frozen',
];

export const SCENARIO_TEXT: Record<Scenario, string> = {
  crash: 'owner host crash (switch port cut)',
  kill9: 'owner process kill -9',
  graceful: 'owner graceful stop (SIGTERM)',
  restart: 'owner agent restart (SIGUSR2 + start)',
  switchover: 'manual switchover (POST /ips/:id/failover)',
  'standbys-frozen': `both standbys' daemons frozen ${FROZEN_STANDBYS_MS / 1000} s (SIGSTOP), then resumed; owner untouched`,
  'etcd-frozen': `etcd frozen ${FROZEN_ETCD_MS / 1000} s (SIGSTOP), then resumed`,
};

/** Scenarios in which the owner is meant to stay the owner: no takeover to wait for. */
export const NO_TAKEOVER: readonly Scenario[] = ['restart', 'standbys-frozen', 'etcd-frozen'];

/** Waits `ms` of wall time: how long a freeze lasts. */
function freezeFor(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

export const VIP = DEFAULT_VIP;

export interface SystemDef {
  id: string;
  label: string;
  /** Lab options (etcd flags, agent environment). */
  lab: Pick<LabSpec, 'etcdFlags' | 'agentEnv'>;
  scenarios: readonly Scenario[];
  /** A driver for a lab built with `lab`. */
  driver(lab: Lab): SystemDriver;
}

export interface SystemDriver {
  /** Starts the system on every host with the VIP configured. */
  start(): Promise<void>;
  /** Every daemon runs and has settled (LinK: no VIP in BOOTING, exactly one ACTIVATED). */
  ready(): Promise<boolean>;
  fault(scenario: Scenario, owner: string): Promise<void>;
  /** Undoes what `fault` did (link back, daemon restarted). */
  restore(scenario: Scenario, owner: string): Promise<void>;
  stop(): Promise<void>;
}

/** etcd's own defaults (heartbeat 100 ms, election 1 s): the lab's fast flags removed. */
const ETCD_DEFAULTS: string[] = [];
const ETCD_TUNED = ['--heartbeat-interval=10', '--election-timeout=100'];

class LinkDriver implements SystemDriver {
  constructor(private readonly lab: Lab) {}

  async start(): Promise<void> {
    for (const host of this.lab.hosts) {
      const res = await this.lab.api<VipView>(host.name, 'POST', '/ips', { ip: VIP });
      if (res.status !== 201)
        throw new Error(`POST /ips on ${host.name}: ${res.status} ${JSON.stringify(res.body)}`);
    }
  }

  private async statuses(): Promise<(string | undefined)[]> {
    return Promise.all(
      this.lab.hosts.map(async (h) => {
        if (!this.lab.agentRunning(h.name)) return undefined;
        const res = await this.lab.api<{ ips: VipView[] }>(h.name, 'GET', '/ips').catch(() => null);
        return res?.status === 200 ? res.body.ips[0]?.status : undefined;
      }),
    );
  }

  async ready(): Promise<boolean> {
    const statuses = await this.statuses();
    return (
      statuses.every((s) => s === 'ACTIVATED' || s === 'STANDBY') &&
      statuses.filter((s) => s === 'ACTIVATED').length === 1
    );
  }

  async fault(scenario: Scenario, owner: string): Promise<void> {
    switch (scenario) {
      case 'crash':
        return this.lab.cutLink(owner);
      case 'kill9':
        return this.lab.signalAgent(owner, 'SIGKILL');
      case 'graceful':
        return this.lab.signalAgent(owner, 'SIGTERM');
      case 'restart':
        await this.lab.signalAgent(owner, 'SIGUSR2');
        await this.lab.startAgent(owner);
        return;
      case 'standbys-frozen': {
        const standbys = this.lab.hosts.filter((h) => h.name !== owner).map((h) => h.name);
        for (const name of standbys) await this.lab.signalAgent(name, 'SIGSTOP');
        await freezeFor(FROZEN_STANDBYS_MS);
        for (const name of standbys) await this.lab.signalAgent(name, 'SIGCONT', false);
        return;
      }
      case 'etcd-frozen':
        this.lab.signalEtcd('SIGSTOP');
        await freezeFor(FROZEN_ETCD_MS);
        this.lab.signalEtcd('SIGCONT');
        return;
      case 'switchover': {
        const list = await this.lab.api<{ ips: VipView[] }>(owner, 'GET', '/ips');
        const id = list.body.ips[0]?.id;
        if (!id) throw new Error(`no VIP on ${owner}`);
        const res = await this.lab.api(owner, 'POST', `/ips/${id}/failover`);
        if (res.status >= 300)
          throw new Error(`failover on ${owner}: ${res.status} ${JSON.stringify(res.body)}`);
        return;
      }
    }
  }

  async restore(scenario: Scenario, owner: string): Promise<void> {
    if (scenario === 'crash') await this.lab.restoreLink(owner);
    // A fault that threw half-way must not leave anything frozen.
    if (scenario === 'etcd-frozen') this.lab.signalEtcd('SIGCONT');
    if (scenario === 'standbys-frozen') {
      for (const host of this.lab.hosts) await this.lab.signalAgent(host.name, 'SIGCONT', false);
    }
    if ((scenario === 'kill9' || scenario === 'graceful') && !this.lab.agentRunning(owner)) {
      await this.lab.startAgent(owner);
    }
  }

  async stop(): Promise<void> {
    // lab.down() kills the agents.
  }
}

class VrrpDriver implements SystemDriver {
  private readonly daemons: VrrpDaemons;

  constructor(
    private readonly lab: Lab,
    kind: VrrpKind,
    tuned: boolean,
  ) {
    this.daemons = new VrrpDaemons(lab, { kind, tuned, vip: VIP });
  }

  async start(): Promise<void> {
    // The lab starts a LinK agent per host; with no VIP configured it is idle, but stop it anyway.
    for (const host of this.lab.hosts) await this.lab.signalAgent(host.name, 'SIGTERM');
    for (const host of this.lab.hosts) await this.daemons.start(host.name);
  }

  async ready(): Promise<boolean> {
    const counts = await Promise.all(this.lab.hosts.map((h) => this.daemons.processes(h.name)));
    const expected = this.daemons.spec.kind === 'keepalived' ? 2 : 1;
    return counts.every((pids) => pids.length >= expected);
  }

  async fault(scenario: Scenario, owner: string): Promise<void> {
    switch (scenario) {
      case 'crash':
        return this.lab.cutLink(owner);
      case 'kill9':
        return this.daemons.signal(owner, 'SIGKILL');
      case 'graceful':
        return this.daemons.signal(owner, 'SIGTERM');
      case 'standbys-frozen': {
        const standbys = this.lab.hosts.filter((h) => h.name !== owner).map((h) => h.name);
        for (const name of standbys) await this.daemons.freeze(name, true);
        await freezeFor(FROZEN_STANDBYS_MS);
        for (const name of standbys) await this.daemons.freeze(name, false);
        return;
      }
      default:
        throw new Error(`${this.daemons.label}: no ${scenario} scenario`);
    }
  }

  async restore(scenario: Scenario, owner: string): Promise<void> {
    if (scenario === 'crash') await this.lab.restoreLink(owner);
    if (scenario === 'standbys-frozen') {
      for (const host of this.lab.hosts) await this.daemons.freeze(host.name, false);
    }
    if (scenario === 'kill9' || scenario === 'graceful') {
      // A killed daemon leaves its VIP bound (it answers forever); the operator removes it.
      await this.daemons.cleanAddress(owner);
      await this.daemons.start(owner);
    }
  }

  stop(): Promise<void> {
    return this.daemons.stopAll();
  }
}

/** keepalived and ucarp: no restart or switchover of their own, and no etcd to freeze. */
const VRRP_SCENARIOS: readonly Scenario[] = ['crash', 'kill9', 'graceful', 'standbys-frozen'];

export const SYSTEMS: readonly SystemDef[] = [
  {
    id: 'link',
    label: 'LinK defaults (TTL 3 s, etcd defaults)',
    lab: { etcdFlags: ETCD_DEFAULTS },
    scenarios: SCENARIOS,
    driver: (lab) => new LinkDriver(lab),
  },
  {
    id: 'link-tuned',
    label: 'LinK tuned (TTL 1 s, etcd election 100 ms)',
    lab: { etcdFlags: ETCD_TUNED, agentEnv: { LEASE_TTL: '1' } },
    scenarios: SCENARIOS,
    driver: (lab) => new LinkDriver(lab),
  },
  {
    id: 'link-amo',
    // The default TTL (3 s): with LEASE_TTL=1 an at-most-one owner never binds (the kernel
    // lifetime is whole seconds and never outlives the lease, so it rounds down to 0; see
    // docs/performance.md).
    label: 'LinK at-most-one (TTL 3 s, etcd election 100 ms)',
    lab: { etcdFlags: ETCD_TUNED, agentEnv: { FAULT_POLICY: 'at-most-one' } },
    scenarios: SCENARIOS,
    driver: (lab) => new LinkDriver(lab),
  },
  {
    id: 'keepalived',
    label: 'keepalived defaults (VRRPv2, advert 1 s)',
    lab: {},
    scenarios: VRRP_SCENARIOS,
    driver: (lab) => new VrrpDriver(lab, 'keepalived', false),
  },
  {
    id: 'keepalived-tuned',
    label: 'keepalived tuned (VRRPv3, advert 0.1 s)',
    lab: {},
    scenarios: VRRP_SCENARIOS,
    driver: (lab) => new VrrpDriver(lab, 'keepalived', true),
  },
  {
    id: 'ucarp',
    label: 'ucarp defaults (advbase 1 s, deadratio 3)',
    lab: {},
    scenarios: VRRP_SCENARIOS,
    driver: (lab) => new VrrpDriver(lab, 'ucarp', false),
  },
  {
    id: 'ucarp-tuned',
    label: 'ucarp tuned (advbase 1 s, deadratio 2)',
    lab: {},
    scenarios: VRRP_SCENARIOS,
    driver: (lab) => new VrrpDriver(lab, 'ucarp', true),
  },
];
