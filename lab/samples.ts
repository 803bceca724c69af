/**
 * What the observer saw, turned into the figures LinK is judged by. Pure: the observer process
 * writes one JSON line per probe round, and this folds them.
 */

/** One probe round: who answered "who has VIP?" before the next round. */
export interface ProbeRound {
  /** Milliseconds (CLOCK_MONOTONIC-like, from the observer) when the request was sent. */
  t: number;
  /** MACs that answered in this round. */
  macs: string[];
}

/** A gratuitous ARP / NA seen on the wire. */
export interface Announcement {
  t: number;
  mac: string;
}

export interface GapReport {
  /** Longest run with no responder, from the last answered round to the next answered one (ms). */
  longestGapMs: number;
  /** Sum of the rounds' durations in which two or more MACs answered (ms). */
  twoAnswersMs: number;
  /** MAC answering at the end. */
  finalMacs: string[];
  rounds: number;
}

/**
 * Gap = time between the last round answered before an outage and the first round answered
 * after it, minus one probe interval (a round answered at t covers [t, t + interval)).
 */
export function analyseRounds(rounds: readonly ProbeRound[], fromT = -Infinity, toT = Infinity): GapReport {
  const window = rounds.filter((r) => r.t >= fromT && r.t <= toT);
  let longestGapMs = 0;
  let twoAnswersMs = 0;
  let lastAnswered: number | null = null;
  for (let i = 0; i < window.length; i++) {
    const round = window[i]!;
    const next = window[i + 1];
    const span = next ? next.t - round.t : 0;
    if (round.macs.length >= 2) twoAnswersMs += span;
    if (round.macs.length > 0) {
      if (lastAnswered !== null) {
        const interval = i > 0 ? round.t - window[i - 1]!.t : 0;
        longestGapMs = Math.max(longestGapMs, round.t - lastAnswered - interval);
      }
      lastAnswered = round.t;
    }
  }
  return {
    longestGapMs: Math.max(0, longestGapMs),
    twoAnswersMs,
    finalMacs: window.at(-1)?.macs ?? [],
    rounds: window.length,
  };
}

export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank]!;
}
