import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Registry } from 'prom-client';
import { EMPTY } from 'rxjs';
import type { HealthReport } from '../../actors/health.ts';
import type { AgentService } from '../../actors/types.ts';
import { createApp } from '../../http/app.ts';
import { AuthGuard } from '../../http/auth.ts';
import { startApiServer } from '../../http/server.ts';
import type { ApiServer } from '../../http/server.ts';
import { sourceKey } from '../../http/source.ts';
import { httpCall } from '../../lab/api.ts';

/**
 * Failed authentications: the per-source table (a clock the test moves), and the API refusing a
 * guessing source with 429 while another source's good credentials still pass.
 */

function guardWithClock(options: ConstructorParameters<typeof AuthGuard>[0] = {}) {
  let now = 1_000_000;
  const lines: { message: string; meta: Record<string, unknown> | undefined }[] = [];
  const logger = {
    info: () => undefined,
    error: () => undefined,
    warn: (message: string, meta?: Record<string, unknown>) => lines.push({ message, meta }),
  };
  const guard = new AuthGuard({ logger, now: () => now, ...options });
  return {
    guard,
    lines,
    advance: (ms: number) => {
      now += ms;
    },
  };
}

describe('sourceKey', () => {
  it('is the IPv4 address, an IPv4-mapped address unmapped, the /64 of IPv6, null without address', () => {
    assert.equal(sourceKey('198.18.0.7'), '198.18.0.7');
    assert.equal(sourceKey('::ffff:198.18.0.7'), '198.18.0.7');
    assert.equal(sourceKey('2001:db8:1:2:aaaa::1'), '2001:db8:1:2::/64');
    assert.equal(sourceKey('2001:db8:1:2:bbbb:cccc:dddd:eeee'), '2001:db8:1:2::/64');
    assert.equal(sourceKey('2001:db8::1'), '2001:db8:0:0::/64');
    assert.equal(sourceKey('::1'), '0:0:0:0::/64');
    assert.equal(sourceKey(undefined), null);
  });
});

describe('AuthGuard', () => {
  it('blocks a source at its 20th failure within a minute, for a minute', () => {
    const { guard, advance } = guardWithClock();
    for (let i = 0; i < 19; i++) {
      guard.failed('198.18.0.7');
      advance(1000);
    }
    assert.equal(guard.blockedFor('198.18.0.7'), 0, '19 failures: not blocked');
    guard.failed('198.18.0.7');
    assert.equal(guard.blockedFor('198.18.0.7'), 60_000);
    assert.equal(guard.blockedFor('198.18.0.8'), 0, 'another source is not affected');
    advance(59_999);
    assert.equal(guard.blockedFor('198.18.0.7'), 1);
    advance(1);
    assert.equal(guard.blockedFor('198.18.0.7'), 0, 'free again after a minute');
  });

  it('does not block failures spread over more than a minute', () => {
    const { guard, advance } = guardWithClock();
    for (let i = 0; i < 100; i++) {
      guard.failed('198.18.0.7');
      advance(3200); // 19 per minute
    }
    assert.equal(guard.blockedFor('198.18.0.7'), 0);
  });

  it('never blocks failures without a source address (the Unix socket)', () => {
    const { guard } = guardWithClock();
    for (let i = 0; i < 100; i++) guard.failed(null);
    assert.equal(guard.blockedFor(null), 0);
  });

  it('logs at most one line a minute per source with the count, and one when it blocks', () => {
    const { guard, lines, advance } = guardWithClock({ maxFailures: 1000 });
    for (let i = 0; i < 50; i++) {
      guard.failed('198.18.0.7');
      advance(1000);
    }
    // t = 0: the first failure; t = 60 s would be the next line.
    assert.deepEqual(
      lines.map((l) => [l.message, l.meta?.['failures']]),
      [['API authentication failed', 1]],
    );
    advance(10_000);
    guard.failed('198.18.0.7');
    assert.deepEqual(lines.at(-1)?.meta, { source: '198.18.0.7', failures: 50 });

    const blocking = guardWithClock();
    for (let i = 0; i < 25; i++) blocking.guard.failed('198.18.0.9');
    assert.deepEqual(
      blocking.lines.map((l) => [l.message, l.meta?.['failures']]),
      [
        ['API authentication failed', 1],
        ['API source blocked after failed authentications', 19],
      ],
    );
  });

  it('keeps its table bounded: expired sources go first, then the least recently seen', () => {
    const { guard, advance } = guardWithClock({ maxSources: 100 });
    for (let i = 0; i < 20; i++) guard.failed('198.18.1.1'); // blocked
    for (let i = 0; i < 5000; i++) guard.failed(`198.18.${2 + (i >> 8)}.${i & 255}`);
    assert.ok(guard.size <= 100, `table holds ${guard.size}`);
    advance(61_000);
    guard.failed('198.18.0.1');
    assert.equal(guard.size, 1, 'expired records are dropped');
  });
});

