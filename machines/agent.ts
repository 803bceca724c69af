import { assertEvent, assign, setup, spawnChild, stopChild, type SnapshotFrom } from 'xstate';
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
  vips: Record<string, AgentVip>;
}

export interface AgentInput {
  faultPolicy: FaultPolicy;
}

export type AgentEvent =
  | { type: 'vip.add'; vipId: string; ip: string }
  /** Many VIPs at once (the agent's start): one context copy instead of one per VIP. */
  | { type: 'vip.restore'; vips: AgentVip[] }
  | { type: 'vip.remove'; vipId: string };

export type NewVipVerdict =
  { ok: true } | { ok: false; reason: 'duplicate-id' | 'duplicate-ip'; existingId: string };

/** The VIPs of a batch that may be added, in order: new ids and addresses, first one wins. */
export function acceptableVips(context: AgentContext, vips: readonly AgentVip[]): AgentVip[] {
  const ids = new Set(Object.keys(context.vips));
  const ips = new Set(Object.values(context.vips).map((vip) => vip.ip));
  return vips.filter((vip) => {
    if (ids.has(vip.vipId) || ips.has(vip.ip)) return false;
    ids.add(vip.vipId);
    ips.add(vip.ip);
    return true;
  });
}

/** One rule for the machine's guard and the service that must throw a typed error. */
export function checkNewVip(context: AgentContext, vip: AgentVip): NewVipVerdict {
  if (context.vips[vip.vipId]) return { ok: false, reason: 'duplicate-id', existingId: vip.vipId };
  const sameIp = Object.values(context.vips).find((existing) => existing.ip === vip.ip);
  if (sameIp) return { ok: false, reason: 'duplicate-ip', existingId: sameIp.vipId };
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
    isNewVip: ({ context, event }) => event.type === 'vip.add' && checkNewVip(context, event).ok,
    isKnownVip: ({ context, event }) => event.type === 'vip.remove' && event.vipId in context.vips,
  },
}).createMachine({
  id: 'agent',
  context: ({ input }) => ({ faultPolicy: input.faultPolicy, vips: {} }),
  on: {
    'vip.restore': {
      // spawn() inside one assign adds every child in one copy of the children map, where one
      // spawnChild per VIP copies it per VIP (5,000 VIPs: seconds of CPU at start).
      actions: assign({
        vips: ({ context, event, spawn }) => {
          const vips = { ...context.vips };
          for (const vip of acceptableVips(context, event.vips)) {
            spawn('ip', {
              id: vip.vipId,
              input: { vipId: vip.vipId, ip: vip.ip, faultPolicy: context.faultPolicy },
            });
            vips[vip.vipId] = vip;
          }
          return vips;
        },
      }),
    },
    'vip.add': {
      guard: 'isNewVip',
      actions: [
        spawnChild('ip', {
          id: ({ event }) => event.vipId,
          input: ({ context, event }) => {
            assertEvent(event, 'vip.add');
            return { vipId: event.vipId, ip: event.ip, faultPolicy: context.faultPolicy };
          },
        }),
        assign({
          vips: ({ context, event }) => ({
            ...context.vips,
            [event.vipId]: { vipId: event.vipId, ip: event.ip },
          }),
        }),
      ],
    },
    'vip.remove': {
      guard: 'isKnownVip',
      actions: [
        stopChild(({ event }) => event.vipId),
        assign({
          vips: ({ context, event }) => {
            const { [event.vipId]: _removed, ...rest } = context.vips;
            return rest;
          },
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
  return Object.values(snapshot.context.vips).map((vip) => ({
    ...vip,
    state: vipStateOf(snapshot, vip.vipId),
  }));
}
