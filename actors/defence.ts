import type { ClaimKind, ForeignClaim } from '../adapters/net/types.ts';

/**
 * RFC 5227 §2.4, option (c): a host that must keep its address defends it indefinitely. When
 * another MAC claims a VIP this host owns (a gratuitous ARP, any ARP packet from the VIP, an
 * advertisement for it), the owner answers at once with its own announcement, so every client
 * that just moved its neighbour entry to the other MAC moves back; each claim is reported.
 *
 * Rate: at most DEFEND_BURST answers per VIP in any DEFEND_INTERVAL_MS. RFC 5227 asks for one per
 * DEFEND_INTERVAL (10 s there) so that two defenders cannot flood the link; here a LinK peer
 * that seized the VIP announces a burst (ARP_GRATUITOUS_COUNT, 3 by default, 100 ms apart), and
 * answering only its first frame would leave clients on it until the next interval. Claims
 * beyond the rate are folded into one trailing answer when the window frees a slot, so the
 * last announcement a client hears is the owner's, and two defenders exchange at most
 * DEFEND_BURST frames a second per VIP. Reports (journal notes, hooks) follow the same rate.
 *
 * Never against the host etcd says owns the VIP now: `isOwner` is etcd's last word that this
 * host holds the lock under its live lease (its own fence not passed), so any other claimer is
 * by definition not the owner. A host that is not the owner only reports (it never announces).
 *
 * Pure: time and timers are injected, the announcement and the report are callbacks.
 */

export const DEFEND_INTERVAL_MS = 1000;
export const DEFEND_BURST = 3;

/** One answer to one or more claims, for the journal and the hooks. */
export interface Conflict {
  /** The other MAC (the last one, when claims were folded). */
  mac: string;
  kind: ClaimKind;
  /** Claims this answer covers (≥ 1): more than one when the rate folded them. */
  frames: number;
  /** An announcement went out in answer. */
  defended: boolean;
  /** Why none did: etcd does not say this host owns the VIP, or the address is not held. */
  notDefended?: 'not-owner' | 'not-held';
}

export interface DefenderOptions {
  /** etcd's last word is that this host owns the VIP now, and its IP actor is ACTIVATED. */
  isOwner(): boolean;
  /** Sends one announcement now; false when nothing went out (the address is not wanted and bound). */
  announce(): boolean;
  report(conflict: Conflict): void;
  /** Monotonic ms; default performance.now. */
  now?: () => number;
  /** Default setTimeout, unref'd; returns a cancel function. */
  setTimer?: (fn: () => void, ms: number) => () => void;
  intervalMs?: number;
  burst?: number;
}

function defaultTimer(fn: () => void, ms: number): () => void {
  const timer = setTimeout(fn, ms);
  timer.unref();
  return () => clearTimeout(timer);
}

export class Defender {
  /** When each answer of the current window went out. */
  private answers: number[] = [];
  /** Claims waiting for the trailing answer. */
  private pending: { mac: string; kind: ClaimKind; frames: number } | undefined;
  private cancelTimer: (() => void) | undefined;
  private closed = false;
  private readonly now: () => number;
  private readonly setTimer: (fn: () => void, ms: number) => () => void;
  private readonly intervalMs: number;
  private readonly burst: number;

  constructor(private readonly options: DefenderOptions) {
    this.now = options.now ?? (() => performance.now());
    this.setTimer = options.setTimer ?? defaultTimer;
    this.intervalMs = options.intervalMs ?? DEFEND_INTERVAL_MS;
    this.burst = options.burst ?? DEFEND_BURST;
  }

  claim(claim: Pick<ForeignClaim, 'mac' | 'kind'>): void {
    if (this.closed) return;
    const folded = (this.pending?.frames ?? 0) + 1;
    this.pending = { mac: claim.mac, kind: claim.kind, frames: folded };
    if (this.slotFree()) this.answerPending();
    else this.scheduleTrailing();
  }

  /** Stops answering; a trailing answer still waiting is dropped. */
  close(): void {
    this.closed = true;
    this.cancelTimer?.();
    this.cancelTimer = undefined;
    this.pending = undefined;
  }

  private slotFree(): boolean {
    const since = this.now() - this.intervalMs;
    this.answers = this.answers.filter((t) => t > since);
    return this.answers.length < this.burst;
  }

  private answerPending(): void {
    const pending = this.pending;
    this.pending = undefined;
    this.cancelTimer?.();
    this.cancelTimer = undefined;
    if (!pending) return;
    this.answers.push(this.now());
    const owner = this.options.isOwner();
    const defended = owner && this.options.announce();
    this.options.report({
      ...pending,
      defended,
      ...(defended ? {} : { notDefended: owner ? 'not-held' : 'not-owner' }),
    });
  }

  /** One timer, at the moment the oldest answer of the window leaves it. */
  private scheduleTrailing(): void {
    if (this.cancelTimer) return;
    const oldest = this.answers[0] ?? this.now();
    const wait = Math.max(0, oldest + this.intervalMs - this.now());
    this.cancelTimer = this.setTimer(() => {
      this.cancelTimer = undefined;
      if (this.closed) return;
      if (this.slotFree()) this.answerPending();
      else this.scheduleTrailing();
    }, wait);
  }
}
