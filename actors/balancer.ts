import type { ClusterView } from '../adapters/etcd/cluster-view.ts';
import type { EtcdSession } from '../adapters/etcd/types.ts';
import {
  COOLDOWN_INTERVALS,
  SETTLE_INTERVALS,
  planBalance,
  type BalanceMove,
  type PlacementVip,
} from './balance-plan.ts';
import type { Logger } from './logger.ts';

/**
 * BALANCE=on (issue 16 part 3): every BALANCE_INTERVAL the agent reads the cluster view from
 * etcd, asks the planner (actors/balance-plan.ts) for this host's move of the round, and makes
 * it through the zero-gap handover (VipService.handOver), at most one per interval. Every agent
 * plans from the same view with the same rules, so the round's moves never overshoot a host;
 * a VIP whose owner changed within COOLDOWN_INTERVALS is not moved, and no move is made while
 * the set of live hosts changed within SETTLE_INTERVALS (hosts coming and going cause no moves
 * until they stay).
 */

export interface BalancerDeps {
  hostname: string;
  session: Pick<EtcdSession, 'status' | 'clusterView'>;
  intervalMs: number;
  logger: Logger;
  /** Hands the VIP at `cidr` to `to` (zero-gap); resolves when done, rejects when not. */
  handOver(cidr: string, to: string): Promise<void>;
}

export class Balancer {
  private timer: ReturnType<typeof setTimeout> | null = null;
  private stopped = true;
  private round = 0;
  private liveHosts = '';
  private liveSince = 0;
  /** Each VIP's owner in the last view, and the round it became so. */
  private readonly owners = new Map<string, { owner: string | null; since: number }>();
  /** Moves this agent made (for the metric and the soak's count). */
  moves = 0;

  constructor(private readonly deps: BalancerDeps) {}

  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    this.schedule();
  }

  stop(): void {
    this.stopped = true;
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
  }

  private schedule(): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      this.timer = null;
      void this.tick().finally(() => this.schedule());
    }, this.deps.intervalMs);
  }

  private async tick(): Promise<void> {
    if (this.deps.session.status().state !== 'alive') return;
    let view: ClusterView;
    try {
      view = await this.deps.session.clusterView('elections');
    } catch (err) {
      this.deps.logger.debug('balance: reading the cluster view failed', { err: String(err) });
      return;
    }
    if (this.stopped) return;
    const move = this.plan(view);
    if (move === null) return;
    this.deps.logger.info(
      `balance: handing ${move.cidr} to ${move.to} (${move.from} owns ${move.fromLoad}, ${move.to} ${move.toLoad})`,
    );
    try {
      await this.deps.handOver(move.cidr, move.to);
      this.moves++;
    } catch (err) {
      this.deps.logger.warn(`balance: handing ${move.cidr} to ${move.to} failed`, { err: String(err) });
    }
  }

  /** This host's move of the round from `view`, or null; keeps the owner and host history. */
  plan(view: ClusterView): BalanceMove | null {
    this.round++;
    const vips: PlacementVip[] = view.vips.map((vip) => ({
      cidr: vip.ip,
      owner: vip.owner,
      candidates: vip.hosts
        .filter((h) => (h.state === 'owner' || h.state === 'candidate') && !h.v2 && h.priority !== null)
        .map((h) => ({ hostname: h.hostname, priority: h.priority! })),
    }));
    const cooling = new Set<string>();
    for (const vip of vips) {
      const last = this.owners.get(vip.cidr);
      if (last === undefined || last.owner !== vip.owner) {
        // Unknown before (this agent just started) counts as just changed: it settles first.
        this.owners.set(vip.cidr, { owner: vip.owner, since: this.round });
      }
      if (this.round - this.owners.get(vip.cidr)!.since < COOLDOWN_INTERVALS) cooling.add(vip.cidr);
    }
    for (const cidr of this.owners.keys()) if (!vips.some((v) => v.cidr === cidr)) this.owners.delete(cidr);
    const hosts = [...new Set(vips.flatMap((v) => v.candidates.map((c) => c.hostname)))].sort().join(',');
    if (hosts !== this.liveHosts) {
      this.liveHosts = hosts;
      this.liveSince = this.round;
    }
    if (this.round - this.liveSince < SETTLE_INTERVALS) return null;
    return planBalance({ self: this.deps.hostname, vips, cooling }).mine;
  }
}
