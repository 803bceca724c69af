import assert from 'node:assert/strict';
import type { Agent as HttpAgent } from 'node:http';
import { Agent } from 'node:http';
import { connect } from 'node:net';
import { after, before, describe, it } from 'node:test';
import fc from 'fast-check';
import type { JournalEntry, VipView } from '../../actors/types.ts';
import { createVethPair, deleteLink, startDaemon } from '../../lab/daemon.ts';
import type { Daemon } from '../../lab/daemon.ts';
import { LinkClient } from '../../cli/client.ts';
import { httpCall, type HttpAnswer } from '../../lab/api.ts';
import { bodyStyleOf } from '../../http/body.ts';
import { createVipBody, parseRequestBody, updateVipBody } from '../../http/schemas.ts';
import { freePort, startEtcd } from '../support/etcd.ts';
import type { EtcdCluster } from '../support/etcd.ts';

/**
 * The API of the real daemon (`linkctl agent`, real etcd, real interfaces) on a real TCP port
 * and its Unix socket: every route and status code, a failover seen in /metrics, and a
 * fast-check fuzz of malformed requests that must never get a 5xx nor change etcd.
 * Run under scripts/in-netns.sh (it creates a veth pair in the current namespace).
 */

const AUTH = `Basic ${Buffer.from('admin:secret').toString('base64')}`;
const JSON_TYPE = { 'Content-Type': 'application/json' };

interface CallOptions {
  body?: string | Buffer;
  headers?: Record<string, string>;
  /** null: no Authorization header. */
  auth?: string | null;
  socketPath?: string;
  agent?: HttpAgent;
  /** Source address of the TCP connection (127.0.0.1 by default). */
  localAddress?: string;
}

function call(daemon: Daemon, method: string, path: string, options: CallOptions = {}): Promise<HttpAnswer> {
  const headers: Record<string, string> = { ...options.headers };
  if (options.auth !== null) headers['Authorization'] = options.auth ?? AUTH;
  const target = options.socketPath
    ? { socketPath: options.socketPath }
    : {
        host: '127.0.0.1',
        port: Number(new URL(daemon.url).port),
        ...(options.localAddress ? { localAddress: options.localAddress } : {}),
      };
  return httpCall(target, method, path, {
    headers,
    ...(options.body !== undefined ? { body: options.body } : {}),
    ...(options.agent ? { agent: options.agent } : {}),
  });
}

function client(daemon: Daemon): LinkClient {
  return new LinkClient({ host: daemon.url, user: 'admin', password: 'secret' });
}

/** Follows the VIP's journal over SSE until an entry matches; rejects after `ms`. */
async function waitForEntry(
  daemon: Daemon,
  vipId: string,
  predicate: (entry: JournalEntry) => boolean,
  ms = 5000,
): Promise<JournalEntry> {
  const abort = new AbortController();
  let found: JournalEntry | undefined;
  const timer = setTimeout(() => abort.abort(), ms);
  try {
    await client(daemon).followEvents(
      vipId,
      (entry) => {
        if (!found && predicate(entry)) {
          found = entry;
          abort.abort();
        }
      },
      abort.signal,
    );
  } finally {
    clearTimeout(timer);
  }
  if (!found) throw new Error(`no matching journal entry for ${vipId} on ${daemon.hostname} within ${ms} ms`);
  return found;
}

/** Waits until the VIP is out of BOOTING on this daemon; returns its view. */
async function settledView(daemon: Daemon, vipId: string): Promise<VipView> {
  await waitForEntry(daemon, vipId, (e) => e.kind === 'event' && e.to !== 'BOOTING');
  return client(daemon).getIp(vipId);
}

/** Prometheus text format, line by line (HELP, TYPE, samples); returns samples by series. */
export function parsePrometheus(text: string): Map<string, number> {
  const samples = new Map<string, number>();
  const name = '[a-zA-Z_:][a-zA-Z0-9_:]*';
  const label = `[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\\\\n]|\\\\[\\\\"n])*"`;
  const sample = new RegExp(
    `^(${name}(?:\\{(?:${label}(?:,${label})*)?\\})?) (-?[0-9.eE+-]+|NaN|[+-]Inf)( -?\\d+)?$`,
  );
  for (const line of text.split('\n')) {
    if (line === '') continue;
    if (line.startsWith('# HELP ') || line.startsWith('# TYPE ')) {
      assert.match(line, new RegExp(`^# (HELP|TYPE) ${name} `), line);
      continue;
    }
    const match = sample.exec(line);
    assert.ok(match, `not a Prometheus sample line: ${line}`);
    samples.set(match[1] ?? '', Number(match[2]));
  }
  return samples;
}

