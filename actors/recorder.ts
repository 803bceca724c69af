import type { AnyActorRef, InspectionEvent } from 'xstate';
import { isIpEventType, type EventSource, type FaultPolicy, type IpState } from '../machines/ip.ts';
import type { Journal } from './journal.ts';

export interface RecordedTransition {
  vipId: string;
  ip: string;
  event: string;
  reason?: string;
  /** etcd revision the event was decided at, for events from the election. */
  revision?: number;
  from: IpState;
  to: IpState;
}

export interface RecorderOptions {
  journal: Journal;
  faultPolicy: FaultPolicy;
  /** The VIP's address when `actorId` is an IP actor of this agent, else undefined. */
  ipOf: (actorId: string) => string | undefined;
  onTransition?: (transition: RecordedTransition) => void;
  /** An IP actor (re)started, in `state` (BOOTING): how long a VIP waits in it is timed from here. */
  onStart?: (vipId: string, state: IpState) => void;
  /** An IP actor stopped (its VIP deleted, or the agent stopping). */
  onStop?: (vipId: string) => void;
}

/**
 * An XState inspector that journals every event an IP actor processes with the state before
 * and after, and its (re)start. Inspection sees events however they arrive (streams, API,
 * tests), in the order the actor processed them.
 */
export function createJournalRecorder(options: RecorderOptions): (inspection: InspectionEvent) => void {
  const lastState = new Map<string, IpState>();
  return (inspection) => {
    if (inspection.type !== '@xstate.snapshot') return;
    const vipId = (inspection.actorRef as AnyActorRef).id;
    const ip = options.ipOf(vipId);
    if (ip === undefined) return;
    const to = (inspection.snapshot as unknown as { value: IpState }).value;
    const event = inspection.event as {
      type: string;
      source?: EventSource;
      reason?: string;
      revision?: number;
    };
    if (event.type === 'xstate.init') {
      lastState.set(vipId, to);
      options.journal.append({ kind: 'start', vipId, ip, faultPolicy: options.faultPolicy, state: to });
      options.onStart?.(vipId, to);
      return;
    }
    if (event.type === 'xstate.stop') {
      lastState.delete(vipId);
      options.onStop?.(vipId);
      return;
    }
    if (!isIpEventType(event.type)) return;
    const from = lastState.get(vipId) ?? 'BOOTING';
    lastState.set(vipId, to);
    options.journal.append({
      kind: 'event',
      vipId,
      event: event.type,
      source: event.source ?? 'unknown',
      ...(event.reason ? { reason: event.reason } : {}),
      from,
      to,
    });
    if (from !== to) {
      options.onTransition?.({
        vipId,
        ip,
        event: event.type,
        ...(event.reason ? { reason: event.reason } : {}),
        ...(event.revision !== undefined ? { revision: event.revision } : {}),
        from,
        to,
      });
    }
  };
}
