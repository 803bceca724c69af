import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { Lab } from '../../lab/lab.ts';
import type { VipView } from '../../actors/types.ts';
import { until } from '../support/until.ts';

/**
 * BALANCE=on in the lab (issue 16 part 3): 12 VIPs of one priority on 3 hosts, all first won by
 * one host. They end 4/4/4, then again after a rolling stop/start of each host and after a
 * crash (kill -9) and return; every phase's moves are counted from the agents' logs
 * ("balance: handing"), so a flapping balance would show.
 *
 *   scripts/in-netns.sh node --import tsx --test test/e2e/balance.test.ts
 */

const VIPS = Array.from({ length: 12 }, (_, i) => `198.18.0.${120 + i}/32`);
const EVEN = 4;
/** The fewest moves from 12/0/0 to 4/4/4. */
const FROM_ONE_HOST = 8;
/** A restart's: its VIPs leave (up to 4 to one host), come back; more would be flapping. */
const MOST_PER_RESTART = 8;
const CONVERGE_MS = 90_000;

describe('BALANCE=on in the lab', { timeout: 600_000 }, () => {
  let lab: Lab;
  const phases: { phase: string; moves: number; ms: number }[] = [];

  const loads = async (): Promise<Map<string, number>> => {
    const counts = new Map(lab.hosts.map(({ name }) => [name, 0]));
    for (const cidr of VIPS) {
      const holders = await lab.holders(cidr);
      if (holders.length !== 1) return new Map();
      counts.set(holders[0]!, (counts.get(holders[0]!) ?? 0) + 1);
    }
    return counts;
  };
  const movesSince = (since: number): number => {
    let moves = 0;
    for (const { name } of lab.hosts) {
      for (const line of readFileSync(lab.host(name).log, 'utf8').split('\n')) {
        if (!line.includes('"balance: handing') || line.includes('failed')) continue;
        if (Date.parse((JSON.parse(line) as { timestamp: string }).timestamp) >= since) moves++;
      }
    }
    return moves;
  };
  /** Waits for 4/4/4, records the phase's moves and time. */
  const even = async (phase: string, since: number): Promise<number> => {
    await until(
      `${phase}: 4/4/4`,
      async () => {
        const counts = await loads();
        return counts.size === 3 && [...counts.values()].every((n) => n === EVEN);
      },
      CONVERGE_MS,
    );
    const moves = movesSince(since);
    phases.push({ phase, moves, ms: Date.now() - since });
    console.log(`balance ${phase}: 4/4/4 after ${Date.now() - since} ms, ${moves} moves`);
    return moves;
  };

  before(async () => {
    lab = await Lab.up({
      name: `bal-${process.pid}`,
      hosts: 3,
      agentEnv: { BALANCE: 'on', BALANCE_INTERVAL: '1s' },
    });
  });

  after(async () => {
    console.log(JSON.stringify(phases));
    await lab?.down();
  });

  it(`12 VIPs first won by one host end ${EVEN}/${EVEN}/${EVEN} in ${FROM_ONE_HOST} moves`, async () => {
    const since = Date.now();
    for (const { name } of lab.hosts) {
      for (const cidr of VIPS) {
        const res = await lab.api<VipView>(name, 'POST', '/ips', { ip: cidr });
        assert.equal(res.status, 201, JSON.stringify(res.body));
      }
    }
    assert.equal(await even('from one host', since), FROM_ONE_HOST);
  });

  it(`a rolling stop/start of each host: ${EVEN}/${EVEN}/${EVEN} after each, at most ${MOST_PER_RESTART} moves`, async () => {
    for (const { name } of lab.hosts) {
      const since = Date.now();
      await lab.signalAgent(name, 'SIGTERM');
      await lab.startAgent(name);
      const moves = await even(`restart of ${name}`, since);
      assert.ok(moves <= MOST_PER_RESTART, `${moves} moves after the restart of ${name}`);
    }
  });

  it(`a crash and return: ${EVEN}/${EVEN}/${EVEN} again, at most ${MOST_PER_RESTART} moves`, async () => {
    const name = lab.hosts[1]!.name;
    const since = Date.now();
    await lab.signalAgent(name, 'SIGKILL');
    await until(
      'every VIP held by the two others',
      async () => {
        const counts = await loads();
        return counts.size === 3 && counts.get(name) === 0;
      },
      CONVERGE_MS,
    );
    await lab.startAgent(name);
    const moves = await even(`crash of ${name}`, since);
    assert.ok(moves <= MOST_PER_RESTART, `${moves} moves after the crash of ${name}`);
  });
});
