import fc from 'fast-check';
import { createAgent, type Agent } from '../../actors/agent.ts';
import { Journal } from '../../actors/journal.ts';
import { createEtcdSession, type EtcdSessionImpl, type SessionDeps } from '../../adapters/etcd/session.ts';
import type { EtcdSessionOptions } from '../../adapters/etcd/options.ts';
import { createExecChecksPolicy } from '../../adapters/health/exec-policy.ts';
import { createHealthMonitor } from '../../adapters/health/monitor.ts';
import type { ProbeResult } from '../../adapters/health/types.ts';
import type { IpState } from '../../machines/ip.ts';
import { memoryNet } from './memory-net.ts';

/**
 * The model of adapters/etcd/README.md "Level, not edge": sequences of faults (etcd down and up,
 * a host's check failing and recovering, watch events lost, a lease expired) applied to three
 * real agents (sessions, elections, IP machines) on one etcd with an in-memory interface each;
 * once everything is healed, one host must hold the VIP within the invariant's bound. The unit
 * test runs it on the fake etcd with fast-check; the integration test replays sequences on a
 * real etcd. Both go through `ModelCluster`, so the steps mean the same on each.
 */

export const MODEL_VIP = '198.18.0.10/32';
export const MODEL_HOSTS = ['h1', 'h2', 'h3'] as const;
export const MODEL_TTL_S = 2;
/** The model's lock recheck period: short, so a run is quick; the invariant scales with it. */
export const MODEL_RECHECK_MS = 1000;

/** `owner`: whichever host holds the VIP when the step runs (the interesting one). */
export type HostRef = 'owner' | 0 | 1 | 2;

export type Step =
  | { kind: 'etcd-down' }
  | { kind: 'etcd-up' }
  | { kind: 'check-fail'; host: HostRef }
  | { kind: 'check-recover'; host: HostRef }
  | { kind: 'lose-events' }
  | { kind: 'lease-expire'; host: HostRef }
  | { kind: 'wait'; ms: number };

const hostRef: fc.Arbitrary<HostRef> = fc.constantFrom<HostRef>('owner', 'owner', 0, 1, 2);

export const stepArbitrary: fc.Arbitrary<Step> = fc.oneof(
  fc.constant<Step>({ kind: 'etcd-down' }),
  fc.constant<Step>({ kind: 'etcd-up' }),
  hostRef.map<Step>((host) => ({ kind: 'check-fail', host })),
  hostRef.map<Step>((host) => ({ kind: 'check-recover', host })),
  fc.constant<Step>({ kind: 'lose-events' }),
  hostRef.map<Step>((host) => ({ kind: 'lease-expire', host })),
  fc.integer({ min: 0, max: 600 }).map<Step>((ms) => ({ kind: 'wait', ms })),
);

export const stepsArbitrary = fc.array(stepArbitrary, { minLength: 1, maxLength: 6 });

/** Sequences that broke the invariant before it was enforced (issue 18): always run. */
export const KNOWN_SEQUENCES: readonly Step[][] = [
  // The owner's check fails while etcd is down (its release fails), etcd returns, the check recovers.
  [
    { kind: 'etcd-down' },
    { kind: 'check-fail', host: 'owner' },
    { kind: 'wait', ms: 300 },
    { kind: 'etcd-up' },
    { kind: 'wait', ms: 300 },
    { kind: 'check-recover', host: 'owner' },
  ],
  // The owner's release happens while the other hosts lose its watch event.
  [{ kind: 'lose-events' }, { kind: 'check-fail', host: 'owner' }, { kind: 'wait', ms: 300 }],
];

/** What the steps act on: one etcd, three agents. */
export interface ModelCluster {
  etcdDown(): Promise<void>;
  etcdUp(): Promise<void>;
  /** Watch events from now on do not reach the agents, until `stopLosingEvents`. */
  loseEvents(): Promise<void>;
  stopLosingEvents(): void;
  expireLease(hostname: string): Promise<void>;
  /** The lock's holder as etcd says (etcd must be up). */
  lockHolder(): Promise<string | null>;
  readonly agents: readonly ModelAgent[];
}

export interface ModelAgent {
  readonly hostname: string;
  readonly agent: Agent;
  readonly session: EtcdSessionImpl;
  readonly bound: Set<string>;
  healthy: boolean;
}

const silent = {
  debug: () => undefined,
  info: () => undefined,
  warn: () => undefined,
  error: () => undefined,
};

