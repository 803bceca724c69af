import { parseDurationMs } from './duration.ts';
import { CONFIG_SCHEMA } from './schema.ts';

/**
 * The one rule of the etcd lease's timing (LEASE_TTL, KEEPALIVE_INTERVAL). It lives apart from
 * the parser because two sibling layers apply it: config/parse.ts to the environment, and
 * adapters/etcd/options.ts to a session opened without a parsed configuration (tests, tools).
 * It is pure and imports only the schema, so either may import it without a cycle.
 */

/** Which variable a timing breaks, so each caller can name it in its own error type. */
export class LeaseTimingError extends RangeError {
  override readonly name = 'LeaseTimingError';
  constructor(
    readonly variable: 'LEASE_TTL' | 'KEEPALIVE_INTERVAL',
    message: string,
  ) {
    super(message);
  }
}

export interface LeaseTiming {
  /** Whole seconds, ≥ 1 s (etcd leases count seconds). */
  ttlMs: number;
  keepaliveIntervalMs: number;
}

const ttlSpec = CONFIG_SCHEMA.find((spec) => spec.name === 'LEASE_TTL')!;
const DEFAULT_TTL_MS = parseDurationMs(ttlSpec.default)!;

/**
 * LinK v2's rule: without LEASE_TTL the TTL is 5 × KEEPALIVE_INTERVAL (rounded to whole seconds,
 * at least 1 s), or the schema's default; without KEEPALIVE_INTERVAL the interval is TTL / 3.
 * A TTL given explicitly must already be whole seconds; the interval must be shorter than it.
 */
export function leaseTiming(input: {
  ttlMs?: number | undefined;
  keepaliveMs?: number | undefined;
}): LeaseTiming {
  const { keepaliveMs } = input;
  let ttlMs = input.ttlMs ?? (keepaliveMs !== undefined ? 5 * keepaliveMs : DEFAULT_TTL_MS);
  if (!(Number.isInteger(ttlMs / 1000) && ttlMs >= 1000)) {
    if (input.ttlMs !== undefined) {
      throw new LeaseTimingError('LEASE_TTL', 'expected whole seconds, at least 1 (etcd leases)');
    }
    ttlMs = Math.max(1000, Math.round(ttlMs / 1000) * 1000);
  }
  if (keepaliveMs !== undefined && !(keepaliveMs > 0 && keepaliveMs < ttlMs)) {
    throw new LeaseTimingError(
      'KEEPALIVE_INTERVAL',
      `must be more than 0 and shorter than LEASE_TTL (${ttlMs / 1000}s)`,
    );
  }
  return { ttlMs, keepaliveIntervalMs: keepaliveMs ?? ttlMs / 3 };
}
