import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import fc from 'fast-check';
import { makeKeys } from '../../adapters/etcd/keys.ts';
import { startEtcd, type EtcdCluster } from '../support/etcd.ts';
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
 * The property of test/unit/election-level.test.ts replayed on a real etcd (one member): its
 * known sequences and a fixed sample of generated ones. `etcd-down`/`etcd-up` stop and start
 * the member (a restart, as in issue 18's table); `lose-events` drops every agent's watch stream
 * (a real etcd does not lose events on a live stream: this is the closest it comes); a lease is
 * expired by revoking it.
 */

const LOCK = makeKeys('/link').lock(MODEL_VIP);
/** Generated sequences replayed, from a fixed seed so a failure replays the same. */
const SAMPLE = fc.sample(stepsArbitrary, { seed: 18, numRuns: 3 });

describe('level, not edge on a real etcd: one holder after the model sequences', { timeout: 300_000 }, () => {
  let etcd: EtcdCluster;
  before(async () => {
    etcd = await startEtcd();
  });
  after(async () => {
    await etcd?.close();
  });

  async function realCluster(): Promise<ModelCluster & { close(): Promise<void> }> {
    // A fresh keyspace per sequence: what one left must not decide the next.
    await etcd.etcdctl(['del', '--prefix', '/link/']);
    const agents: ModelAgent[] = [];
    for (const hostname of MODEL_HOSTS) agents.push(await startModelAgent(hostname, { hosts: etcd.hosts }));
    return {
      agents,
      etcdDown: async () => {
        if (etcd.members.some((m) => m.running)) await etcd.stop();
      },
      etcdUp: async () => {
        if (etcd.members.some((m) => !m.running)) await etcd.restart();
      },
      loseEvents: () => {
        for (const a of agents) a.session.testing.dropWatch();
        return Promise.resolve();
      },
      stopLosingEvents: () => undefined,
      expireLease: async (hostname) => {
        const lease = agents.find((a) => a.hostname === hostname)!.session.status().leaseId;
        if (lease === null || !etcd.members.every((m) => m.running)) return;
        await etcd.etcdctl(['lease', 'revoke', BigInt(lease).toString(16)]).catch(() => undefined);
      },
      lockHolder: async () => (await etcd.etcdctl(['get', LOCK, '--print-value-only'])).trim() || null,
      close: async () => {
        for (const a of agents) await a.agent.stop({ handover: false });
      },
    };
  }

  async function replay(steps: readonly Step[]): Promise<void> {
    const cluster = await realCluster();
    try {
      assert.equal(await checkOneHolder(cluster), null, 'settled before the steps');
      await runSteps(cluster, steps);
      await heal(cluster);
      const seen = await checkOneHolder(cluster);
      assert.equal(seen, null, `${JSON.stringify(steps)} -> ${seen}`);
    } finally {
      await cluster.etcdUp();
      await cluster.close();
    }
  }

  for (const [i, steps] of [...KNOWN_SEQUENCES, ...SAMPLE].entries()) {
    it(`sequence ${i + 1}: ${steps.map((s) => (s.kind === 'wait' ? `wait ${s.ms}` : s.kind)).join(', ')}`, () =>
      replay(steps));
  }
});
