import { assign, setup, stopChild } from 'xstate';
import { ipMachine, type FaultPolicy } from './ip.ts';

/**
 * One shard of the supervisor: the parent of the IP actors whose VIP ids hash to it
 * (machines/agent.ts `shardOf`). It only spawns and stops; which VIPs are acceptable is the
 * supervisor's decision.
 *
 * Why shards: XState copies an actor's whole children map on every spawn and every stop, so a
 * parent of n IP actors paid O(n) per added VIP (O(n²) to add n one at a time, 3.6 ms per add
 * at 8,000 VIPs). Under 64 shards each copy is of n/64 entries.
 */

export interface ShardVip {
  vipId: string;
  ip: string;
}

export interface ShardInput {
  faultPolicy: FaultPolicy;
}

export type ShardEvent =
  { type: 'vip.add'; vips: readonly ShardVip[] } | { type: 'vip.remove'; vipId: string };

export const vipShardMachine = setup({
  types: {
    context: {} as ShardInput,
    events: {} as ShardEvent,
    input: {} as ShardInput,
  },
  actors: {
    ip: ipMachine,
  },
}).createMachine({
  id: 'vip-shard',
  context: ({ input }) => ({ faultPolicy: input.faultPolicy }),
  on: {
    'vip.add': {
      // spawn() inside one assign adds the whole batch to the children map in one copy.
      actions: assign(({ context, event, spawn }) => {
        for (const vip of event.vips) {
          spawn('ip', {
            id: vip.vipId,
            input: { vipId: vip.vipId, ip: vip.ip, faultPolicy: context.faultPolicy },
          });
        }
        return {};
      }),
    },
    'vip.remove': {
      actions: stopChild(({ event }) => event.vipId),
    },
  },
});

export type VipShardMachine = typeof vipShardMachine;
