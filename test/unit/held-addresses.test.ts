import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { renewHeldAddresses } from '../../actors/held-addresses.ts';
import type { LifetimePolicy } from '../../actors/lifetime.ts';
import type { InterfaceAddress } from '../../adapters/net/types.ts';
import { memoryNet } from '../support/memory-net.ts';

/**
 * actors/held-addresses.ts, the choices of a crash-restart's early renewal: which addresses (held
 * locks still on the interface) and what lifetime (the lease's, actors/lifetime.ts). etcd's side
 * is test/integration/first-contact.test.ts; the whole restart, kernel included, is
 * test/chaos/crash-restart.test.ts.
 */

/** The defaults: at-least-one, ADDRESS_LIFETIME 30 s, LEASE_TTL 3 s. */
const POLICY: LifetimePolicy = { faultPolicy: 'at-least-one', addressLifetimeSec: 30, leaseTtlMs: 3000 };
const NOW = 10_000;

function run(options: {
  held: string[];
  present: InterfaceAddress[];
  leaseLeftMs?: number;
  policy?: LifetimePolicy;
  failing?: string[];
}) {
  const calls: [string[], number | undefined][] = [];
  const { net } = memoryNet({
    addresses: () => Promise.resolve(options.present),
    refreshMany: (cidrs, lifetime) => {
      calls.push([[...cidrs], lifetime.lifetimeSec]);
      return Promise.resolve(new Map((options.failing ?? []).map((cidr) => [cidr, new Error('gone')])));
    },
  });
  const held = { locksHeld: options.held, leaseDeadline: NOW + (options.leaseLeftMs ?? 2900) };
  return renewHeldAddresses({ held, net, policy: options.policy ?? POLICY, now: () => NOW }).then(
    (outcome) => ({ outcome, calls }),
  );
}

const on = (cidr: string, interfaceName = 'test0'): InterfaceAddress => ({ interfaceName, cidr });

describe('early renewal of the held addresses at a restart', () => {
  it('renews, in one call and for the lease, the held locks whose address is still on the interface', async () => {
    const { outcome, calls } = await run({
      held: ['198.18.0.10/32', '198.18.0.11/32', '198.18.0.12/32'],
      present: [
        on('198.18.0.10/32'),
        on('198.18.0.12/32'),
        on('198.18.0.11/32', 'other0'),
        on('198.18.0.2/24'),
      ],
    });
    assert.deepEqual(calls, [[['198.18.0.10/32', '198.18.0.12/32'], 2]]);
    assert.deepEqual(outcome, { renewed: ['198.18.0.10/32', '198.18.0.12/32'], lifetimeSec: 2, failed: [] });
  });

  it('touches nothing without a held lock, or with addresses that never expire', async () => {
    assert.deepEqual((await run({ held: [], present: [on('198.18.0.10/32')] })).calls, []);
    const forever = await run({
      held: ['198.18.0.10/32'],
      present: [on('198.18.0.10/32')],
      policy: { ...POLICY, addressLifetimeSec: 0 },
    });
    assert.deepEqual(forever.calls, [], 'at-least-one without ADDRESS_LIFETIME keeps addresses forever');
  });

  it('never gives more than the lease has left; none when it is too close under at-most-one', async () => {
    const policy: LifetimePolicy = { ...POLICY, faultPolicy: 'at-most-one', addressLifetimeSec: 60 };
    const held = ['198.18.0.10/32'];
    const present = [on('198.18.0.10/32')];
    assert.deepEqual((await run({ held, present, policy })).calls, [[held, 2]]);
    assert.deepEqual((await run({ held, present, policy, leaseLeftMs: 1999 })).calls, [[held, 1]]);
    assert.deepEqual((await run({ held, present, policy, leaseLeftMs: 800 })).calls, []);
  });

  it('reports only what the kernel renewed; a kernel that cannot be read changes nothing', async () => {
    const held = ['198.18.0.10/32', '198.18.0.11/32'];
    const present = held.map((cidr) => on(cidr));
    const partly = await run({ held, present, failing: ['198.18.0.11/32'] });
    assert.deepEqual(partly.outcome, {
      renewed: ['198.18.0.10/32'],
      lifetimeSec: 2,
      failed: ['198.18.0.11/32'],
    });
    const { net } = memoryNet({ addresses: () => Promise.reject(new Error('EPERM')) });
    const outcome = await renewHeldAddresses({
      held: { locksHeld: held, leaseDeadline: NOW + 2900 },
      net,
      policy: POLICY,
      now: () => NOW,
    });
    assert.deepEqual(outcome, { renewed: [], lifetimeSec: null, failed: [], error: 'EPERM' });
  });
});