/** One agent of the model carrying MODEL_VIP with a check that passes while `healthy`. */
export async function startModelAgent(
  hostname: string,
  etcd: Pick<EtcdSessionOptions, 'hosts'> & SessionDeps,
): Promise<ModelAgent> {
  const { hosts, ...deps } = etcd;
  const session = await createEtcdSession(
    {
      hostname,
      hosts,
      leaseTtlSeconds: MODEL_TTL_S,
      lockRecheckIntervalMs: MODEL_RECHECK_MS,
      callTimeoutMs: 500,
      logger: silent,
    },
    deps,
  );
  const { net, bound } = memoryNet();
  const model: { healthy: boolean } = { healthy: true };
  const agent = createAgent({
    hostname,
    faultPolicy: 'at-least-one',
    session,
    net,
    monitorHealth: createHealthMonitor({
      probe: () =>
        Promise.resolve<ProbeResult>(
          model.healthy ? { ok: true, reason: 'model: healthy' } : { ok: false, reason: 'model: unhealthy' },
        ),
    }),
    execPolicy: createExecChecksPolicy(undefined),
    health: { intervalMs: 50, timeoutMs: 40, fallCount: 1, riseCount: 1 },
    journal: new Journal(),
    logger: silent,
    leaseTtlMs: MODEL_TTL_S * 1000,
    addressLifetimeSec: 0,
    announce: { count: 1, intervalMs: 0, refreshIntervalMs: 0 },
    handoverTimeoutMs: 1000,
    restartGraceSec: 5,
  });
  await agent.start();
  await agent.add({ ip: MODEL_VIP, checks: [{ type: 'TCP', host: '198.18.0.1', port: 9 }] });
  return {
    hostname,
    agent,
    session,
    bound,
    get healthy() {
      return model.healthy;
    },
    set healthy(value: boolean) {
      model.healthy = value;
    },
  };
}

export function stateOf(agent: ModelAgent): IpState | undefined {
  return agent.agent.list().find((v) => v.ip === MODEL_VIP)?.status;
}

function resolve(cluster: ModelCluster, host: HostRef): ModelAgent {
  if (host !== 'owner') return cluster.agents[host]!;
  return (
    cluster.agents.find((a) => a.bound.has(MODEL_VIP) && stateOf(a) === 'ACTIVATED') ?? cluster.agents[0]!
  );
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Applies the steps in order; events lost by `lose-events` stay lost until the step after next. */
export async function runSteps(cluster: ModelCluster, steps: readonly Step[]): Promise<void> {
  let losing = 0;
  for (const step of steps) {
    switch (step.kind) {
      case 'etcd-down':
        await cluster.etcdDown();
        break;
      case 'etcd-up':
        await cluster.etcdUp();
        break;
      case 'check-fail':
        resolve(cluster, step.host).healthy = false;
        break;
      case 'check-recover':
        resolve(cluster, step.host).healthy = true;
        break;
      case 'lose-events':
        await cluster.loseEvents();
        losing = 2;
        continue;
      case 'lease-expire':
        await cluster.expireLease(resolve(cluster, step.host).hostname);
        break;
      case 'wait':
        await sleep(step.ms);
        break;
    }
    // Let the step take effect (a check round, a keep-alive) before the next one.
    await sleep(100);
    if (losing > 0 && --losing === 0) cluster.stopLosingEvents();
  }
  cluster.stopLosingEvents();
}

/** Every fault undone: etcd up, every check passing. */
export async function heal(cluster: ModelCluster): Promise<void> {
  cluster.stopLosingEvents();
  await cluster.etcdUp();
  for (const agent of cluster.agents) agent.healthy = true;
}

/**
 * Invariant 3 of adapters/etcd/README.md: within one recheck period plus one TTL (plus a margin
 * for the checks' rise and a loaded machine) of the heal, exactly one host holds the VIP (bound
 * and ACTIVATED), it is the lock's holder, every other host is STANDBY and unbound, and it stays
 * so. Resolves with a description of what it saw when it does not hold (null when it does).
 */
export async function checkOneHolder(cluster: ModelCluster, marginMs = 2000): Promise<string | null> {
  const deadline = Date.now() + MODEL_RECHECK_MS + MODEL_TTL_S * 1000 + marginMs;
  let seen = '';
  let stableSince: number | null = null;
  for (;;) {
    const holders = cluster.agents.filter((a) => a.bound.has(MODEL_VIP));
    const states = cluster.agents.map(
      (a) => `${a.hostname}:${stateOf(a)}${a.bound.has(MODEL_VIP) ? '+bound' : ''}`,
    );
    const lock = await cluster.lockHolder().catch((err: unknown) => `(read failed: ${String(err)})`);
    seen = `${states.join(' ')}; lock ${lock}`;
    const one =
      holders.length === 1 &&
      stateOf(holders[0]!) === 'ACTIVATED' &&
      lock === holders[0]!.hostname &&
      cluster.agents.every((a) => a === holders[0] || stateOf(a) === 'STANDBY');
    if (one) {
      stableSince ??= Date.now();
      if (Date.now() - stableSince >= 300) return null;
    } else stableSince = null;
    if (Date.now() > deadline) return seen;
    await sleep(25);
  }
}
