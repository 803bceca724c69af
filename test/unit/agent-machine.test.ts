import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Observable, type Subscriber } from 'rxjs';
import { createActor, fromEventObservable } from 'xstate';
import {
  SHARD_COUNT,
  checkNewVip,
  ipActorIds,
  ipActorOf,
  listVipStates,
  addressesOf,
  supervisorWith,
  vipIdOfAddress,
  vipStateOf,
} from '../../machines/agent.ts';
import { ipMachine, type IpEvent, type IpInputsParams } from '../../machines/ip.ts';

/** An agent whose IP actors read from per-VIP subscriber lists, counted to catch leaks. */
function harness() {
  const subscribers = new Map<string, Set<Subscriber<IpEvent>>>();
  const ip = ipMachine.provide({
    actors: {
      inputs: fromEventObservable(
        ({ input }: { input: IpInputsParams }) =>
          new Observable<IpEvent>((subscriber) => {
            const set = subscribers.get(input.vipId) ?? new Set();
            set.add(subscriber);
            subscribers.set(input.vipId, set);
            return () => set.delete(subscriber);
          }),
      ),
    },
  });
  const actor = createActor(supervisorWith(ip), {
    input: { faultPolicy: 'at-least-one' },
  }).start();
  const emit = (vipId: string, event: IpEvent) => subscribers.get(vipId)?.forEach((s) => s.next(event));
  const live = () => [...subscribers.values()].reduce((n, set) => n + set.size, 0);
  return { actor, emit, live };
}

