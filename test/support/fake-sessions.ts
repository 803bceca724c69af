import { mock } from 'node:test';
import type { Clock } from '../../adapters/etcd/fence.ts';
import { createEtcdSession, type EtcdSessionImpl } from '../../adapters/etcd/session.ts';
import type { Election, ElectionEvent } from '../../adapters/etcd/types.ts';
import type { FakeEtcd } from './fake-etcd.ts';

/**
 * Real etcd sessions on the fake etcd under node:test's fake timers (the tests enable them with
 * `mock.timers.enable`), for the unit tests of adapters/etcd/README.md's tables.
 */

/** A clock on node:test's fake timers (Date.now is faked with them). */
export const fakeClock: Clock = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (handle) => clearTimeout(handle),
};

/** Lets every pending promise chain run (setImmediate is not faked); advances no time. */
export async function settle(): Promise<void> {
  for (let i = 0; i < 50; i++) await new Promise<void>((resolve) => setImmediate(resolve));
}

/** Advances fake time in small steps (0: runs the timers due now), settling in between. */
export async function elapse(ms: number, step = 100): Promise<void> {
  let done = 0;
  await settle();
  do {
    const now = Math.min(step, ms - done);
    mock.timers.tick(now);
    done += now;
    await settle();
  } while (done < ms);
}

/** `session(etcd, hostname)` opens one with a TTL of `ttlMs`; `sessions` holds them for closing. */
export function fakeSessions(ttlMs: number): {
  sessions: EtcdSessionImpl[];
  session: (etcd: FakeEtcd, hostname: string) => Promise<EtcdSessionImpl>;
} {
  const sessions: EtcdSessionImpl[] = [];
  const session = async (etcd: FakeEtcd, hostname: string): Promise<EtcdSessionImpl> => {
    const s = await createEtcdSession(
      { hostname, hosts: ['198.18.0.1:2379'], leaseTtlSeconds: ttlMs / 1000 },
      { rpc: etcd.client(hostname), clock: fakeClock },
    );
    sessions.push(s);
    return s;
  };
  return { sessions, session };
}

/**
 * The election's events as `type`, `demoted:<owner>`; with `marksReassert`, a re-asserted
 * verdict ends in ` again`.
 */
export function record(election: Election, { marksReassert = false } = {}): string[] {
  const seen: string[] = [];
  election.events$.subscribe((event: ElectionEvent) => {
    const name =
      event.type === 'demoted' && event.owner !== undefined ? `demoted:${event.owner}` : event.type;
    seen.push(marksReassert && 'reassert' in event ? `${name} again` : name);
  });
  return seen;
}
