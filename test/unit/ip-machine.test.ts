import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createActor } from 'xstate';
import {
  IP_EVENT_TYPES,
  IP_STATES,
  ipMachine,
  ipTransitionTable,
  type FaultPolicy,
  type IpActionName,
  type IpEventType,
  type IpState,
} from '../../machines/ip.ts';

// design.md's table, copied by hand: the machine's exported table must never drift from it.
const DESIGN_TABLE: Record<IpEventType, Record<IpState, IpState>> = {
  fault: { BOOTING: 'ACTIVATED', ACTIVATED: 'ACTIVATED', STANDBY: 'ACTIVATED', FAILING: 'FAILING' },
  elected: { BOOTING: 'ACTIVATED', ACTIVATED: 'ACTIVATED', STANDBY: 'ACTIVATED', FAILING: 'FAILING' },
  demoted: { BOOTING: 'STANDBY', ACTIVATED: 'STANDBY', STANDBY: 'STANDBY', FAILING: 'FAILING' },
  health_check_fail: { BOOTING: 'FAILING', ACTIVATED: 'FAILING', STANDBY: 'FAILING', FAILING: 'FAILING' },
  health_check_success: {
    BOOTING: 'BOOTING',
    ACTIVATED: 'ACTIVATED',
    STANDBY: 'STANDBY',
    FAILING: 'STANDBY',
  },
};

// How to reach each state from BOOTING with the default policy.
const PATH_TO: Record<IpState, IpEventType[]> = {
  BOOTING: [],
  ACTIVATED: ['elected'],
  STANDBY: ['demoted'],
  FAILING: ['health_check_fail'],
};

const ENTRY: Record<IpState, IpActionName[]> = {
  BOOTING: [],
  ACTIVATED: ['bindAddress', 'announce'],
  STANDBY: ['removeAddress'],
  FAILING: ['removeAddress', 'releaseLock', 'withdrawCandidacy'],
};

function startIn(state: IpState, faultPolicy: FaultPolicy = 'at-least-one') {
  const ran: IpActionName[] = [];
  const record = (name: IpActionName) => () => void ran.push(name);
  const machine = ipMachine.provide({
    actions: {
      bindAddress: record('bindAddress'),
      announce: record('announce'),
      removeAddress: record('removeAddress'),
      releaseLock: record('releaseLock'),
      withdrawCandidacy: record('withdrawCandidacy'),
      resumeCandidacy: record('resumeCandidacy'),
    },
  });
  const actor = createActor(machine, {
    input: { vipId: 'vip-1', ip: '198.18.0.10/32', faultPolicy },
  }).start();
  for (const type of PATH_TO[state]) actor.send({ type, source: 'test' });
  assert.equal(actor.getSnapshot().value, state);
  ran.length = 0;
  return { actor, ran };
}

describe('IP machine', () => {
  it('starts in BOOTING and runs nothing', () => {
    const { actor, ran } = startIn('BOOTING');
    assert.equal(actor.getSnapshot().value, 'BOOTING');
    assert.deepEqual(ran, []);
  });

  it('exports the table of design.md', () => {
    for (const state of IP_STATES) {
      for (const event of IP_EVENT_TYPES)
        assert.equal(ipTransitionTable[state][event], DESIGN_TABLE[event][state]);
    }
  });

  for (const state of IP_STATES) {
    for (const event of IP_EVENT_TYPES) {
      const target = DESIGN_TABLE[event][state];
      it(`${state} --${event}--> ${target}`, () => {
        const { actor, ran } = startIn(state);
        actor.send({ type: event, source: 'test' });
        assert.equal(actor.getSnapshot().value, target);
        if (target === state) {
          assert.deepEqual(ran, [], 'a self-transition runs no entry or exit action');
        } else {
          const exit: IpActionName[] = state === 'FAILING' ? ['resumeCandidacy'] : [];
          assert.deepEqual(ran, [...exit, ...ENTRY[target]]);
        }
      });
    }
  }

  describe('fault policy guard', () => {
    it('at-least-one: fault binds the VIP', () => {
      for (const state of ['BOOTING', 'STANDBY', 'ACTIVATED'] as const) {
        const { actor } = startIn(state, 'at-least-one');
        actor.send({ type: 'fault' });
        assert.equal(actor.getSnapshot().value, 'ACTIVATED');
      }
    });

    it('at-most-one: fault leads to STANDBY and unbinds an owner', () => {
      const expected: Record<IpState, IpState> = {
        BOOTING: 'STANDBY',
        ACTIVATED: 'STANDBY',
        STANDBY: 'STANDBY',
        FAILING: 'FAILING',
      };
      for (const state of IP_STATES) {
        const { actor, ran } = startIn(state, 'at-most-one');
        actor.send({ type: 'fault' });
        assert.equal(actor.getSnapshot().value, expected[state]);
        assert.ok(!ran.includes('bindAddress'), `no bind from ${state}`);
        if (state === 'ACTIVATED') assert.deepEqual(ran, ['removeAddress']);
      }
    });
  });
});