describe('API answers 429 to a guessing source only', () => {
  const registry = new Registry();
  let server: ApiServer;
  let port = 0;
  const health: HealthReport = {
    ok: false,
    status: 'failing',
    codes: ['ETCD_SESSION'],
    reasons: ['etcd session fault: secret detail'],
    etcd: 'fault',
    leaseRemainingMs: 0,
    storage: [],
  };
  const agent = {
    journal$: EMPTY,
    healthRounds$: EMPTY,
    list: () => [],
    health: () => health,
  } as unknown as AgentService;
  const good = `Basic ${Buffer.from('admin:secret').toString('base64')}`;
  const wrong = `Basic ${Buffer.from('admin:guess').toString('base64')}`;
  const from = (localAddress: string, path: string, auth?: string) =>
    httpCall({ host: '127.0.0.1', port, localAddress }, 'GET', path, {
      headers: auth === undefined ? {} : { Authorization: auth },
    });

  before(async () => {
    const app = createApp({ agent, auth: { user: 'admin', password: 'secret' }, version: 't', registry });
    server = await startApiServer({ app, port: 0, host: '127.0.0.1' });
    port = typeof server.address === 'object' ? server.address.port : 0;
  });
  after(() => server.close());

  it('20 wrong passwords from 127.0.0.2: then 429 with Retry-After and a JSON code; 127.0.0.1 still gets in', async () => {
    for (let i = 0; i < 20; i++) assert.equal((await from('127.0.0.2', '/version', wrong)).status, 401);
    for (const auth of [wrong, good, undefined]) {
      const refused = await from('127.0.0.2', '/version', auth);
      assert.equal(refused.status, 429, `auth ${String(auth)}`);
      const retryAfter = Number(refused.headers['retry-after']);
      assert.ok(retryAfter > 55 && retryAfter <= 60, `Retry-After ${retryAfter}`);
      assert.deepEqual(Object.keys(refused.json as object).sort(), ['code', 'error']);
      assert.equal((refused.json as { code: string }).code, 'AUTH_RATE_LIMITED');
    }
    assert.equal((await from('127.0.0.1', '/version', good)).status, 200, 'another source is not affected');
    assert.equal((await from('127.0.0.1', '/version', wrong)).status, 401);
    // Anonymous /healthz needs no credentials, so a blocked source may still ask it.
    const anonymous = await from('127.0.0.2', '/healthz');
    assert.equal(anonymous.status, 503);
    assert.deepEqual(anonymous.json, { status: 'failing', codes: ['ETCD_SESSION'] }, 'codes, no detail');
    const detailed = await from('127.0.0.1', '/healthz', good);
    assert.match((detailed.json as { error: string }).error, /secret detail/);

    const metrics = (await from('127.0.0.1', '/metrics', good)).text;
    assert.match(metrics, /^link_api_auth_failures_total 21$/m);
    assert.match(metrics, /^link_api_auth_refused_total 3$/m);
  });
});
