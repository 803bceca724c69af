import { Subject } from 'rxjs';
import { HookCancelledError, HookError, HookQueueFullError } from './errors.ts';
import { runExecHook } from './exec.ts';
import { deliverWebhook, WebhookDeliveryError } from './webhook.ts';
import type { HookFailure, HookKind, HookRunner, HookRunnerOptions, StateChange } from './types.ts';

/**
 * Runs notify hooks for state changes without ever blocking or breaking the caller.
 *
 * Queues: one per (hook kind, VIP). A queue runs one change at a time, in the order `notify`
 * was called; queues are independent, so a slow webhook delays neither the notify command nor
 * other VIPs. A queue holds at most `maxQueuePerVip` waiting changes; beyond that the oldest
 * waiting one is dropped and reported (HOOK_QUEUE_FULL), so a flapping VIP with a hanging hook
 * cannot grow memory without bound.
 *
 * States of the runner: open → closing (close() called: notify reports HOOK_CANCELLED, queues
 * keep draining) → cancelled (the close bound passed: running hooks are aborted, waiting changes
 * reported HOOK_CANCELLED) → closed (failures$ completed).
 */

interface Queue {
  readonly kind: HookKind;
  readonly items: StateChange[];
  running: Promise<void> | null;
}

const DEFAULT_MAX_QUEUE = 100;
const DEFAULT_CLOSE_TIMEOUT_MS = 5000;

export function createHookRunner(options: HookRunnerOptions): HookRunner {
  const failures = new Subject<HookFailure>();
  const queues = new Map<string, Queue>();
  const lifetime = new AbortController();
  const maxQueue = Math.max(1, options.maxQueuePerVip ?? DEFAULT_MAX_QUEUE);
  const kinds: HookKind[] = [];
  if (options.exec) kinds.push('exec');
  if (options.webhook) kinds.push('webhook');
  let closing: Promise<void> | null = null;

  const report = (failure: HookFailure): void => {
    try {
      options.onFailure?.(failure);
    } catch {
      // A failing observer must not break the hooks.
    }
    failures.next(failure);
  };

  const runOne = async (kind: HookKind, change: StateChange): Promise<void> => {
    const started = performance.now();
    let attempts = 1;
    try {
      if (kind === 'exec' && options.exec) {
        await runExecHook(change, options.exec, lifetime.signal);
      } else if (kind === 'webhook' && options.webhook) {
        const context: { signal: AbortSignal; random?: () => number } = { signal: lifetime.signal };
        if (options.random) context.random = options.random;
        attempts = (await deliverWebhook(change, options.webhook, context)).attempts;
      }
    } catch (error) {
      if (error instanceof WebhookDeliveryError) {
        report({ hook: kind, change, error: error.last, attempts: error.attempts });
      } else {
        const hookError =
          error instanceof HookError
            ? error
            : new HookError('HOOK_SPAWN', `hook failed unexpectedly: ${String(error)}`, { cause: error });
        report({ hook: kind, change, error: hookError, attempts });
      }
      return;
    }
    try {
      options.onSuccess?.({
        hook: kind,
        change,
        attempts,
        durationMs: Math.round(performance.now() - started),
      });
    } catch {
      // Ignored, as for onFailure.
    }
  };

  const drain = async (key: string, queue: Queue): Promise<void> => {
    try {
      for (let change = queue.items.shift(); change; change = queue.items.shift()) {
        if (lifetime.signal.aborted) {
          report({ hook: queue.kind, change, error: new HookCancelledError(), attempts: 0 });
          continue;
        }
        await runOne(queue.kind, change);
      }
    } finally {
      queue.running = null;
      queues.delete(key);
    }
  };

  const enqueue = (kind: HookKind, change: StateChange): void => {
    const key = `${kind}\u0000${change.vipId}`;
    let queue = queues.get(key);
    if (!queue) {
      queue = { kind, items: [], running: null };
      queues.set(key, queue);
    }
    if (queue.items.length >= maxQueue) {
      const dropped = queue.items.shift();
      if (dropped)
        report({ hook: kind, change: dropped, error: new HookQueueFullError(maxQueue), attempts: 0 });
    }
    queue.items.push(change);
    if (!queue.running) {
      // drain never rejects: runOne catches everything, report() guards its callback.
      queue.running = drain(key, queue).catch(() => undefined);
    }
  };

  const close = async (timeoutMs = options.closeTimeoutMs ?? DEFAULT_CLOSE_TIMEOUT_MS): Promise<void> => {
    closing ??= (async () => {
      const idle = (): Promise<unknown> =>
        Promise.all([...queues.values()].flatMap((queue) => (queue.running ? [queue.running] : [])));
      let timer: NodeJS.Timeout | undefined;
      const bound = new Promise<'timeout'>((resolve) => {
        timer = setTimeout(() => resolve('timeout'), timeoutMs);
      });
      const outcome = await Promise.race([idle().then(() => 'idle' as const), bound]);
      clearTimeout(timer);
      if (outcome === 'timeout') {
        // Kills running commands (SIGTERM, SIGKILL after their grace) and aborts requests and
        // backoff waits; the drains then report their waiting changes as cancelled.
        lifetime.abort();
        await idle();
      }
      failures.complete();
    })();
    return closing;
  };

  return {
    notify(change: StateChange): void {
      try {
        if (closing) {
          for (const kind of kinds)
            report({ hook: kind, change, error: new HookCancelledError(), attempts: 0 });
          return;
        }
        for (const kind of kinds) enqueue(kind, change);
      } catch {
        // notify is fire-and-forget: nothing may reach the state machine.
      }
    },
    failures$: failures.asObservable(),
    get pending(): number {
      let count = 0;
      for (const queue of queues.values()) count += queue.items.length + (queue.running ? 1 : 0);
      return count;
    },
    close,
  };
}
