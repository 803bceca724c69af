import type { NetAdapter } from '../adapters/net/types.ts';
import type { AddressController } from './address.ts';

/**
 * Renews the kernel lifetime of every VIP this agent holds, all in one batch per tick
 * (`NetAdapter.refreshMany`: a few system calls for thousands of VIPs). One timer for the agent,
 * not one per VIP. The lifetime follows the lease (actors/agent.ts `lifetimeSec`), so it is
 * renewed about three times a second: per-VIP requests made that the agent's main idle cost.
 *
 * Only idle controllers are refreshed: their addresses cannot be mid-bind or mid-unbind, and a
 * batch is queued on the route socket before any request of theirs that follows, so a refresh
 * never re-creates an address that was just removed.
 */
export interface RefresherOptions {
  net: NetAdapter;
  controllers: () => Iterable<AddressController>;
  /** Whole seconds to give now; 0 = forever (nothing to renew); null = must not be held. */
  lifetimeSec: () => number | null;
  periodMs: () => number;
  onFailure: (cidr: string, err: unknown) => void;
}

export class AddressRefresher {
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly options: RefresherOptions) {}

  start(): void {
    this.schedule();
  }

  stop(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }

  /** One round: renew the bound, recheck the rest; exposed for tests. */
  tick(): void {
    const lifetime = this.options.lifetimeSec();
    const ready = [...this.options.controllers()].filter((c) => c.wantsBound && c.isIdle);
    if (lifetime === null) {
      // The fence deadline is too close to promise any address: drop them now.
      for (const controller of ready) controller.recheck();
      return;
    }
    for (const controller of ready.filter((c) => !c.isBound)) controller.recheck();
    const bound = ready.filter((c) => c.isBound);
    if (lifetime === 0 || bound.length === 0) return;
    let batch: Promise<Map<string, Error>>;
    try {
      batch = this.options.net.refreshMany(
        bound.map((c) => c.cidr),
        { lifetimeSec: lifetime },
      );
    } catch (err) {
      for (const controller of bound) this.failed(controller, err);
      return;
    }
    batch.then(
      (failures) => {
        for (const controller of bound) {
          const failure = failures.get(controller.cidr);
          if (failure) this.failed(controller, failure);
        }
      },
      (err: unknown) => {
        for (const controller of bound) this.failed(controller, err);
      },
    );
  }

  private failed(controller: AddressController, err: unknown): void {
    this.options.onFailure(controller.cidr, err);
    // The address vanished or the interface changed: let the controller bind it again.
    controller.recheck();
  }

  private schedule(): void {
    this.timer = setTimeout(() => {
      this.tick();
      this.schedule();
    }, this.options.periodMs());
    this.timer.unref();
  }
}
