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
  /** The kernel dropped a wanted address when its lifetime ran out. */
  onLost?: (cidr: string) => void;
  /** Monotonic milliseconds, as the controllers count them; tests pass their own. */
  now?: () => number;
}

export class AddressRefresher {
  private timer: NodeJS.Timeout | undefined;
  private readonly now: () => number;

  constructor(private readonly options: RefresherOptions) {
    this.now = options.now ?? (() => performance.now());
  }

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
    for (const controller of ready.filter((c) => !c.isBound)) {
      if (!controller.isLost || controller.mayRecreate()) controller.recheck();
    }
    // A renewal re-creates an address that is gone (the kernel does not need NLM_F_CREATE for
    // that). One whose lifetime ran out before this tick (the process was frozen or stalled past
    // it) is renewed only on etcd's word (`mayRecreate`); otherwise it is lost, left to the
    // kernel, and put back by a later tick once etcd has spoken. After a freeze past the TTL
    // another host owns the VIP: re-creating the address at the thaw made two hosts answer
    // until the session's recovery read etcd (10–40 ms in test/chaos).
    for (const controller of ready.filter((c) => c.isBound && c.mayHaveExpired)) {
      if (controller.mayRecreate()) continue;
      controller.markLost();
      this.options.onLost?.(controller.cidr);
    }
    if (lifetime === 0) return;
    this.renew(
      ready.filter((c) => c.isBound),
      lifetime,
    );
  }

  private renew(controllers: AddressController[], lifetime: number): void {
    if (controllers.length === 0) return;
    const sentAt = this.now();
    let batch: Promise<Map<string, Error>>;
    try {
      batch = this.options.net.refreshMany(
        controllers.map((c) => c.cidr),
        { lifetimeSec: lifetime },
      );
    } catch (err) {
      for (const controller of controllers) this.failed(controller, err);
      return;
    }
    batch.then(
      (failures) => {
        for (const controller of controllers) {
          const failure = failures.get(controller.cidr);
          if (failure) this.failed(controller, failure);
          else controller.renewed(sentAt, lifetime);
        }
      },
      (err: unknown) => {
        for (const controller of controllers) this.failed(controller, err);
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
