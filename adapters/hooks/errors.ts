/**
 * Typed failures of notify hooks. Every class has a stable `code`; callers (the journal,
 * metrics) switch on the code, never on the message. Messages are single-line and safe to log.
 */

export type HookErrorCode =
  | 'HOOK_TIMEOUT'
  | 'HOOK_EXIT_CODE'
  | 'HOOK_SPAWN'
  | 'WEBHOOK_STATUS'
  | 'WEBHOOK_UNREACHABLE'
  | 'WEBHOOK_TIMEOUT'
  | 'HOOK_QUEUE_FULL'
  | 'HOOK_CANCELLED';

export class HookError extends Error {
  override readonly name: string = 'HookError';
  constructor(
    readonly code: HookErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** The notify command outlived its timeout and was killed. */
export class HookTimeoutError extends HookError {
  override readonly name = 'HookTimeoutError';
  constructor(
    message: string,
    readonly output: string,
  ) {
    super('HOOK_TIMEOUT', message);
  }
}

/** The notify command exited with a non-zero code, or was killed by a signal it did not expect. */
export class HookExitCodeError extends HookError {
  override readonly name = 'HookExitCodeError';
  constructor(
    message: string,
    readonly exitCode: number | null,
    readonly exitSignal: string | null,
    readonly output: string,
  ) {
    super('HOOK_EXIT_CODE', message);
  }
}

/** The notify command could not be started; `errno` keeps the OS error name (ENOENT, EACCES). */
export class HookSpawnError extends HookError {
  override readonly name = 'HookSpawnError';
  constructor(
    message: string,
    readonly errno: string | undefined,
    cause: unknown,
  ) {
    super('HOOK_SPAWN', message, { cause });
  }
}

/** The webhook answered with a status outside 2xx. */
export class WebhookStatusError extends HookError {
  override readonly name = 'WebhookStatusError';
  constructor(readonly status: number) {
    super('WEBHOOK_STATUS', `webhook answered ${status}`);
  }
}

/** The webhook could not be reached (refused, DNS, TLS, reset); `errno` when the OS gave one. */
export class WebhookUnreachableError extends HookError {
  override readonly name = 'WebhookUnreachableError';
  constructor(
    readonly errno: string | undefined,
    cause: unknown,
  ) {
    super(
      'WEBHOOK_UNREACHABLE',
      `webhook unreachable: ${errno ?? (cause instanceof Error ? cause.message : String(cause))}`,
      {
        cause,
      },
    );
  }
}

/** No complete answer from the webhook within the per-attempt timeout. */
export class WebhookTimeoutError extends HookError {
  override readonly name = 'WebhookTimeoutError';
  constructor(readonly timeoutMs: number) {
    super('WEBHOOK_TIMEOUT', `webhook did not answer within ${timeoutMs} ms`);
  }
}

/** Too many changes waiting for this VIP's hook: the oldest waiting one was dropped. */
export class HookQueueFullError extends HookError {
  override readonly name = 'HookQueueFullError';
  constructor(readonly limit: number) {
    super(
      'HOOK_QUEUE_FULL',
      `more than ${limit} changes waiting for this VIP's hook; the oldest was dropped`,
    );
  }
}

/** The runner was closed before the hook could run or finish. */
export class HookCancelledError extends HookError {
  override readonly name = 'HookCancelledError';
  constructor(message = 'hook runner closed') {
    super('HOOK_CANCELLED', message);
  }
}

/** Worth another webhook attempt: network failures, timeouts, 408, 429 and 5xx. */
export function isRetryableHookError(error: unknown): boolean {
  if (error instanceof WebhookUnreachableError || error instanceof WebhookTimeoutError) return true;
  if (error instanceof WebhookStatusError) {
    return error.status === 408 || error.status === 429 || error.status >= 500;
  }
  return false;
}
