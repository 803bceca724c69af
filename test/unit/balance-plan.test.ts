import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DEFAULT_PRIORITY } from '../../adapters/etcd/member.ts';
import { balancedVips, planBalance, type BalanceMove, type PlacementVip } from '../../actors/balance-plan.ts';

/**
 * Issue 16 part 3, the balance planner (actors/balance-plan.ts): convergence to within ±1 of even
 * from any placement, with no wasted move (every move takes from a host above its final share
 * to one below it, so the count is the minimum), no VIP moved back, cooling VIPs left alone,
 * VIPs with unequal priorities out of it.
 */

const HOSTS = ['h1', 'h2', 'h3'];

function cidr(i: number): string {
  return `198.18.0.${100 + i}/32`;
}

/** `counts[h]` VIPs owned by host h, every host a candidate of every VIP. */
function placement(counts: readonly number[], hosts = HOSTS.slice(0, counts.length)): PlacementVip[] {
  const vips: PlacementVip[] = [];
  counts.forEach((n, h) => {
    for (let k = 0; k < n; k++) {
      vips.push({
        cidr: cidr(vips.length),
        owner: hosts[h]!,
        candidates: hosts.map((hostname) => ({ hostname, priority: DEFAULT_PRIORITY })),
      });
    }
  });
  return vips;
}

function loadsOf(vips: readonly PlacementVip[], hosts: readonly string[]): number[] {
  return hosts.map((h) => vips.filter((v) => v.owner === h).length);
}

/**
 * Runs the agents as the balancer does: in each step one agent (in `order`) plans from the
 * current view and makes only its own move. Returns every move made, until no agent has one.
 */
function converge(
  vips: PlacementVip[],
  hosts: readonly string[],
  order = (step: number) => step,
): BalanceMove[] {
  const made: BalanceMove[] = [];
  const idle = () => hosts.every((self) => planBalance({ self, vips }).mine === null);
  for (let step = 0; !idle(); step++) {
    assert.ok(step < 10_000, 'converges');
    const self = hosts[order(step) % hosts.length]!;
    const { mine } = planBalance({ self, vips });
    if (mine === null) continue;
    const vip = vips.find((v) => v.cidr === mine.cidr)!;
    assert.equal(vip.owner, self, 'an agent moves only a VIP it owns');
    vip.owner = mine.to;
    made.push(mine);
  }
  return made;
}

/** The fewest moves from `counts` to within ±1 of even. */
function fewestMoves(counts: readonly number[]): number {
  const total = counts.reduce((a, b) => a + b, 0);
  const low = Math.floor(total / counts.length);
  const highs = total - low * counts.length;
  // The hosts that start highest keep the extra ones.
  const sorted = [...counts].sort((a, b) => b - a);
  return sorted.reduce((sum, n, i) => sum + Math.max(0, n - (i < highs ? low + 1 : low)), 0);
}

function assertEven(loads: readonly number[]): void {
  assert.ok(Math.max(...loads) - Math.min(...loads) <= 1, `within ±1 of even: ${loads.join('/')}`);
}

