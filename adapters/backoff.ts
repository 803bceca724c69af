/**
 * Exponential backoff, shared by every adapter that retries (etcd's session, watch, lease and
 * lock; webhook delivery): the n-th retry waits min(maxDelayMs, initialDelayMs × factorⁿ⁻¹),
 * less jitter.
 */
export interface BackoffPolicy {
  initialDelayMs: number;
  maxDelayMs: number;
  factor: number;
  /** 0..1: each delay is reduced by up to this fraction at random. Default 0. */
  jitter?: number;
}

/**
 * Delay before retry number `retry` (1-based; 0 is treated as 1, since some callers count
 * failures from 0).
 */
export function backoffDelay(
  policy: BackoffPolicy,
  retry: number,
  random: () => number = Math.random,
): number {
  const raw = Math.min(policy.maxDelayMs, policy.initialDelayMs * policy.factor ** Math.max(0, retry - 1));
  const jitter = Math.min(Math.max(policy.jitter ?? 0, 0), 1);
  return Math.max(0, Math.round(raw * (1 - jitter * random())));
}
