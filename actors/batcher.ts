/**
 * Gathers items queued in one turn of the event loop and hands them over together.
 *
 * The supervisor's spawns go through it: XState copies its children map once per spawning
 * event, so one `vip.add` per VIP made adding n VIPs O(n²); concurrent API adds whose etcd puts
 * return in the same turn now cost one copy. `flush()` hands over at once (the agent's start,
 * its stop); an item that is no longer wanted by then (`isWanted`) is dropped.
 */
export class TurnBatcher<T> {
  private queue: T[] = [];
  private pending: NodeJS.Immediate | undefined;

  constructor(
    private readonly deliver: (batch: T[]) => void,
    private readonly isWanted: (item: T) => boolean,
  ) {}

  push(item: T): void {
    this.queue.push(item);
    this.pending ??= setImmediate(() => this.flush());
  }

  flush(): void {
    if (this.pending) clearImmediate(this.pending);
    this.pending = undefined;
    const batch = this.queue.filter(this.isWanted);
    this.queue = [];
    if (batch.length > 0) this.deliver(batch);
  }
}