describe('agent supervisor', () => {
  it('spawns one IP actor per VIP, with the VIP id as actor id', () => {
    const { actor, live } = harness();
    actor.send({ type: 'vip.add', vips: [{ vipId: 'vip-a', ip: '198.18.0.10/32' }] });
    actor.send({ type: 'vip.add', vips: [{ vipId: 'vip-b', ip: '198.18.0.11/32' }] });
    const snapshot = actor.getSnapshot();
    assert.deepEqual(ipActorIds(snapshot).sort(), ['vip-a', 'vip-b']);
    assert.equal(live(), 2);
    assert.deepEqual(
      listVipStates(snapshot)
        .map((v) => [v.vipId, v.state])
        .sort(),
      [
        ['vip-a', 'BOOTING'],
        ['vip-b', 'BOOTING'],
      ],
    );
  });

  it('routes stream events to the right actor and lists states', () => {
    const { actor, emit } = harness();
    actor.send({ type: 'vip.add', vips: [{ vipId: 'vip-a', ip: '198.18.0.10/32' }] });
    actor.send({ type: 'vip.add', vips: [{ vipId: 'vip-b', ip: '198.18.0.11/32' }] });
    emit('vip-a', { type: 'elected', source: 'etcd' });
    emit('vip-b', { type: 'demoted', source: 'etcd' });
    const states = Object.fromEntries(listVipStates(actor.getSnapshot()).map((v) => [v.vipId, v.state]));
    assert.deepEqual(states, { 'vip-a': 'ACTIVATED', 'vip-b': 'STANDBY' });
  });

  it('refuses a duplicate id or address', () => {
    const { actor, live } = harness();
    actor.send({ type: 'vip.add', vips: [{ vipId: 'vip-a', ip: '198.18.0.10/32' }] });
    const context = actor.getSnapshot().context;
    assert.deepEqual(checkNewVip(context, { vipId: 'vip-a', ip: '198.18.0.99/32' }), {
      ok: false,
      reason: 'duplicate-id',
      existingId: 'vip-a',
    });
    assert.deepEqual(checkNewVip(context, { vipId: 'vip-z', ip: '198.18.0.10/32' }), {
      ok: false,
      reason: 'duplicate-ip',
      existingId: 'vip-a',
    });
    actor.send({ type: 'vip.add', vips: [{ vipId: 'vip-z', ip: '198.18.0.10/32' }] });
    assert.deepEqual(ipActorIds(actor.getSnapshot()), ['vip-a']);
    assert.equal(live(), 1);
  });

  it('stops the actor and its streams on delete, leaving the others', () => {
    const { actor, emit, live } = harness();
    actor.send({ type: 'vip.add', vips: [{ vipId: 'vip-a', ip: '198.18.0.10/32' }] });
    actor.send({ type: 'vip.add', vips: [{ vipId: 'vip-b', ip: '198.18.0.11/32' }] });
    const child = ipActorOf(actor.getSnapshot(), 'vip-a');
    assert.ok(child);
    actor.send({ type: 'vip.remove', vipId: 'vip-a' });
    assert.equal(child.getSnapshot().status, 'stopped');
    assert.equal(live(), 1, 'the removed actor unsubscribed from its inputs');
    assert.deepEqual(
      listVipStates(actor.getSnapshot()).map((v) => v.vipId),
      ['vip-b'],
    );
    emit('vip-b', { type: 'elected' });
    assert.equal(listVipStates(actor.getSnapshot())[0]?.state, 'ACTIVATED');
    actor.stop();
    assert.equal(live(), 0, 'stopping the agent unsubscribes every stream');
  });

  it('adds many VIPs in one event, refusing duplicates within the batch and against existing ones', () => {
    const { actor, emit, live } = harness();
    actor.send({ type: 'vip.add', vips: [{ vipId: 'vip-a', ip: '198.18.0.10/32' }] });
    actor.send({
      type: 'vip.add',
      vips: [
        { vipId: 'vip-b', ip: '198.18.0.11/32' },
        { vipId: 'vip-c', ip: '198.18.0.10/32' }, // address of vip-a
        { vipId: 'vip-a', ip: '198.18.0.12/32' }, // id of vip-a
        { vipId: 'vip-d', ip: '198.18.0.11/32' }, // address of vip-b, earlier in the batch
        { vipId: 'vip-e', ip: '198.18.0.13/32' },
      ],
    });
    assert.deepEqual(ipActorIds(actor.getSnapshot()).sort(), ['vip-a', 'vip-b', 'vip-e']);
    assert.deepEqual(
      listVipStates(actor.getSnapshot())
        .map((v) => v.vipId)
        .sort(),
      ['vip-a', 'vip-b', 'vip-e'],
    );
    assert.equal(live(), 3);
    emit('vip-e', { type: 'elected' });
    assert.equal(listVipStates(actor.getSnapshot()).find((v) => v.vipId === 'vip-e')?.state, 'ACTIVATED');
    actor.send({ type: 'vip.remove', vipId: 'vip-e' });
    assert.equal(live(), 2);
  });

  it('frees the address of a removed VIP for a new one', () => {
    const { actor, live } = harness();
    actor.send({ type: 'vip.add', vips: [{ vipId: 'vip-a', ip: '198.18.0.10/32' }] });
    actor.send({ type: 'vip.remove', vipId: 'vip-a' });
    assert.deepEqual(checkNewVip(actor.getSnapshot().context, { vipId: 'vip-b', ip: '198.18.0.10/32' }), {
      ok: true,
    });
    actor.send({ type: 'vip.add', vips: [{ vipId: 'vip-b', ip: '198.18.0.10/32' }] });
    assert.deepEqual(ipActorIds(actor.getSnapshot()), ['vip-b']);
    assert.equal(live(), 1);
  });

  it('spreads IP actors over the shards, and refuses a taken address whatever shard holds it', () => {
    const { actor, emit, live } = harness();
    const vips = Array.from({ length: 640 }, (_, i) => ({ vipId: `vip-${i}`, ip: `198.18.3.${i}/32` }));
    actor.send({ type: 'vip.add', vips });
    const snapshot = actor.getSnapshot();
    assert.equal(ipActorIds(snapshot).length, 640);
    const perShard = snapshot.context.shards.map((s) => Object.keys(s.getSnapshot().children).length);
    assert.equal(perShard.length, SHARD_COUNT);
    assert.ok(Math.max(...perShard) <= 30, `shard sizes ${perShard.join(' ')}`);
    for (const vip of vips) assert.equal(ipActorOf(snapshot, vip.vipId)?.id, vip.vipId);
    // Same address, another id (so most likely another shard): refused.
    for (let i = 0; i < 20; i++) {
      const taken = { vipId: `vip-other-${i}`, ip: `198.18.3.${i}/32` };
      assert.equal(checkNewVip(snapshot.context, taken).ok, false);
      actor.send({ type: 'vip.add', vips: [taken] });
    }
    assert.equal(ipActorIds(actor.getSnapshot()).length, 640);
    emit('vip-639', { type: 'elected' });
    assert.equal(vipStateOf(actor.getSnapshot(), 'vip-639'), 'ACTIVATED');
    actor.stop();
    assert.equal(live(), 0);
  });

  it('one address index: a reservation refuses another VIP the address and lets its own VIP in', () => {
    const { actor } = harness();
    actor.send({ type: 'vip.reserve', vips: [{ vipId: 'vip-a', ip: '198.18.0.1/32' }] });
    assert.equal(vipIdOfAddress(actor.getSnapshot(), '198.18.0.1/32'), 'vip-a');
    assert.deepEqual(checkNewVip(actor.getSnapshot().context, { vipId: 'vip-b', ip: '198.18.0.1/32' }), {
      ok: false,
      reason: 'duplicate-ip',
      existingId: 'vip-a',
    });
    actor.send({ type: 'vip.add', vips: [{ vipId: 'vip-b', ip: '198.18.0.1/32' }] });
    actor.send({ type: 'vip.add', vips: [{ vipId: 'vip-a', ip: '198.18.0.1/32' }] });
    assert.deepEqual(ipActorIds(actor.getSnapshot()), ['vip-a']);
    // Its own VIP added, the reservation is the VIP's entry: unreserve no longer frees it.
    actor.send({ type: 'vip.unreserve', vipId: 'vip-a', ip: '198.18.0.1/32' });
    assert.deepEqual(addressesOf(actor.getSnapshot()), ['198.18.0.1/32']);
    actor.stop();
  });

  it('unreserve frees an address reserved for a VIP that is not added, and only its own', () => {
    const { actor } = harness();
    actor.send({ type: 'vip.reserve', vips: [{ vipId: 'vip-a', ip: '198.18.0.1/32' }] });
    actor.send({ type: 'vip.unreserve', vipId: 'vip-b', ip: '198.18.0.1/32' });
    assert.equal(vipIdOfAddress(actor.getSnapshot(), '198.18.0.1/32'), 'vip-a');
    actor.send({ type: 'vip.unreserve', vipId: 'vip-a', ip: '198.18.0.1/32' });
    assert.deepEqual(addressesOf(actor.getSnapshot()), []);
    actor.send({ type: 'vip.add', vips: [{ vipId: 'vip-b', ip: '198.18.0.1/32' }] });
    assert.deepEqual(ipActorIds(actor.getSnapshot()), ['vip-b']);
    actor.stop();
  });

  it('ignores the removal of an unknown VIP', () => {
    const { actor } = harness();
    actor.send({ type: 'vip.remove', vipId: 'vip-nope' });
    assert.deepEqual(listVipStates(actor.getSnapshot()), []);
  });
});
