/**
 * BALANCE=on: which VIP this agent hands over next, and to whom. A pure function of what etcd
 * says (every lock's owner from the session's one prefix watch, every VIP's live candidates with
 * their priorities from the membership keys), so each rule is tested on its own
 * (test/unit/balance-plan.test.ts); actors/balancer.ts reads etcd (the cluster view), asks, and moves.
 *
 * Rules, the same on every agent, so every agent plans the same round from the same view:
 *
 * - **Which VIPs.** Only VIPs with an owner, at least two live candidates and the same priority on
 *   every candidate: elsewhere priority decides who owns it, not the count.
 * - **Load.** A host's load is the number of those VIPs it owns.
 * - **A move.** From S, one of its VIPs, to that VIP's least-loaded other candidate C, only if
 *   load(S) ≥ load(C) + 2. Every move lowers Σ load² by at least 2, so moves end (no cycle,
 *   no ping-pong: the move back would need load(C) + 1 ≥ load(S) − 1 + 2). Where every host carries
 *   every VIP it ends with max − min ≤ 1: no host keeps more than its fair share
 *   ⌈VIPs carried / live candidates⌉, every host within ±1 of even.
 * - **One round.** The most-loaded host that has a move makes it (then hostname), loads are
 *   updated, again, each host at most one move: two agents planning from the same view never send
 *   the same host more than it lacks, and a less-loaded host never gives away what it would get
 *   back later (no wasted move: where every host carries every VIP, the fewest moves there are). The agent makes only its own move of the round, at most one per
 *   BALANCE_INTERVAL (the caller's rate limit).
 * - **Not moved.** A VIP whose owner changed within the cooldown (it was just moved, or just
 *   taken over): never moved twice in a row for the same imbalance. The caller moves nothing
 *   while the set of live hosts changed within the settle time, so hosts coming and going cause
 *   no moves until they stay.
 */

/** How many BALANCE_INTERVALs the set of live hosts must stay unchanged before a move. */
export const SETTLE_INTERVALS = 2;

/** How many BALANCE_INTERVALs a VIP whose owner changed is left where it is. */
export const COOLDOWN_INTERVALS = 3;

export interface PlacementCandidate {
  hostname: string;
  priority: number;
}

export interface PlacementVip {
  cidr: string;
  /** The lock's holder, or null (no owner). */
  owner: string | null;
  /** Live candidates (membership keys with a lease), the owner among them. */
  candidates: readonly PlacementCandidate[];
}

export interface PlanInput {
  self: string;
  vips: readonly PlacementVip[];
  /** VIPs whose owner changed within the cooldown. */
  cooling?: ReadonlySet<string>;
}

export interface BalanceMove {
  cidr: string;
  from: string;
  to: string;
  /** Loads before the move (of the round so far). */
  fromLoad: number;
  toLoad: number;
}

export interface BalancePlan {
  /** The round: at most one move per source host. */
  moves: BalanceMove[];
  /** This agent's move of the round, or null. */
  mine: BalanceMove | null;
  /** Balanced VIPs each live host owns, before the round. */
  loads: ReadonlyMap<string, number>;
  /** ⌈balanced VIPs / live hosts⌉: what no host keeps more of once converged. */
  fairShare: number;
}

/** The VIPs balance looks at: owned, two candidates or more, all of one priority. */
export function balancedVips(vips: readonly PlacementVip[]): PlacementVip[] {
  return vips.filter((vip) => {
    if (vip.owner === null || vip.candidates.length < 2) return false;
    if (!vip.candidates.some((c) => c.hostname === vip.owner)) return false;
    const first = vip.candidates[0]!.priority;
    return vip.candidates.every((c) => c.priority === first);
  });
}

export function planBalance(input: PlanInput): BalancePlan {
  const cooling = input.cooling ?? new Set<string>();
  const vips = balancedVips(input.vips).sort((a, b) => compare(a.cidr, b.cidr));
  const loads = new Map<string, number>();
  for (const vip of vips) for (const c of vip.candidates) loads.set(c.hostname, 0);
  for (const vip of vips) loads.set(vip.owner!, (loads.get(vip.owner!) ?? 0) + 1);
  const before = new Map(loads);
  const fairShare = loads.size === 0 ? 0 : Math.ceil(vips.length / loads.size);

  const owner = new Map(vips.map((vip) => [vip.cidr, vip.owner!]));
  /** The best move of `source` now: its least-loaded target (then hostname), first VIP by CIDR. */
  const bestOf = (source: string): BalanceMove | null => {
    let best: BalanceMove | null = null;
    const fromLoad = loads.get(source)!;
    for (const vip of vips) {
      if (owner.get(vip.cidr) !== source || cooling.has(vip.cidr) || moved.has(vip.cidr)) continue;
      for (const { hostname: to } of vip.candidates) {
        if (to === source) continue;
        const toLoad = loads.get(to)!;
        if (fromLoad - toLoad < 2) continue;
        if (best === null || toLoad < best.toLoad || (toLoad === best.toLoad && compare(to, best.to) < 0)) {
          best = { cidr: vip.cidr, from: source, to, fromLoad, toLoad };
        }
      }
    }
    return best;
  };
  const moves: BalanceMove[] = [];
  const moved = new Set<string>();
  const sourced = new Set<string>();
  for (;;) {
    // The most-loaded host that has a move makes it. If that host has already moved in this
    // round, the round ends: a less-loaded host moving now would give away what it has to get
    // back later (a wasted move).
    let next: BalanceMove | null = null;
    for (const source of loads.keys()) {
      const move = bestOf(source);
      if (move === null) continue;
      const better =
        next === null ||
        move.fromLoad > next.fromLoad ||
        (move.fromLoad === next.fromLoad && sourced.has(next.from) && !sourced.has(source)) ||
        (move.fromLoad === next.fromLoad &&
          sourced.has(next.from) === sourced.has(source) &&
          compare(source, next.from) < 0);
      if (better) next = move;
    }
    if (next !== null && sourced.has(next.from)) break;
    if (next === null) break;
    moves.push(next);
    moved.add(next.cidr);
    sourced.add(next.from);
    owner.set(next.cidr, next.to);
    loads.set(next.from, next.fromLoad - 1);
    loads.set(next.to, next.toLoad + 1);
  }
  return {
    moves,
    mine: moves.find((m) => m.from === input.self) ?? null,
    loads: before,
    fairShare,
  };
}

/** Plain code-unit order: the same on every agent, whatever its locale. */
function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
