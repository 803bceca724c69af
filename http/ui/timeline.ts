import { replay } from '../../actors/replay.ts';
import type { JournalEntry } from '../../actors/types.ts';
import type { IpState } from '../../machines/ip.ts';

/**
 * Time travel over a VIP's journal. Pure and DOM-free (unit-tested in Node).
 *
 * The cursor is the `seq` of the journal entry being looked at, or `null` for "live" (the end of
 * the journal, following new entries). Only entries that move the machine are steps: `start`
 * (an actor (re)start) and `event`; `note` entries are listed but skipped when stepping. The last
 * step is the present, so landing on it means live: stepping back from live shows the state
 * before the latest step, stepping forward past the last-but-one step returns to live.
 *
 * The state at a step comes from folding the journal up to it through the real, pure IP machine
 * (actors/replay.ts), not from the journal's own record; both are returned so a difference shows.
 */

export type Cursor = number | null;

export function isStep(entry: JournalEntry): boolean {
  return entry.kind === 'start' || entry.kind === 'event';
}

/** Sequence numbers of the steps, oldest first. */
export function stepSeqs(entries: readonly JournalEntry[]): number[] {
  return entries.filter(isStep).map((entry) => entry.seq);
}

/** A cursor on the last step (or beyond) is live. */
export function normalise(entries: readonly JournalEntry[], cursor: Cursor): Cursor {
  if (cursor === null) return null;
  const steps = stepSeqs(entries);
  const last = steps.at(-1);
  if (last === undefined || cursor >= last) return null;
  // On a note: the step at or before it.
  const at = steps.filter((seq) => seq <= cursor).at(-1);
  return at ?? steps[0] ?? null;
}

export function stepBack(entries: readonly JournalEntry[], cursor: Cursor): Cursor {
  const steps = stepSeqs(entries);
  if (steps.length === 0) return null;
  if (steps.length === 1) return steps[0]!;
  // The first step at or after the cursor; none: the cursor is past the end, which is live.
  const index = cursor === null ? -1 : steps.findIndex((seq) => seq >= cursor);
  const position = index < 0 ? steps.length - 1 : index;
  return steps[Math.max(position - 1, 0)]!;
}

export function stepForward(entries: readonly JournalEntry[], cursor: Cursor): Cursor {
  if (cursor === null) return null;
  const next = stepSeqs(entries).find((seq) => seq > cursor);
  return normalise(entries, next ?? null);
}

export function firstStep(entries: readonly JournalEntry[]): Cursor {
  const steps = stepSeqs(entries);
  return steps.length > 1 ? steps[0]! : null;
}

export interface TimelineView {
  cursor: Cursor;
  /** The entry the cursor is on (the last step when live); undefined for an empty journal. */
  entry: JournalEntry | undefined;
  /** 1-based position among the steps, and their count. */
  position: number;
  steps: number;
  /** The state the pure machine is in at the cursor; the recorded one when it cannot replay. */
  state: IpState | null;
  /** The state the journal recorded at the cursor. */
  recorded: IpState | null;
  /** false when the journal in memory starts after the actor's `start` (bounded journal). */
  replayed: boolean;
}

function recordedState(entry: JournalEntry | undefined): IpState | null {
  if (entry?.kind === 'start') return entry.state;
  if (entry?.kind === 'event') return entry.to;
  return null;
}

export function viewAt(entries: readonly JournalEntry[], cursor: Cursor): TimelineView {
  const normalised = normalise(entries, cursor);
  const steps = stepSeqs(entries);
  const seq = normalised ?? steps.at(-1);
  const entry = seq === undefined ? undefined : entries.find((e) => e.seq === seq);
  const recorded = recordedState(entry);
  const upTo = seq === undefined ? [] : entries.filter((e) => e.seq <= seq);
  const replayedState = replay(upTo).state;
  return {
    cursor: normalised,
    entry,
    position: seq === undefined ? 0 : steps.indexOf(seq) + 1,
    steps: steps.length,
    state: replayedState ?? recorded,
    recorded,
    replayed: replayedState !== null,
  };
}

/** What a key press does to the cursor; undefined when the key is not the timeline's. */
export function cursorForKey(
  entries: readonly JournalEntry[],
  cursor: Cursor,
  key: string,
): Cursor | undefined {
  switch (key) {
    case 'ArrowLeft':
      return stepBack(entries, cursor);
    case 'ArrowRight':
      return stepForward(entries, cursor);
    case 'Home':
      return firstStep(entries);
    case 'End':
      return null;
    default:
      return undefined;
  }
}

/**
 * The caption of a replayed step: which journal entry is highlighted (its seq, its event and the
 * move it recorded, its time) and the state the machine is in there. `time` is the entry's time
 * as the page shows it.
 */
export function replayCaption(view: TimelineView, time: string): string {
  const entry = view.entry;
  if (!entry) return '';
  const what =
    entry.kind === 'start'
      ? `start (actor started in ${entry.state})`
      : entry.kind === 'event'
        ? `${entry.event} (${entry.from} → ${entry.to})`
        : `${entry.code} note`;
  const how = view.replayed ? 'replayed through the machine' : 'as recorded (journal start not in memory)';
  const mismatch =
    view.replayed && view.recorded && view.recorded !== view.state
      ? ` — the journal recorded ${view.recorded}`
      : '';
  return `Replaying step ${view.position} of ${view.steps}: entry #${entry.seq}, ${what} at ${time} — state ${view.state ?? '?'}, ${how}${mismatch}`;
}
