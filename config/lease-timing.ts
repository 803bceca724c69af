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

/**
 * How long a started agent takes to renew its lease: from exec to its first keep-alive (release
 * build; bench/restart's "start→lease"). Measured on the lab's loaded 2-core machine: ~0.45 s
 * median, up to ~0.9 s. A budget, not a bound the agent enforces.
 */
export const START_TO_LEASE_MS = 900;

/**
 * The longest restart delay after a crash (systemd's RestartSec=) with which the restarted agent
 * still finds its lease alive, and so keeps its locks and VIPs. A killed agent's lease has at
 * least TTL − keep-alive interval left (its last keep-alive may be that old); starting takes
 * START_TO_LEASE_MS of it. With the defaults (2 s, 0.67 s): 433 ms. packaging/link.service's
 * RestartSec= stays below it (test/unit/packaging-systemd.test.ts).
 */
export function restartDelayBudgetMs(timing: LeaseTiming): number {
  return timing.ttlMs - timing.keepaliveIntervalMs - START_TO_LEASE_MS;
}
