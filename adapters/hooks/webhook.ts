import { randomUUID } from 'node:crypto';
import {
  HookCancelledError,
  HookError,
  isRetryableHookError,
  WebhookStatusError,
  WebhookTimeoutError,
  WebhookUnreachableError,
} from './errors.ts';
import { DELIVERY_HEADER, SIGNATURE_HEADER, signDelivery, TIMESTAMP_HEADER } from './sign.ts';
import { backoffDelay } from '../backoff.ts';
import type { StateChange, WebhookOptions, WebhookRetryPolicy } from './types.ts';

/**
 * The agent's webhook policy (cli/agent-serve.ts): 4 attempts, waiting about 0.2, 0.4 and 0.8 s
 * (each up to 20 % shorter at random). The runner never assumes it: the policy is always passed in.
 */
export const DEFAULT_WEBHOOK_RETRY: WebhookRetryPolicy = {
  retries: 3,
  initialDelayMs: 200,
  maxDelayMs: 5000,
  factor: 2,
  jitter: 0.2,
};

/** The webhook body: the change as JSON, exactly the bytes that are signed. */
export function webhookBody(change: StateChange): Buffer {
  const body: StateChange = {
    vipId: change.vipId,
    ip: change.ip,
    from: change.from,
    to: change.to,
    event: change.event,
    hostname: change.hostname,
    leaseId: change.leaseId,
    time: change.time,
  };
  if (change.revision !== undefined) body.revision = change.revision;
  if (change.conflictMac !== undefined) body.conflictMac = change.conflictMac;
  return Buffer.from(JSON.stringify(body), 'utf8');
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    if (signal?.aborted) {
      reject(new HookCancelledError('webhook retry cancelled'));
      return;
    }
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(new HookCancelledError('webhook retry cancelled'));
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

function errnoOf(error: unknown): string | undefined {
  const cause: unknown = error instanceof Error ? error.cause : undefined;
  if (cause instanceof Error) return (cause as NodeJS.ErrnoException).code;
  return undefined;
}

async function postOnce(
  url: string,
  body: Buffer,
  headers: Record<string, string>,
  timeoutMs: number,
  signal?: AbortSignal,
): Promise<void> {
  const deadline = new AbortController();
  const timer = setTimeout(() => deadline.abort(), timeoutMs);
  try {
    const response = await fetch(url, {
      method: 'POST',
      body,
      headers,
      redirect: 'manual',
      signal: signal ? AbortSignal.any([deadline.signal, signal]) : deadline.signal,
    });
    // Read the (small) answer so the connection can be reused; its content does not matter.
    await response.arrayBuffer().catch(() => undefined);
    if (response.status < 200 || response.status > 299) throw new WebhookStatusError(response.status);
  } catch (error) {
    if (error instanceof HookError) throw error;
    if (signal?.aborted) throw new HookCancelledError('webhook delivery cancelled');
    if (deadline.signal.aborted) throw new WebhookTimeoutError(timeoutMs);
    throw new WebhookUnreachableError(errnoOf(error), error);
  } finally {
    clearTimeout(timer);
  }
}

/** Carries the last error of a delivery and how many attempts were made (internal to the runner). */
export class WebhookDeliveryError extends Error {
  override readonly name = 'WebhookDeliveryError';
  constructor(
    readonly last: HookError,
    readonly attempts: number,
  ) {
    super(last.message, { cause: last });
  }
}

export interface DeliveryResult {
  attempts: number;
}

/**
 * POSTs the change to the webhook, retrying transient failures (network, timeout, 408, 429,
 * 5xx) with exponential backoff. Headers: `Content-Type: application/json`, `X-Link-Delivery`
 * (one id for all attempts of a change, for deduplication), `X-Link-Timestamp` (Unix seconds,
 * of this attempt), `X-Link-Signature: v1=<hex>` over both and the body (when a secret is set)
 * and `X-Link-Attempt`. Each attempt is signed afresh: a retry after a long backoff is not stale,
 * and a receiver that processed an attempt whose answer was lost recognises its id. On final
 * failure throws a WebhookDeliveryError with the last HookError and the number of attempts made.
 */
export async function deliverWebhook(
  change: StateChange,
  options: WebhookOptions,
  context: { signal?: AbortSignal; random?: () => number } = {},
): Promise<DeliveryResult> {
  const body = webhookBody(change);
  const deliveryId = randomUUID();
  const baseHeaders: Record<string, string> = {
    'content-type': 'application/json',
    'user-agent': 'link-agent',
    [DELIVERY_HEADER.toLowerCase()]: deliveryId,
  };
  const attemptHeaders = (attempt: number): Record<string, string> => {
    const timestamp = Math.floor(Date.now() / 1000);
    const headers = {
      ...baseHeaders,
      [TIMESTAMP_HEADER.toLowerCase()]: String(timestamp),
      'x-link-attempt': String(attempt),
    };
    if (options.secret !== undefined) {
      headers[SIGNATURE_HEADER.toLowerCase()] = signDelivery(options.secret, timestamp, deliveryId, body);
    }
    return headers;
  };
  const maxAttempts = Math.max(0, Math.floor(options.retry.retries)) + 1;

  for (let attempt = 1; ; attempt++) {
    try {
      await postOnce(options.url, body, attemptHeaders(attempt), options.timeoutMs, context.signal);
      return { attempts: attempt };
    } catch (error) {
      const failure = error instanceof HookError ? error : new WebhookUnreachableError(undefined, error);
      if (attempt >= maxAttempts || !isRetryableHookError(failure)) {
        throw new WebhookDeliveryError(failure, attempt);
      }
      await sleep(backoffDelay(options.retry, attempt, context.random), context.signal).catch(
        (cancelled: unknown) => {
          throw new WebhookDeliveryError(cancelled as HookCancelledError, attempt);
        },
      );
    }
  }
}
