import type { ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { neighbours } from './netns.ts';

/**
 * The lab's client: what a real client of the VIP sees. The observer (observer.ts) broadcasts
 * "who has VIP?" every few ms and so always finds whoever holds the VIP now; a real client
 * resolves the VIP once, caches the owner's MAC in its kernel neighbour table and keeps sending
 * there until a gratuitous ARP / NA moves it or the entry fails. This one is iputils `ping -D`
 * in a namespace of its own on the lab bridge (Lab.client), with the kernel's neighbour settings
 * untouched, sending an ICMP echo every few ms.
 *
 * Why ping and not an ICMP socket of our own: ping goes through the kernel's ordinary IP stack
 * and neighbour table exactly as any client's traffic does, needs no FFI (Node has no raw or
 * ICMP datagram socket), prints each reply with the kernel's receive time (`-D`, SO_TIMESTAMP)
 * so a loaded machine delays only our reading of the line, never the figure, flushes every line
 * to a pipe, and marks a second answer to one echo `(DUP!)`: two hosts answering, as a client
 * sees it. Its own namespace, not the observer's: the observer's probes are answered to the
 * observer's address, and the kernel there takes those replies into its neighbour entry for the
 * VIP, which would keep that entry right where a real client's goes stale.
 *
 * Times are the wall clock in ms (Date.now()'s clock; ping -D prints it), so callers window a
 * report with Date.now() values.
 */

/** One echo reply as ping printed it. */
export interface EchoReply {
  /** Kernel receive time, ms since the epoch. */
  t: number;
  seq: number;
  /** A second (or later) reply to the same echo: another host answered too. */
  dup: boolean;
}

/** The longest time without a reply: from the last reply before it to the first after it. */
export interface ReplyGap {
  ms: number;
  startT: number;
  /** The first reply after the gap; null when none came before the window closed. */
  endT: number | null;
}

/** The longest time without a reply across which echoes went unanswered: an outage. */
export interface ReplyOutage {
  ms: number;
  /** Echoes sent and never answered in it (ping's icmp_seq skipped); null: it runs to the window's end. */
  lost: number | null;
}

export interface ClientGapReport {
  /** Longest time between two replies (or from the last one to the window's end): steady state is one interval. */
  longestGap: ReplyGap;
  /**
   * Longest gap across which echoes were lost (or from the last reply to a finite window end). A
   * gap with no echo lost is ping itself not scheduled on a loaded machine (it sent nothing), not
   * the VIP failing.
   */
  longestOutage: ReplyOutage;
  /** Replies in the window, duplicates excluded. */
  replies: number;
  /** Duplicate replies: a second host answered an echo. */
  duplicates: number;
  firstReplyT: number | null;
  lastReplyT: number | null;
}

export interface ClientReport extends ClientGapReport {
  vip: string;
  intervalMs: number;
  /** ping's own summary at exit ("N packets transmitted, M received"), when it printed one. */
  transmitted: number | null;
  /** The MAC the client's kernel neighbour entry for the VIP holds at the end, and its state. */
  neighbour: { mac: string | null; state: string[] } | null;
}

const REPLY = /^\[(\d+(?:\.\d+)?)\]\s+\d+ bytes from \S+: icmp_seq=(\d+)\b.*?(\(DUP!\))?\s*$/;
const SUMMARY = /^(\d+) packets transmitted, (\d+) received/;

/** A reply line of `ping -D -n`, or null for any other line (headers, errors, statistics). */
export function parsePingLine(line: string): EchoReply | null {
  const m = REPLY.exec(line);
  if (!m) return null;
  return { t: Number(m[1]) * 1000, seq: Number(m[2]), dup: m[3] !== undefined };
}

/** ping's "N packets transmitted, M received" summary line, or null. */
export function parsePingSummary(line: string): { transmitted: number; received: number } | null {
  const m = SUMMARY.exec(line.trim());
  return m ? { transmitted: Number(m[1]), received: Number(m[2]) } : null;
}

/**
 * Folds replies into the client's figures for the window [fromT, toT]. A gap counts when it
 * overlaps the window, whole: the one a fault at fromT opens began at the last reply before it.
 * The time before the client's very first reply is no gap (it had not reached the VIP yet); the
 * time from the last reply to a finite toT is one: a client never answered again has a gap that
 * lasts to the end, with no end reply (and one that was never answered at all, the whole window).
 */
export function analyseReplies(
  replies: readonly EchoReply[],
  fromT = -Infinity,
  toT = Infinity,
): ClientGapReport {
  const firsts = replies.filter((r) => !r.dup);
  const inWindow = (r: EchoReply) => r.t >= fromT && r.t <= toT;
  const counted = firsts.filter(inWindow);
  let longestGap: ReplyGap = { ms: 0, startT: counted[0]?.t ?? fromT, endT: counted[0]?.t ?? null };
  for (let i = 1; i < firsts.length; i++) {
    const before = firsts[i - 1]!.t;
    const after = firsts[i]!.t;
    if (after <= fromT || before >= toT) continue;
    if (after - before > longestGap.ms) longestGap = { ms: after - before, startT: before, endT: after };
  }
  const last = firsts.filter((r) => r.t <= toT).at(-1);
  if (Number.isFinite(toT)) {
    const since = last ?? { t: fromT };
    if (Number.isFinite(since.t) && toT - since.t > longestGap.ms) {
      longestGap = { ms: toT - since.t, startT: since.t, endT: null };
    }
  }
  let longestOutage: ReplyOutage = { ms: 0, lost: 0 };
  for (let i = 1; i < firsts.length; i++) {
    const before = firsts[i - 1]!;
    const after = firsts[i]!;
    if (after.t <= fromT || after.t > toT) continue;
    const skipped = ((after.seq - before.seq + 65536) % 65536) - 1;
    if (skipped > 0 && after.t - before.t > longestOutage.ms) {
      longestOutage = { ms: after.t - before.t, lost: skipped };
    }
  }
  if (Number.isFinite(toT)) {
    // From the last reply (or the window's start) to its end: nothing answered since.
    const lastT = last?.t ?? fromT;
    const trailing = Number.isFinite(lastT) ? toT - Math.max(lastT, fromT) : 0;
    if (trailing > longestOutage.ms) longestOutage = { ms: trailing, lost: null };
  }
  return {
    longestGap,
    longestOutage,
    replies: counted.length,
    duplicates: replies.filter((r) => r.dup && inWindow(r)).length,
    firstReplyT: counted[0]?.t ?? null,
    lastReplyT: counted.at(-1)?.t ?? null,
  };
}

/**
 * Now, on the replies' clock: Date.now() counts whole ms, ping's times have µs, so a reply from
 * the current millisecond is later than Date.now() and would fall out of a window ending "now".
 */
const now = (): number => Date.now() + 1;

/** A running client (a ping child in the client namespace). */
export class Client {
  readonly replies: EchoReply[] = [];
  private transmitted: number | null = null;
  private stderr = '';
  private readonly exited: Promise<void>;
  private readonly waiters = new Set<() => void>();

  constructor(
    private readonly child: ChildProcess,
    readonly ns: string,
    readonly vip: string,
    readonly intervalMs: number,
  ) {
    createInterface({ input: child.stdout! }).on('line', (line) => {
      const reply = parsePingLine(line);
      if (reply) {
        this.replies.push(reply);
        for (const wake of this.waiters) wake();
        return;
      }
      const summary = parsePingSummary(line);
      if (summary) this.transmitted = summary.transmitted;
    });
    child.stderr?.on('data', (chunk: Buffer) => {
      this.stderr = (this.stderr + chunk.toString()).slice(-2000);
    });
    this.exited = new Promise((resolve) => child.once('close', () => resolve()));
  }

  /**
   * Resolves with the first reply after now matching `predicate` (default: any), or rejects at
   * the deadline naming the VIP (and ping's complaint, if it has exited).
   */
  waitForReply(timeoutMs: number, predicate: (reply: EchoReply) => boolean = () => true): Promise<EchoReply> {
    const start = this.replies.length;
    return new Promise((resolve, reject) => {
      const check = () => {
        const found = this.replies.slice(start).find(predicate);
        if (found) {
          cleanup();
          resolve(found);
        }
      };
      const timer = setTimeout(() => {
        cleanup();
        const why = this.child.exitCode !== null ? `; ping exited: ${this.stderr.trim()}` : '';
        reject(new Error(`client: no reply from ${this.vip} within ${timeoutMs} ms${why}`));
      }, timeoutMs);
      const cleanup = () => {
        clearTimeout(timer);
        this.waiters.delete(check);
      };
      this.waiters.add(check);
    });
  }

  /** The figures so far, for the window [fromT, toT] (default: everything up to now). */
  report(fromT = -Infinity, toT = now()): ClientGapReport {
    return analyseReplies(this.replies, fromT, toT);
  }

  /** The client kernel's neighbour entry for the VIP right now (`ip neigh show VIP`). */
  async neighbour(): Promise<{ mac: string | null; state: string[] } | null> {
    const entry = (await neighbours(this.ns, 'eth0')).find((n) => n.dst === this.vip);
    return entry ? { mac: entry.lladdr ?? null, state: entry.state } : null;
  }

  /** Stops ping (SIGINT: it prints its summary) and reports the window [fromT, the stop]. */
  async stop(fromT = -Infinity): Promise<ClientReport> {
    const stoppedAt = now();
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGINT');
    await this.exited;
    const neighbour = await this.neighbour().catch(() => null);
    return {
      vip: this.vip,
      intervalMs: this.intervalMs,
      ...this.report(fromT, stoppedAt),
      transmitted: this.transmitted,
      neighbour,
    };
  }
}
