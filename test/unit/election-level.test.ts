import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { makeKeys } from '../../adapters/etcd/keys.ts';
import { FakeEtcd } from '../support/fake-etcd.ts';
import {
  KNOWN_SEQUENCES,
  MODEL_HOSTS,
  MODEL_VIP,
  checkOneHolder,
  heal,
  runSteps,
  startModelAgent,
  stepsArbitrary,
  type ModelAgent,
  type ModelCluster,
  type Step,
} from '../support/election-model.ts';

/**
 * adapters/etcd/README.md "Level, not edge", invariant 3, as a property: after any short
 * sequence of faults (etcd down/up, checks failing and recovering, lost watch events, expired
 * leases), once healed, one host holds the VIP within one recheck period plus one TTL. Three
 * real agents on the fake etcd; real timers (the agents take no clock). The sequences that broke
 * it before (issue 18) always run; test/integration/election-level.test.ts replays on a real etcd.
 */

const LOCK = makeKeys('/link').lock(MODEL_VIP);

async function fakeCluster(): Promise<ModelCluster & { close(): Promise<void> }> {
  const etcd = new FakeEtcd();
  const agents: ModelAgent[] = [];
  for (const hostname of MODEL_HOSTS) {
    agents.push(await startModelAgent(hostname, { hosts: ['198.18.0.1:2379'], rpc: etcd.client(hostname) }));
  }
  return {
    agents,
    etcdDown: () => {
      etcd.down = FakeEtcd.unavailable();
      return Promise.resolve();
    },
    etcdUp: () => {
      etcd.down = null;
      return Promise.resolve();
    },
    loseEvents: () => {
      etcd.holdWatchEvents();
      return Promise.resolve();
    },
    stopLosingEvents: () => etcd.dropWatchEvents(),
    expireLease: (hostname) => {
      const lease = agents.find((a) => a.hostname === hostname)!.session.status().leaseId;
      if (lease !== null && etcd.down === null) etcd.expireLease(lease);
      return Promise.resolve();
    },
    lockHolder: () => Promise.resolve(etcd.get(LOCK)?.value ?? null),
    close: async () => {
      etcd.down = null;
      for (const a of agents) await a.agent.stop({ handover: false });
    },
  };
}

async function holdsAfter(steps: readonly Step[]): Promise<string | null> {
  const cluster = await fakeCluster();
  try {
    const first = await checkOneHolder(cluster);
    assert.equal(first, null, `not settled before the steps: ${first}`);
    await runSteps(cluster, steps);
    await heal(cluster);
    const seen = await checkOneHolder(cluster);
    return seen === null ? null : `${JSON.stringify(steps)} -> ${seen}`;
  } finally {
    await cluster.close();
  }
}

describe('level, not edge: one holder after any fault sequence (fake etcd, fast-check)', () => {
  for (const [i, steps] of KNOWN_SEQUENCES.entries()) {
    it(`known sequence ${i + 1}: ${steps.map((s) => s.kind).join(', ')}`, async () => {
      assert.equal(await holdsAfter(steps), null);
    });
  }

  it('random sequences', { timeout: 240_000 }, async () => {
    await fc.assert(
      fc.asyncProperty(stepsArbitrary, async (steps) => {
        const failure = await holdsAfter(steps);
        if (failure !== null) throw new Error(failure);
      }),
      { numRuns: 12, endOnFailure: true },
    );
  });
});