function sumOf(samples: Map<string, number>, prefix: string): number {
  let total = 0;
  for (const [series, value] of samples) if (series.startsWith(prefix)) total += value;
  return total;
}

describe('HTTP API of the real daemon', () => {
  let etcd: EtcdCluster;
  let a: Daemon;
  let b: Daemon;
  const ifA = `lka${process.pid % 10000}`;
  const ifB = `lkb${process.pid % 10000}`;

  before(async () => {
    etcd = await startEtcd();
    createVethPair(ifA, ifB);
    const common = { etcdHosts: etcd.hosts, user: 'admin', password: 'secret' };
    [a, b] = await Promise.all([
      startDaemon({ ...common, hostname: 'host-a', interfaceName: ifA, port: await freePort() }),
      startDaemon({ ...common, hostname: 'host-b', interfaceName: ifB, port: await freePort() }),
    ]);
  });
  after(async () => {
    await Promise.allSettled([a?.stop(), b?.stop()]);
    deleteLink(ifA);
    await etcd?.close();
  });

  it('GET /version, /healthz (no auth), /machine; 401 with WWW-Authenticate without credentials', async () => {
    const version = await call(a, 'GET', '/version');
    assert.equal(version.status, 200);
    assert.equal(typeof (version.json as { version: string }).version, 'string');
    const anonymous = await call(a, 'GET', '/healthz', { auth: null });
    assert.equal(anonymous.status, 200, anonymous.text);
    assert.deepEqual(anonymous.json, { status: 'ok' }, 'without credentials: the status only');
    const health = await call(a, 'GET', '/healthz');
    assert.equal(health.status, 200, health.text);
    assert.equal((health.json as { etcd: string }).etcd, 'alive');
    const machine = await call(a, 'GET', '/machine');
    assert.equal((machine.json as { machine: { id: string } }).machine.id, 'ip');
    for (const path of [
      '/ips',
      '/metrics',
      '/version',
      '/machine',
      `/ips/vip-00000000-0000-4000-8000-000000000000`,
    ]) {
      const denied = await call(a, 'GET', path, { auth: null });
      assert.equal(denied.status, 401, path);
      assert.match(String(denied.headers['www-authenticate']), /^Basic /);
    }
    const wrong = await call(a, 'GET', '/ips', {
      auth: `Basic ${Buffer.from('admin:nope').toString('base64')}`,
    });
    assert.equal(wrong.status, 401);
  });

  it('a VIP on two hosts: create (201, canonical), list, get, hosts, lock, failover (204), metrics move, delete (204)', async () => {
    const createdA = await call(a, 'POST', '/ips', { body: '{"ip":"198.18.0.100/32"}', headers: JSON_TYPE });
    assert.equal(createdA.status, 201, createdA.text);
    const createdB = await call(b, 'POST', '/ips', {
      body: '{"ip":"198.18.000.100","checks":null,"healthcheck_interval":0}',
      headers: JSON_TYPE,
    });
    assert.equal(createdB.status, 201, createdB.text);
    const vipA = createdA.json as VipView;
    const vipB = createdB.json as VipView;
    assert.equal(vipB.ip, '198.18.0.100/32');
    assert.equal(createdA.headers['location'], `/ips/${vipA.id}`);

    const duplicate = await call(a, 'POST', '/ips', { body: '{"ip":"198.18.0.100"}', headers: JSON_TYPE });
    assert.equal(duplicate.status, 409);
    assert.equal((duplicate.json as { code: string }).code, 'VIP_DUPLICATE');

    const [viewA, viewB] = await Promise.all([settledView(a, vipA.id), settledView(b, vipB.id)]);
    assert.equal(Number(viewA.owner) + Number(viewB.owner), 1, 'exactly one owner');
    const [owner, ownerId, other, otherId] = viewA.owner
      ? [a, vipA.id, b, vipB.id]
      : [b, vipB.id, a, vipA.id];

    const list = await call(a, 'GET', '/ips');
    assert.equal(list.status, 200);
    assert.deepEqual(
      (list.json as { ips: VipView[] }).ips.map((v) => v.id),
      [vipA.id],
    );
    const one = await call(a, 'GET', `/ips/${vipA.id}`);
    assert.deepEqual(Object.keys(one.json as object), ['ip']);

    const hosts = await call(a, 'GET', `/ips/${vipA.id}/hosts`);
    assert.equal(hosts.status, 200);
    assert.deepEqual((hosts.json as { hosts: unknown[] }).hosts, [
      { hostname: 'host-a', owner: owner === a, priority: 100, preempt: false },
      { hostname: 'host-b', owner: owner === b, priority: 100, preempt: false },
    ]);

    const lock = await call(other, 'POST', `/ips/${otherId}/lock`);
    assert.equal(lock.status, 200, lock.text);
    assert.equal((lock.json as { ip: VipView }).ip.owner, false);

    const notOwner = await call(other, 'POST', `/ips/${otherId}/failover`);
    assert.equal(notOwner.status, 409);
    assert.equal((notOwner.json as { code: string }).code, 'NOT_OWNER');

    const events = await call(owner, 'GET', `/ips/${ownerId}/events`);
    assert.ok(
      (events.json as { events: JournalEntry[] }).events.some(
        (e) => e.kind === 'event' && e.to === 'ACTIVATED',
      ),
    );

    const before = parsePrometheus((await call(other, 'GET', '/metrics')).text);
    assert.equal(before.get(`link_vip_owner{vip_id="${otherId}",ip="198.18.0.100/32"}`), 0);
    const takeover = waitForEntry(other, otherId, (e) => e.kind === 'event' && e.to === 'ACTIVATED');
    const failover = await call(owner, 'POST', `/ips/${ownerId}/failover`);
    assert.equal(failover.status, 204, failover.text);
    await takeover;

    const afterOther = parsePrometheus((await call(other, 'GET', '/metrics')).text);
    assert.equal(afterOther.get(`link_vip_owner{vip_id="${otherId}",ip="198.18.0.100/32"}`), 1);
    assert.equal(
      afterOther.get(`link_vip_state{vip_id="${otherId}",ip="198.18.0.100/32",state="ACTIVATED"}`),
      1,
    );
    assert.ok(
      (afterOther.get('link_vip_transitions_total{from="STANDBY",to="ACTIVATED"}') ?? 0) >
        (before.get('link_vip_transitions_total{from="STANDBY",to="ACTIVATED"}') ?? 0),
    );
    assert.ok(
      sumOf(afterOther, 'link_announcements_sent_total') > sumOf(before, 'link_announcements_sent_total'),
    );
    const afterOwner = parsePrometheus((await call(owner, 'GET', '/metrics')).text);
    assert.ok((afterOwner.get(`link_last_failover_duration_seconds{vip_id="${ownerId}"}`) ?? -1) >= 0);
    assert.ok((afterOwner.get('link_vip_transitions_total{from="ACTIVATED",to="STANDBY"}') ?? 0) >= 1);

    for (const [daemon, id] of [
      [a, vipA.id],
      [b, vipB.id],
    ] as const) {
      const removed = await call(daemon, 'DELETE', `/ips/${id}`);
      assert.equal(removed.status, 204, removed.text);
      const gone = await call(daemon, 'GET', `/ips/${id}`);
      assert.equal(gone.status, 404);
      assert.deepEqual(gone.json, { resource: 'IP', error: 'not found' });
    }
  });

  it('failover with no other candidate is 409 NO_OTHER_CANDIDATE; PATCH/PUT replace checks', async () => {
    const created = await call(a, 'POST', '/ips', {
      body: '{"ip":"2001:DB8:0:0::101/64"}',
      headers: JSON_TYPE,
    });
    assert.equal(created.status, 201, created.text);
    const vip = created.json as VipView;
    assert.equal(vip.ip, '2001:db8::101/64');
    const view = await settledView(a, vip.id);
    assert.equal(view.owner, true);
    const alone = await call(a, 'POST', `/ips/${vip.id}/failover`);
    assert.equal(alone.status, 409, alone.text);
    assert.equal((alone.json as { code: string }).code, 'NO_OTHER_CANDIDATE');

    const patched = await call(a, 'PATCH', `/ips/${vip.id}`, {
      body: JSON.stringify({
        checks: [{ type: 'TCP', host: '127.0.0.1', port: 1 }],
        healthcheck_interval: 60,
      }),
      headers: JSON_TYPE,
    });
    assert.equal(patched.status, 200, patched.text);
    assert.deepEqual((patched.json as VipView).checks, [{ type: 'TCP', host: '127.0.0.1', port: 1 }]);
    const put = await call(a, 'PUT', `/ips/${vip.id}`, { body: '{"healthchecks":null}', headers: JSON_TYPE });
    assert.equal(put.status, 200, put.text);
    assert.deepEqual((put.json as VipView).checks, []);
    const badCheck = await call(a, 'PATCH', `/ips/${vip.id}`, {
      body: '{"checks":[{"type":"HTTP","url":"ftp://x"}]}',
      headers: JSON_TYPE,
    });
    assert.equal(badCheck.status, 400);
    assert.equal((badCheck.json as { field: string }).field, 'checks[0].url');
    assert.equal((await call(a, 'DELETE', `/ips/${vip.id}`)).status, 204);
  });

  it('answers 400, 404, 405, 413, 415 for bad requests, and the same on the Unix socket', async () => {
    const cases: [string, string, CallOptions, number][] = [
      ['POST', '/ips', { body: '{"ip":"198.18.0.300"}', headers: JSON_TYPE }, 400],
      ['POST', '/ips', { body: '{"ip":"198.18.0.30","colour":"red"}', headers: JSON_TYPE }, 400],
      ['POST', '/ips', { body: '{"ip":"198.18.0.30","owner":"yes"}', headers: JSON_TYPE }, 400],
      ['POST', '/ips', { body: 'ip=198.18.0.30' }, 400],
      ['POST', '/ips', { body: 'nope', headers: JSON_TYPE }, 400],
      [
        'POST',
        '/ips',
        { body: 'ip=198.18.0.30', headers: { 'Content-Type': 'application/x-www-form-urlencoded' } },
        415,
      ],
      [
        'POST',
        '/ips',
        { body: JSON.stringify({ ip: '198.18.0.30', x: 'y'.repeat(100_000) }), headers: JSON_TYPE },
        413,
      ],
      ['GET', '/ips/42', {}, 404],
      ['GET', '/ips/vip-00000000-0000-4000-8000-000000000000', {}, 404],
      ['DELETE', '/ips/vip-00000000-0000-4000-8000-000000000000', {}, 404],
      ['POST', '/ips/vip-00000000-0000-4000-8000-000000000000/failover', {}, 404],
      ['GET', '/ips/vip-00000000-0000-4000-8000-000000000000/hosts', {}, 404],
      [
        'GET',
        '/ips/vip-00000000-0000-4000-8000-000000000000/events',
        { headers: { Accept: 'text/event-stream' } },
        404,
      ],
      ['PUT', '/ips', {}, 405],
      ['GET', '/nothing/here', {}, 404],
    ];
    for (const socketPath of [undefined, a.socketPath]) {
      for (const [method, path, options, status] of cases) {
        const answer = await call(a, method, path, { ...options, ...(socketPath ? { socketPath } : {}) });
        assert.equal(answer.status, status, `${method} ${path} via ${socketPath ?? 'tcp'}: ${answer.text}`);
        assert.doesNotMatch(answer.text, /\n\s+at /, 'no stack trace');
      }
    }
    assert.equal((await call(a, 'GET', '/ips')).json !== undefined, true);
  });

  it('fuzz: thousands of malformed requests, no 5xx, the agent stays up, etcd unchanged', async () => {
    // Something to aim at: a real VIP on host a.
    const created = await call(a, 'POST', '/ips', { body: '{"ip":"198.18.0.120/32"}', headers: JSON_TYPE });
    assert.equal(created.status, 201);
    const existing = (created.json as VipView).id;
    await settledView(a, existing);
    const snapshot = () => etcd.etcdctl(['get', '--prefix', '/link/hosts/']);
    const stored = await snapshot();
    const ipsBefore = (await call(a, 'GET', '/ips')).text;

    const keepAlive = new Agent({ keepAlive: true, maxSockets: 8 });
    const methods = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'HEAD', 'OPTIONS', 'PROPFIND', 'TRACE', 'LOCK'];
    const ids = fc.oneof(
      fc.constant(existing),
      fc.constant(existing.toUpperCase()),
      fc.constant('vip-00000000-0000-4000-8000-000000000000'),
      fc.string({ maxLength: 60 }).map((s) => encodeURIComponent(s)),
      fc.uuid().map((u) => `vip-${u}`),
      fc.constantFrom('..', '%2e%2e', 'vip-', '%00', 'vip-%ZZ', '%', '0', '-1'),
    );
    const paths = fc.oneof(
      fc.constantFrom(
        '/ips',
        '/ips/',
        '/version',
        '/healthz',
        '/machine',
        '/metrics',
        '/',
        '//ips',
        '/ips?x=1',
        '/IPS',
      ),
      ids.map((id) => `/ips/${id}`),
      fc
        .tuple(ids, fc.constantFrom('lock', 'failover', 'hosts', 'events', 'nope', 'lock/extra'))
        .map(([id, sub]) => `/ips/${id}/${sub}`),
      fc.string({ maxLength: 80 }).map((s) => '/' + encodeURI(s).replace(/[#?]/g, '')),
    );
    const goodAuth = fc.constant(AUTH);
    const auths = fc.oneof(
      goodAuth,
      goodAuth,
      fc.constant(null),
      fc.string({ maxLength: 40 }).map((s) => `Basic ${Buffer.from(s).toString('base64')}`),
      fc.constantFrom(
        'Basic',
        'Basic !!!!',
        'Bearer abc',
        `basic ${Buffer.from('admin:secret ').toString('base64')}`,
        'Basic YWRtaW4=',
      ),
    );
    const ipStrings = fc.oneof(
      fc.ipV4(),
      fc.ipV6(),
      fc.ipV4Extended(),
      fc.string({ maxLength: 50 }),
      fc.constantFrom(
        '0.0.0.0',
        '127.0.0.1/8',
        '224.0.0.1',
        '::',
        '198.18.0.1/0',
        '198.18.0.1/33',
        '2001:db8::1%lo',
      ),
    );
    const checkLike = fc.oneof(
      fc.record({
        type: fc.constantFrom('TCP', 'tcp', 'UDP'),
        host: fc.string({ maxLength: 20 }),
        port: fc.integer({ min: -5, max: 70000 }),
      }),
      fc.record({
        type: fc.constant('HTTP'),
        url: fc.oneof(fc.webUrl(), fc.string()),
        expected_status: fc.anything(),
      }),
      fc.record({ type: fc.constant('EXEC'), command: fc.string(), args: fc.anything() }),
      fc.anything(),
    );
    const bodies = fc.oneof(
      fc.constant(undefined),
      fc.string({ maxLength: 200 }),
      fc.json(),
      fc
        .record(
          { ip: ipStrings, checks: fc.option(fc.array(checkLike, { maxLength: 3 })), extra: fc.anything() },
          { requiredKeys: [] },
        )
        .map((o) => JSON.stringify(o)),
      fc.record({ ip: ipStrings }).map((o) => JSON.stringify(o)),
      fc
        .record(
          { checks: fc.array(checkLike, { maxLength: 3 }), healthcheck_interval: fc.anything() },
          { requiredKeys: [] },
        )
        .map((o) => JSON.stringify(o)),
      fc.constant('{"ip":"198.18.0.1",' + '"x":"' + 'z'.repeat(70_000) + '"}'),
      fc.uint8Array({ maxLength: 100 }).map((u) => Buffer.from(u).toString('latin1')),
    );
    const contentTypes = fc.option(
      fc.constantFrom(
        'application/json',
        'application/json; charset=utf-8',
        'text/plain',
        'application/json; charset=latin1',
        'multipart/form-data',
        '',
        'application/merge-patch+json',
      ),
    );

    /** Would this request change anything if the server accepted it? Then it is not malformed. */
    function wellFormedMutation(
      method: string,
      path: string,
      auth: string | null,
      body: string | undefined,
      contentType: string | null,
    ): boolean {
      if (auth !== AUTH) return false;
      // The server's own rule for which bodies it reads, and how strictly (http/body.ts).
      const style = bodyStyleOf(contentType ?? undefined) ?? 'json';
      // The router matches paths case-insensitively: POST /IPS adds a VIP as POST /ips does.
      const idMatch = /^\/ips\/([^/?]+)(\/[^?]*)?$/i.exec(path);
      const id = idMatch?.[1]?.toLowerCase();
      const targetsExisting = id === existing;
      let parsed: unknown;
      try {
        parsed = body === undefined ? undefined : (JSON.parse(body) as unknown);
      } catch {
        parsed = undefined;
      }
      // The query string does not change the route: POST /ips?x=1 with a good body adds a VIP.
      const route = path.split('?')[0] ?? path;
      if (method === 'POST' && /^\/ips\/?$/i.test(route))
        return parseRequestBody(createVipBody, parsed, style).parsed.ok;
      if (!targetsExisting) return false;
      const sub = idMatch?.[2] ?? '';
      if ((method === 'PATCH' || method === 'PUT') && (sub === '' || sub === '/')) {
        return parseRequestBody(updateVipBody, parsed, style).parsed.ok;
      }
      if (method === 'DELETE' && (sub === '' || sub === '/')) return true;
      return method === 'POST' && /^\/(lock|failover)\/?$/i.test(sub);
    }

    // Wrong credentials from one address get it refused (429) after 20 within a minute: each
    // address of 127.0.100.0/22 (loopback) guesses at most 19 times, so every guess reaches the
    // auth check and the good requests from 127.0.0.1 are never refused.
    let guesses = 0;
    const guessSource = (): string => {
      const n = Math.floor(guesses++ / 19);
      return `127.0.${100 + Math.floor(n / 250)}.${1 + (n % 250)}`;
    };
    let requests = 0;
    await fc.assert(
      fc.asyncProperty(
        methods.length ? fc.constantFrom(...methods) : fc.constant('GET'),
        paths,
        auths,
        bodies,
        contentTypes,
        async (method, path, auth, body, contentType) => {
          const effectiveAuth = wellFormedMutation(method, path, auth, body, contentType)
            ? 'Basic d3Jvbmc6d3Jvbmc='
            : auth;
          const headers: Record<string, string> = {};
          if (contentType !== null) headers['Content-Type'] = contentType;
          if (path.includes('/events') && body === undefined) headers['Accept'] = 'application/json';
          const guess = effectiveAuth !== null && effectiveAuth !== AUTH;
          const answer = await call(a, method, path, {
            auth: effectiveAuth,
            headers,
            ...(guess ? { localAddress: guessSource() } : { agent: keepAlive }),
            ...(body !== undefined && method !== 'GET' && method !== 'HEAD' ? { body } : {}),
          });
          requests++;
          assert.ok(answer.status < 500, `${method} ${path} → ${answer.status} ${answer.text.slice(0, 200)}`);
          assert.doesNotMatch(answer.text, /\n\s+at /);
        },
      ),
      { numRuns: 4000 },
    );
    keepAlive.destroy();

    // Raw garbage on the socket: the parser's own 400, never a crash.
    for (const raw of [
      'GET / HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n',
      'BLAH\r\n\r\n',
      '\x00\x01\x02\r\n\r\n',
    ]) {
      await new Promise<void>((resolve) => {
        const socket = connect(Number(new URL(a.url).port), '127.0.0.1', () => socket.end(raw));
        socket.on('data', () => undefined);
        socket.on('close', () => resolve());
        socket.on('error', () => resolve());
      });
    }

    assert.ok(requests >= 4000);
    assert.equal(await snapshot(), stored, 'etcd configuration unchanged');
    assert.equal(
      (await call(a, 'GET', '/ips')).text.replace(/"status":"\w+"/g, ''),
      ipsBefore.replace(/"status":"\w+"/g, ''),
    );
    assert.equal((await call(a, 'GET', '/healthz', { auth: null })).status, 200);
    assert.equal(a.child.exitCode, null, 'agent still running');
    assert.equal((await call(a, 'DELETE', `/ips/${existing}`)).status, 204);
  });
});