describe('balance planner', () => {
  it('12 VIPs all on one host end 4/4/4 in 8 moves, one move per agent per step', () => {
    const vips = placement([12, 0, 0]);
    const moves = converge(vips, HOSTS);
    assert.deepEqual(loadsOf(vips, HOSTS), [4, 4, 4]);
    assert.equal(moves.length, 8);
  });

  it('the plan: only hosts 2 above their target move, fair share is ⌈VIPs / hosts⌉', () => {
    const plan = planBalance({ self: 'h1', vips: placement([5, 4, 3]) });
    assert.equal(plan.fairShare, 4);
    assert.deepEqual(
      [...plan.loads],
      [
        ['h1', 5],
        ['h2', 4],
        ['h3', 3],
      ],
    );
    assert.deepEqual(
      plan.moves.map((m) => [m.from, m.to]),
      [['h1', 'h3']],
    );
    assert.equal(plan.mine?.to, 'h3');
    assert.equal(planBalance({ self: 'h2', vips: placement([5, 4, 3]) }).mine, null);
    // Within ±1: nothing to do, even above ⌈⌉ of a smaller set.
    for (const counts of [
      [4, 4, 4],
      [5, 4, 4],
      [5, 5, 4],
      [1, 0, 0],
      [1, 1, 0],
    ]) {
      assert.deepEqual(planBalance({ self: 'h1', vips: placement(counts) }).moves, [], counts.join('/'));
    }
  });

  it('one round never sends a host more than it lacks: two sources planning the same view agree', () => {
    // h1 and h2 both at 5, h3 at 2: both moving to h3 would make it 4/4/4, a third would overshoot.
    const round = planBalance({ self: 'h1', vips: placement([5, 5, 2]) }).moves;
    assert.deepEqual(
      round.map((m) => [m.from, m.to, m.toLoad]),
      [
        ['h1', 'h3', 2],
        ['h2', 'h3', 3],
      ],
    );
    const four = planBalance({ self: 'h1', vips: placement([4, 4, 4, 0], ['a', 'b', 'c', 'd']) }).moves;
    assert.deepEqual(
      four.map((m) => m.to),
      ['d', 'd', 'd'],
      'three sources, three VIPs for the empty host (4/4/4/0 → 3/3/3/3)',
    );
  });

  it('converges from random placements on 2–7 hosts with the fewest moves and never moves a VIP back', () => {
    let seed = 16;
    const random = () => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed / 2 ** 31;
    };
    for (let run = 0; run < 300; run++) {
      const n = 2 + Math.floor(random() * 6);
      const hosts = Array.from({ length: n }, (_, i) => `host-${i}`);
      const counts = hosts.map(() => Math.floor(random() * 30));
      const vips = placement(counts, hosts);
      const moves = converge(vips, hosts, () => Math.floor(random() * n));
      const loads = loadsOf(vips, hosts);
      assertEven(loads);
      assert.equal(moves.length, fewestMoves(counts), `${counts.join('/')} → ${loads.join('/')}`);
      // No ping-pong: a VIP moved to a host is never moved from it back to where it came from.
      const history = new Map<string, string[]>();
      for (const m of moves) history.set(m.cidr, [...(history.get(m.cidr) ?? [m.from]), m.to]);
      for (const [vip, path] of history) {
        assert.equal(new Set(path).size, path.length, `${vip} went ${path.join(' → ')}`);
      }
    }
  });

  it('a cooling VIP stays', () => {
    const vips = placement([6, 0, 0]);
    const all = new Set(vips.map((v) => v.cidr));
    assert.equal(planBalance({ self: 'h1', vips, cooling: all }).mine, null);
    const one = planBalance({ self: 'h1', vips, cooling: new Set([cidr(0)]) }).mine;
    assert.equal(one?.cidr, cidr(1));
  });

  it('VIPs with unequal priorities, no owner or one candidate are not balanced', () => {
    const vips = placement([6, 0, 0]);
    vips[0]!.candidates = [
      { hostname: 'h1', priority: 200 },
      { hostname: 'h2', priority: 100 },
    ];
    vips[1]!.owner = null;
    vips[2]!.candidates = [{ hostname: 'h1', priority: DEFAULT_PRIORITY }];
    assert.deepEqual(
      balancedVips(vips).map((v) => v.cidr),
      [cidr(3), cidr(4), cidr(5)],
    );
    assert.deepEqual(
      [...planBalance({ self: 'h1', vips }).loads],
      [
        ['h1', 3],
        ['h2', 0],
        ['h3', 0],
      ],
    );
  });

  it('moves a VIP only to one of its own candidates', () => {
    // h3 carries only the first VIP: it can get that one and nothing else.
    const vips = placement([4, 0], ['h1', 'h2']);
    vips[0]!.candidates = [...vips[0]!.candidates, { hostname: 'h3', priority: DEFAULT_PRIORITY }];
    converge(vips, ['h1', 'h2', 'h3']);
    for (const vip of vips.slice(1)) assert.notEqual(vip.owner, 'h3');
    assertEven(loadsOf(vips, ['h1', 'h2', 'h3']));
  });
});
