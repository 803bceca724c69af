import { assign, setup, stopChild, type SnapshotFrom } from 'xstate';
import { ipMachine, type FaultPolicy, type IpState } from './ip.ts';

/**
 * The supervisor: one IP actor per configured VIP (actor id = VIP id). Pure like the IP
 * machine; `actors/` provides the IP machine's implementations by providing `ip` here.
 */

export interface AgentVip {
  vipId: string;
  ip: string;
}

export interface AgentContext {
  faultPolicy: FaultPolicy;
  /**
   * Maps, not records: every change copies them (context is immutable), and copying a Map of
   * 5,000 entries costs a third of spreading a record of them. `vipIdsByIp` makes the
   * duplicate-address check O(1) instead of a scan of every VIP per add.
   */
  vips: ReadonlyMap<string, AgentVip>;
  vipIdsByIp: ReadonlyMap<string, string>;
}

export interface AgentInput {
  faultPolicy: FaultPolicy;
}

export type AgentEvent =
  /**
   * One VIP or many (the agent's start, or adds that completed together): XState copies its
   * children map once per spawning action, so n VIPs in one event cost one copy, not n.
   */
  { type: 'vip.add'; vips: readonly AgentVip[] } | { type: 'vip.remove'; vipId: string };

export type NewVipVerdict =
  { ok: true } | { ok: false; reason: 'duplicate-id' | 'duplicate-ip'; existingId: string };

/** One rule for the machine and the service that must throw a typed error. */
export function checkNewVip(context: AgentContext, vip: AgentVip): NewVipVerdict {
  if (context.vips.has(vip.vipId)) return { ok: false, reason: 'duplicate-id', existingId: vip.vipId };
  const sameIp = context.vipIdsByIp.get(vip.ip);
  if (sameIp !== undefined) return { ok: false, reason: 'duplicate-ip', existingId: sameIp };
  return { ok: true };
}

export const agentMachine = setup({
  types: {
    context: {} as AgentContext,
    events: {} as AgentEvent,
    input: {} as AgentInput,
  },
  actors: {
    ip: ipMachine,
  },
  guards: {
    isKnownVip: ({ context, event }) => event.type === 'vip.remove' && context.vips.has(event.vipId),
  },
}).createMachine({
  id: 'agent',
  context: ({ input }) => ({ faultPolicy: input.faultPolicy, vips: new Map(), vipIdsByIp: new Map() }),
  on: {
    'vip.add': {
      // spawn() inside one assign adds the whole batch to the children map in one copy.
      // A VIP whose id or address is taken (by an existing VIP or earlier in the batch) is
      // refused: the first one wins.
      actions: assign(({ context, event, spawn }) => {
        const vips = new Map(context.vips);
        const vipIdsByIp = new Map(context.vipIdsByIp);
        for (const vip of event.vips) {
          if (!checkNewVip({ ...context, vips, vipIdsByIp }, vip).ok) continue;
          spawn('ip', {
            id: vip.vipId,
            input: { vipId: vip.vipId, ip: vip.ip, faultPolicy: context.faultPolicy },
          });
          vips.set(vip.vipId, vip);
          vipIdsByIp.set(vip.ip, vip.vipId);
        }
        return { vips, vipIdsByIp };
      }),
    },
    'vip.remove': {
      guard: 'isKnownVip',
      actions: [
        stopChild(({ event }) => event.vipId),
        assign(({ context, event }) => {
          const vips = new Map(context.vips);
          const vipIdsByIp = new Map(context.vipIdsByIp);
          const removed = vips.get(event.vipId);
          vips.delete(event.vipId);
          if (removed) vipIdsByIp.delete(removed.ip);
          return { vips, vipIdsByIp };
        }),
      ],
    },
  },
});

export type AgentMachine = typeof agentMachine;
export type AgentSnapshot = SnapshotFrom<AgentMachine>;

export interface VipState extends AgentVip {
  state: IpState;
}

/** The current state of one VIP's IP actor (BOOTING until it runs). */
export function vipStateOf(snapshot: AgentSnapshot, vipId: string): IpState {
  const child = snapshot.children[vipId];
  return child?.getSnapshot().value ?? 'BOOTING';
}

/** Every VIP of the agent with its IP actor's current state. */
export function listVipStates(snapshot: AgentSnapshot): VipState[] {
  return [...snapshot.context.vips.values()].map((vip) => ({
    ...vip,
    state: vipStateOf(snapshot, vip.vipId),
  }));
}
