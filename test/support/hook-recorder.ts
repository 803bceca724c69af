import type { HookFailure, HookSuccess } from '../../adapters/hooks/types.ts';

/** Records what a runner reports; `until` waits (with a deadline) for a condition on the records. */
export class Recorder {
  readonly successes: HookSuccess[] = [];
  readonly failures: HookFailure[] = [];
  private readonly waiters = new Set<() => void>();

  readonly onSuccess = (success: HookSuccess): void => {
    this.successes.push(success);
    this.wake();
  };

  readonly onFailure = (failure: HookFailure): void => {
    this.failures.push(failure);
    this.wake();
  };

  private wake(): void {
    for (const waiter of [...this.waiters]) waiter();
  }

  until(what: string, condition: () => boolean, ms = 5000): Promise<void> {
    if (condition()) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      const check = (): void => {
        if (!condition()) return;
        clearTimeout(timer);
        this.waiters.delete(check);
        resolve();
      };
      const timer = setTimeout(() => {
        this.waiters.delete(check);
        reject(new Error(`${what}: not reached within ${ms} ms`));
      }, ms);
      this.waiters.add(check);
    });
  }
}
