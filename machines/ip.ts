import { fromEventObservable, setup, type Subscribable } from 'xstate';

/**
 * The state machine of one virtual IP. Pure: it names its actions and its input stream, and
 * `actors/` provides their implementations with `.provide()`.
 *
 * The transition table below is the one source for the machine itself, docs/state-machine.md,
 * the visualiser and the tests (which also hold a literal copy of design.md's table).
 */

export const IP_STATES = ['BOOTING', 'ACTIVATED', 'STANDBY', 'FAILING'] as const;
export type IpState = (typeof IP_STATES)[number];

export const IP_EVENT_TYPES = [
  'fault',
  'elected',
  'demoted',
  'health_check_fail',
  'health_check_success',
] as const;
export type IpEventType = (typeof IP_EVENT_TYPES)[number];

/** Where an event came from; journaled with it. */
export const EVENT_SOURCES = ['etcd', 'fence', 'health', 'link', 'api', 'replay', 'test'] as const;
export type EventSource = (typeof EVENT_SOURCES)[number];

export interface IpEvent {
  type: IpEventType;
  source?: EventSource;
  /** A short human reason ("lease keep-alive deadline passed"), journaled. */
  reason?: string;
}

export type FaultPolicy = 'at-least-one' | 'at-most-one';
export const FAULT_POLICIES: readonly FaultPolicy[] = ['at-least-one', 'at-most-one'];

/** design.md's table with the default fault policy (`at-least-one`). */
export const ipTransitionTable: Readonly<Record<IpState, Readonly<Record<IpEventType, IpState>>>> = {
  BOOTING: {
    fault: 'ACTIVATED',
    elected: 'ACTIVATED',
    demoted: 'STANDBY',
    health_check_fail: 'FAILING',
    health_check_success: 'BOOTING',
  },
  ACTIVATED: {
    fault: 'ACTIVATED',
    elected: 'ACTIVATED',
    demoted: 'STANDBY',
    health_check_fail: 'FAILING',
    health_check_success: 'ACTIVATED',
  },
  STANDBY: {
    fault: 'ACTIVATED',
    elected: 'ACTIVATED',
    demoted: 'STANDBY',
    health_check_fail: 'FAILING',
    health_check_success: 'STANDBY',
  },
  FAILING: {
    fault: 'FAILING',
    elected: 'FAILING',
    demoted: 'FAILING',
    health_check_fail: 'FAILING',
    health_check_success: 'STANDBY',
  },
};

/** Where `fault` leads under `at-most-one`: a host that lost etcd never binds. */
export const atMostOneFaultTargets: Readonly<Record<IpState, IpState>> = {
  BOOTING: 'STANDBY',
  ACTIVATED: 'STANDBY',
  STANDBY: 'STANDBY',
  FAILING: 'FAILING',
};

/** The state `event` leads to from `state`: the table, with at-most-one's own `fault` row. */
export function ipNextState(state: IpState, event: IpEventType, policy: FaultPolicy): IpState {
  return event === 'fault' && policy === 'at-most-one'
    ? atMostOneFaultTargets[state]
    : ipTransitionTable[state][event];
}

export const IP_ACTIONS = [
  'bindAddress',
  'announce',
  'removeAddress',
  'releaseLock',
  'withdrawCandidacy',
  'resumeCandidacy',
] as const;
export type IpActionName = (typeof IP_ACTIONS)[number];

/**
 * Entry actions per state. BOOTING has none on purpose: a restarted agent keeps a bound
 * address until etcd says who owns it, so a restart drops no traffic.
 */
export const ipEntryActions: Readonly<Record<IpState, readonly IpActionName[]>> = {
  BOOTING: [],
  ACTIVATED: ['bindAddress', 'announce'],
  STANDBY: ['removeAddress'],
  FAILING: ['removeAddress', 'releaseLock', 'withdrawCandidacy'],
};

/** A sick host competes again only once it leaves FAILING. */
export const ipExitActions: Readonly<Record<IpState, readonly IpActionName[]>> = {
  BOOTING: [],
  ACTIVATED: [],
  STANDBY: [],
  FAILING: ['resumeCandidacy'],
};

export interface IpContext {
  vipId: string;
  /** Canonical CIDR, e.g. `198.18.0.10/32`. */
  ip: string;
  faultPolicy: FaultPolicy;
}

export type IpInput = IpContext;

/** What the `inputs` actor receives: enough to build the VIP's election$ and health$. */
export interface IpInputsParams {
  vipId: string;
  ip: string;
}

const noEvents: Subscribable<IpEvent> = {
  subscribe: () => ({ unsubscribe: () => undefined }),
};

interface Transition {
  target?: IpState;
  guard?: 'atMostOne';
}

function transitionTo(from: IpState, to: IpState, guard?: 'atMostOne'): Transition {
  // A self-transition is targetless so it runs no entry or exit action again.
  const transition: Transition = from === to ? {} : { target: to };
  if (guard) transition.guard = guard;
  return transition;
}

function transitionsFrom(from: IpState): Record<IpEventType, Transition | Transition[]> {
  const row = ipTransitionTable[from];
  const on = {} as Record<IpEventType, Transition | Transition[]>;
  for (const event of IP_EVENT_TYPES) {
    const to = row[event];
    on[event] =
      event === 'fault' && atMostOneFaultTargets[from] !== to
        ? [transitionTo(from, atMostOneFaultTargets[from], 'atMostOne'), transitionTo(from, to)]
        : transitionTo(from, to);
  }
  return on;
}

function stateNode(state: IpState) {
  return {
    entry: [...ipEntryActions[state]],
    exit: [...ipExitActions[state]],
    on: transitionsFrom(state),
  };
}

export const ipMachine = setup({
  types: {
    context: {} as IpContext,
    events: {} as IpEvent,
    input: {} as IpInput,
  },
  actions: {
    bindAddress: () => undefined,
    announce: () => undefined,
    removeAddress: () => undefined,
    releaseLock: () => undefined,
    withdrawCandidacy: () => undefined,
    resumeCandidacy: () => undefined,
  },
  guards: {
    atMostOne: ({ context }) => context.faultPolicy === 'at-most-one',
  },
  actors: {
    /** election$ and health$ merged; `actors/` provides the real streams. */
    inputs: fromEventObservable<IpEvent, IpInputsParams>(() => noEvents),
  },
}).createMachine({
  id: 'ip',
  initial: 'BOOTING',
  context: ({ input }) => ({ ...input }),
  invoke: {
    id: 'inputs',
    src: 'inputs',
    input: ({ context }) => ({ vipId: context.vipId, ip: context.ip }),
  },
  states: {
    BOOTING: stateNode('BOOTING'),
    ACTIVATED: stateNode('ACTIVATED'),
    STANDBY: stateNode('STANDBY'),
    FAILING: stateNode('FAILING'),
  },
});

export type IpMachine = typeof ipMachine;

export function isIpEventType(type: string): type is IpEventType {
  return (IP_EVENT_TYPES as readonly string[]).includes(type);
}
