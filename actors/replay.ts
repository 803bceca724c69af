import { initialTransition, transition, type SnapshotFrom } from 'xstate';
import { ipMachine, type IpState } from '../machines/ip.ts';
import type { JournalEntry } from './types.ts';

export interface ReplayStep {
  seq: number;
  /** State the pure machine is in after this entry. */
  state: IpState;
  /** State the journal recorded after this entry. */
  recorded: IpState;
}

export interface ReplayResult {
  steps: ReplayStep[];
  /** The machine's state after the last entry, or null when the journal has no start. */
  state: IpState | null;
  /** Entries whose replayed state differs from the recorded one (empty when faithful). */
  mismatches: ReplayStep[];
}

/**
 * Folds a VIP's journal through the pure IP machine. A `start` entry begins a fresh actor (an
 * agent restart) with the fault policy it recorded; `note` entries do not touch the machine.
 */
export function replay(entries: readonly JournalEntry[]): ReplayResult {
  let snapshot: SnapshotFrom<typeof ipMachine> | null = null;
  const steps: ReplayStep[] = [];
  for (const entry of entries) {
    if (entry.kind === 'start') {
      [snapshot] = initialTransition(ipMachine, {
        vipId: entry.vipId,
        ip: entry.ip,
        faultPolicy: entry.faultPolicy,
      });
      steps.push({ seq: entry.seq, state: snapshot.value, recorded: entry.state });
    } else if (entry.kind === 'event' && snapshot) {
      [snapshot] = transition(ipMachine, snapshot, { type: entry.event, source: 'replay' });
      steps.push({ seq: entry.seq, state: snapshot.value, recorded: entry.to });
    }
  }
  return {
    steps,
    state: snapshot ? snapshot.value : null,
    mismatches: steps.filter((step) => step.state !== step.recorded),
  };
}

/** The state after the entry with sequence number `seq` (time travel for the visualiser). */
export function stateAt(entries: readonly JournalEntry[], seq: number): IpState | null {
  return replay(entries.filter((entry) => entry.seq <= seq)).state;
}
