import { Journal } from '../../actors/journal.ts';
import type { AgentOptions } from '../../actors/types.ts';
import { createExecChecksPolicy } from '../../adapters/health/exec-policy.ts';
import { createHealthMonitor } from '../../adapters/health/monitor.ts';

/** A logger that drops everything (the unit tests' agents). */
export const silentLogger = {
  error: () => undefined,
  warn: () => undefined,
  info: () => undefined,
  debug: () => undefined,
};

/**
 * The options of an agent in a unit test (fake etcd, memory net): host h1, at-least-one, no
 * checks (a check would fail), no EXEC, a TTL of 2 s, no address lifetime, one announcement.
 * `session` and `net` are the test's; anything else it gives overrides these.
 */
export function unitAgentOptions(
  options: Pick<AgentOptions, 'session' | 'net'> & Partial<AgentOptions>,
): AgentOptions {
  return {
    hostname: 'h1',
    faultPolicy: 'at-least-one',
    monitorHealth: createHealthMonitor({ probe: () => Promise.reject(new Error('no checks here')) }),
    execPolicy: createExecChecksPolicy(undefined),
    health: { intervalMs: 1000, timeoutMs: 500, fallCount: 2, riseCount: 2 },
    journal: new Journal(),
    logger: silentLogger,
    leaseTtlMs: 2000,
    addressLifetimeSec: 0,
    announce: { count: 1, intervalMs: 0, refreshIntervalMs: 0 },
    handoverTimeoutMs: 1000,
    restartGraceSec: 5,
    ...options,
  };
}
