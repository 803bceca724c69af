/**
 * The agent's own lease deadline. etcd keeps the lease alive for TTL after it *receives* a
 * keep-alive; the agent counts from when it *sent* the one that succeeded, so its deadline is
 * never later than etcd's. When the deadline passes the session is fenced (`fault`), whatever
 * the etcd3 client believes (it notices a silent partition only after about 2 x TTL).
 */

export interface Clock {
  /** Monotonic milliseconds. */
  now(): number;
  setTimeout(fn: () => void, ms: number): ReturnType<typeof setTimeout>;
  clearTimeout(handle: ReturnType<typeof setTimeout>): void;
}

export const systemClock: Clock = {
  now: () => performance.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (handle) => clearTimeout(handle),
};

const MAX_TIMER_MS = 2 ** 31 - 1;

export class FenceDeadline {
  private deadline: number | null = null;
  private timer: ReturnType<typeof setTimeout> | null = null;

  constructor(
    private readonly clock: Clock,
    private readonly onExpired: () => void,
  ) {}

  /** etcd confirmed the lease at a keep-alive sent at `sentAt` with `ttlMs` to live. */
  extend(sentAt: number, ttlMs: number): void {
    const candidate = sentAt + ttlMs;
    if (this.deadline !== null && candidate <= this.deadline) return;
    this.deadline = candidate;
    this.arm();
  }

  /** Milliseconds left; 0 when past or never set. */
  remainingMs(): number {
    return this.deadline === null ? 0 : Math.max(0, this.deadline - this.clock.now());
  }

  expired(): boolean {
    return this.deadline === null || this.clock.now() >= this.deadline;
  }

  /** Forgets the deadline and disarms the timer (lease revoked, closed, or replaced). */
  reset(): void {
    this.deadline = null;
    this.disarm();
  }

  private arm(): void {
    this.disarm();
    if (this.deadline === null) return;
    // setTimeout takes at most 2^31-1 ms (longer waits fire after 1 ms): re-armed when it fires.
    const wait = Math.min(MAX_TIMER_MS, Math.max(0, this.deadline - this.clock.now()));
    this.timer = this.clock.setTimeout(() => {
      this.timer = null;
      // The clock may have been behind the timer: re-check, re-arm if not yet due.
      if (this.deadline !== null && this.clock.now() < this.deadline) {
        this.arm();
        return;
      }
      this.onExpired();
    }, wait);
  }

  private disarm(): void {
    if (this.timer !== null) {
      this.clock.clearTimeout(this.timer);
      this.timer = null;
    }
  }
}
