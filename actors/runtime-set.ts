import type { Actor } from 'xstate';
import { ipActorOf, type AgentMachine } from '../machines/agent.ts';
import type { StoredVip } from '../adapters/etcd/types.ts';
import { TurnBatcher } from './batcher.ts';
import { createRuntime, type VipRuntime, type VipRuntimeDeps } from './vip-runtime.ts';
import type { Logger } from './logger.ts';

export interface RuntimeSetDeps {
  runtimeDeps: VipRuntimeDeps;
  logger: Logger;
  /** Lazy: the supervisor is created after the set (its provision reads the runtimes). */
  supervisor: () => Actor<AgentMachine>;
  vipIdOf: (ip: string) => string | undefined;
  stopping: () => boolean;
  /** The host is drained: this new VIP starts out of the election (actors/drain.ts). */
  outAtSpawn?: (vip: StoredVip) => boolean;
  /** This VIP is out of the election while the host is drained. */
  keepsOut?: (vipId: string) => boolean;
}

/**
 * The agent's VIP runtimes, one per VIP id, and their spawning: a VIP is reserved in the
 * supervisor's index at once and its IP actor spawned with the turn's batch.
 */
export class RuntimeSet {
  readonly runtimes = new Map<string, VipRuntime>();
  /** Adds of one turn reach the supervisor as one event; removed (or stopping) ones never. */
  private readonly spawns = new TurnBatcher<VipRuntime>(
    (batch) => this.spawnNow(batch),
    (runtime) => !this.deps.stopping() && this.runtimes.get(runtime.vip.id) === runtime,
  );

  constructor(private readonly deps: RuntimeSetDeps) {}

  /** Its address is already reserved with the supervisor (VipService.addNow, spawnAll). */
  spawn(vip: StoredVip): void {
    if (this.runtimes.has(vip.id)) return;
    const taken = this.deps.vipIdOf(vip.ip);
    if (taken !== undefined && taken !== vip.id) {
      this.deps.logger.warn('two stored VIPs with one address: the second is not run', {
        ip: vip.ip,
        running: taken,
        skipped: vip.id,
      });
      return;
    }
    const runtime = createRuntime(this.deps.runtimeDeps, vip);
    // At once, before the election's first read can make it compete.
    if (this.deps.outAtSpawn?.(vip)) runtime.election.setCandidate(false);
    this.runtimes.set(vip.id, runtime);
    this.spawns.push(runtime);
  }

  spawnAll(vips: readonly StoredVip[]): void {
    // One reservation event for the whole start (first address wins), not one per VIP.
    this.deps
      .supervisor()
      .send({ type: 'vip.reserve', vips: vips.map((vip) => ({ vipId: vip.id, ip: vip.ip })) });
    for (const vip of vips) this.spawn(vip);
    this.spawns.flush();
  }

  /** Hands the queued spawns over now (the agent's stop: once stopping, it drops them all). */
  flush(): void {
    this.spawns.flush();
  }

  private spawnNow(batch: VipRuntime[]): void {
    const supervisor = this.deps.supervisor();
    supervisor.send({ type: 'vip.add', vips: batch.map((r) => ({ vipId: r.vip.id, ip: r.vip.ip })) });
    const snapshot = supervisor.getSnapshot();
    for (const runtime of batch) {
      runtime.ipActor = ipActorOf(snapshot, runtime.vip.id);
      // A drained host's VIP stays out of the election (actors/drain.ts).
      if (!this.deps.keepsOut?.(runtime.vip.id)) runtime.election.setCandidate(true);
    }
  }
}
