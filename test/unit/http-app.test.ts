import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { request } from 'node:http';
import { after, before, describe, it } from 'node:test';
import { Gauge, Registry } from 'prom-client';
import { Observable, Subject } from 'rxjs';
import {
  AgentStoppingError,
  DuplicateVipError,
  EtcdUnavailableError,
  HandoverTimeoutError,
  NoOtherCandidateError,
  NotOwnerError,
  VipNotFoundError,
} from '../../actors/errors.ts';
import type {
  AgentService,
  HealthRoundReport,
  JournalEntry,
  NewVip,
  VipChange,
  VipView,
} from '../../actors/types.ts';
import type { HealthReport } from '../../actors/health.ts';
import type { HostMembership } from '../../adapters/etcd/types.ts';
import type { ClusterView } from '../../adapters/etcd/cluster-view.ts';
import { createApp } from '../../http/app.ts';
import { startApiServer } from '../../http/server.ts';
import { httpCall, type HttpAnswer } from '../../lab/api.ts';
import type { ApiServer } from '../../http/server.ts';

/**
 * The HTTP layer in-process against a fake AgentService: routing, validation, error mapping,
 * auth, SSE, metrics. The same routes run against the real agent in
 * test/integration/http-api.test.ts.
 */

class FakeAgent implements AgentService {
  readonly hostname = 'fake-host';
  readonly vips = new Map<string, VipView>();
  readonly journals = new Map<string, JournalEntry[]>();
  readonly entries = new Subject<JournalEntry>();
  subscribers = 0;
  readonly journal$ = new Observable<JournalEntry>((subscriber) => {
    this.subscribers++;
    const subscription = this.entries.subscribe(subscriber);
    return () => {
      this.subscribers--;
      subscription.unsubscribe();
    };
  });
  readonly rounds = new Subject<HealthRoundReport>();
  readonly healthRounds$ = this.rounds.asObservable();
  /** Next error thrown by a mutating call, to test the mapping. */
  failNext: Error | undefined;
  healthy = true;
  seq = 0;

  private maybeFail(): void {
    const err = this.failNext;
    this.failNext = undefined;
    if (err) throw err;
  }

  emit(vipId: string, from: VipView['status'], to: VipView['status']): JournalEntry {
    const entry: JournalEntry = {
      kind: 'event',
      seq: ++this.seq,
      time: new Date().toISOString(),
      vipId,
      event: to === 'ACTIVATED' ? 'elected' : 'demoted',
      source: 'test',
      from,
      to,
    };
    this.journals.get(vipId)?.push(entry);
    const vip = this.vips.get(vipId);
    if (vip) this.vips.set(vipId, { ...vip, status: to, owner: to === 'ACTIVATED' });
    this.entries.next(entry);
    return entry;
  }

  list(): VipView[] {
    return [...this.vips.values()];
  }
  get(id: string): VipView {
    const vip = this.vips.get(id);
    if (!vip) throw new VipNotFoundError(id);
    return vip;
  }
  add(vip: NewVip): Promise<VipView> {
    this.maybeFail();
    const existing = this.list().find((v) => v.ip === vip.ip);
    if (existing) return Promise.reject(new DuplicateVipError(vip.ip, existing.id));
    const view: VipView = {
      id: `vip-${randomUUID()}`,
      ip: vip.ip,
      checks: vip.checks ?? [],
      healthcheck_interval: vip.healthcheck_interval ?? 0,
      priority: vip.priority ?? 100,
      preempt: vip.preempt ?? false,
      preempt_delay: vip.preempt_delay ?? 10,
      status: 'BOOTING',
      owner: false,
    };
    this.vips.set(view.id, view);
    this.journals.set(view.id, [
      {
        kind: 'start',
        seq: ++this.seq,
        time: new Date().toISOString(),
        vipId: view.id,
        ip: vip.ip,
        faultPolicy: 'at-least-one',
        state: 'BOOTING',
      },
    ]);
    return Promise.resolve(view);
  }
  update(id: string, change: VipChange): Promise<VipView> {
    const vip = this.get(id);
    this.maybeFail();
    const next = { ...vip, ...change };
    this.vips.set(id, next);
    return Promise.resolve(next);
  }
  remove(id: string): Promise<void> {
    this.get(id);
    this.maybeFail();
    this.vips.delete(id);
    return Promise.resolve();
  }
  tryLock(id: string): Promise<VipView> {
    this.get(id);
    this.maybeFail();
    return Promise.resolve(this.get(id));
  }
  failover(id: string): Promise<string> {
    this.get(id);
    this.maybeFail();
    return Promise.resolve('other-host');
  }
  hosts(id: string): Promise<HostMembership[]> {
    this.get(id);
    return Promise.resolve([
      { hostname: this.hostname, owner: this.get(id).owner, priority: 100, preempt: false },
    ]);
  }
  cluster(): Promise<ClusterView> {
    this.maybeFail();
    return Promise.resolve({
      revision: '7',
      vips: [
        {
          ip: '198.18.0.10/32',
          owner: 'other-host',
          hosts: [
            {
              hostname: 'other-host',
              state: 'owner',
              priority: 200,
              preempt: false,
              id: null,
              drained: false,
              v2: false,
            },
          ],
        },
      ],
    });
  }
  journal(id: string): JournalEntry[] {
    this.get(id);
    return [...(this.journals.get(id) ?? [])];
  }
  health(): HealthReport {
    const storage = [{ store: 'journal' as const, writable: true, failures: 0 }];
    return this.healthy
      ? { ok: true, status: 'ok', codes: [], reasons: [], etcd: 'alive', leaseRemainingMs: 4000, storage }
      : {
          ok: false,
          status: 'failing',
          codes: ['ETCD_SESSION'],
          reasons: ['etcd session lost'],
          etcd: 'fault',
          leaseRemainingMs: 0,
          storage,
        };
  }
}

function call(
  server: ApiServer,
  method: string,
  path: string,
  options: { body?: string | Buffer; headers?: Record<string, string>; auth?: string | null } = {},
): Promise<HttpAnswer> {
  const address = server.address;
  assert.ok(typeof address === 'object');
  const headers: Record<string, string> = { ...options.headers };
  if (options.auth !== null)
    headers['Authorization'] = options.auth ?? `Basic ${Buffer.from('admin:secret').toString('base64')}`;
  return httpCall({ host: '127.0.0.1', port: address.port }, method, path, {
    headers,
    ...(options.body !== undefined ? { body: options.body } : {}),
  });
}

const JSON_HEADERS = { 'Content-Type': 'application/json' };

describe('HTTP API in-process (fake agent)', () => {
  const agent = new FakeAgent();
  const registry = new Registry();
  let server: ApiServer;

  before(async () => {
    const app = createApp({
      agent,
      auth: { user: 'admin', password: 'secret' },
      version: '9.9.9-test',
      registry,
      bodyLimit: 1024,
      sseHeartbeatMs: 50,
    });
    server = await startApiServer({ app, port: 0, host: '127.0.0.1' });
  });
  after(() => server.close());

  it('creates, lists, gets, patches, locks, fails over and deletes a VIP with LinK v2 shapes', async () => {
    const created = await call(server, 'POST', '/ips', {
      body: JSON.stringify({ ip: '198.18.0.010/32', checks: null, healthcheck_interval: 0 }),
      headers: JSON_HEADERS,
    });
    assert.equal(created.status, 201, created.text);
    const vip = created.json as VipView;
    assert.equal(vip.ip, '198.18.0.10/32');
    assert.match(vip.id, /^vip-/);
    assert.equal(created.headers['location'], `/ips/${vip.id}`);

    const dup = await call(server, 'POST', '/ips', {
      body: JSON.stringify({ ip: '198.18.0.10' }),
      headers: JSON_HEADERS,
    });
    assert.equal(dup.status, 409);
    assert.equal((dup.json as { code: string }).code, 'VIP_DUPLICATE');

    const list = await call(server, 'GET', '/ips');
    assert.deepEqual(list.json, { ips: [vip] });
    const one = await call(server, 'GET', `/ips/${vip.id.toUpperCase().replace('VIP-', 'vip-')}`);
    assert.deepEqual(one.json, { ip: vip });

    const patched = await call(server, 'PATCH', `/ips/${vip.id}`, {
      body: JSON.stringify({ healthchecks: [{ type: 'TCP', host: '198.18.0.2', port: 80 }] }),
      headers: JSON_HEADERS,
    });
    assert.equal(patched.status, 200, patched.text);
    assert.deepEqual((patched.json as VipView).checks, [{ type: 'TCP', host: '198.18.0.2', port: 80 }]);
    const put = await call(server, 'PUT', `/ips/${vip.id}`, {
      body: JSON.stringify({ healthcheck_interval: 5 }),
      headers: JSON_HEADERS,
    });
    assert.equal((put.json as VipView).healthcheck_interval, 5);
    assert.equal((put.json as VipView).checks.length, 1);
    const placed = await call(server, 'PATCH', `/ips/${vip.id}`, {
      body: JSON.stringify({ priority: 200, preempt: true }),
      headers: JSON_HEADERS,
    });
    assert.equal(placed.status, 200, placed.text);
    assert.equal((placed.json as VipView).priority, 200);
    assert.equal((placed.json as VipView).checks.length, 1, 'a placement change keeps the checks');
    const badPriority = await call(server, 'PATCH', `/ips/${vip.id}`, {
      body: JSON.stringify({ priority: 300 }),
      headers: JSON_HEADERS,
    });
    assert.equal(badPriority.status, 400);
    assert.equal((badPriority.json as { field: string }).field, 'priority');

    assert.equal((await call(server, 'POST', `/ips/${vip.id}/lock`)).status, 200);
    const failover = await call(server, 'POST', `/ips/${vip.id}/failover`);
    assert.equal(failover.status, 204);
    assert.equal(failover.headers['vip-owner'], 'other-host', 'the answer names who took it');
    assert.deepEqual((await call(server, 'GET', `/ips/${vip.id}/hosts`)).json, {
      hosts: [{ hostname: 'fake-host', owner: false, priority: 100, preempt: false }],
    });
    const cluster = await call(server, 'GET', '/cluster');
    assert.equal(cluster.status, 200, cluster.text);
    assert.equal((cluster.json as ClusterView).vips[0]?.owner, 'other-host');
    const events = await call(server, 'GET', `/ips/${vip.id}/events`);
    assert.equal((events.json as { events: JournalEntry[] }).events[0]?.kind, 'start');

    assert.equal((await call(server, 'DELETE', `/ips/${vip.id}`)).status, 204);
    const gone = await call(server, 'GET', `/ips/${vip.id}`);
    assert.equal(gone.status, 404);
    assert.deepEqual(gone.json, { resource: 'IP', error: 'not found' });
  });

  it('maps every agent error code to its status', async () => {
    const { json } = await call(server, 'POST', '/ips', {
      body: JSON.stringify({ ip: '198.18.0.20/32' }),
      headers: JSON_HEADERS,
    });
    const id = (json as VipView).id;
    const cases: [Error, string, string, number][] = [
      [new NotOwnerError('198.18.0.20/32', 'other'), 'POST', `/ips/${id}/failover`, 409],
      [new NoOtherCandidateError('198.18.0.20/32'), 'POST', `/ips/${id}/failover`, 409],
      [new HandoverTimeoutError('198.18.0.20/32', 5000), 'DELETE', `/ips/${id}`, 504],
      [new EtcdUnavailableError('etcd down'), 'POST', `/ips/${id}/lock`, 503],
      [new AgentStoppingError(), 'POST', `/ips/${id}/lock`, 503],
      [new EtcdUnavailableError('etcd down'), 'GET', '/cluster', 503],
    ];
    for (const [error, method, path, status] of cases) {
      agent.failNext = error;
      const answer = await call(server, method, path);
      assert.equal(answer.status, status, `${error.name}: ${answer.text}`);
      assert.ok(!answer.text.includes('    at '), 'no stack trace');
      assert.equal(typeof (answer.json as { error: unknown }).error, 'string');
    }
    agent.failNext = new Error('boom, with secrets');
    const internal = await call(server, 'POST', `/ips/${id}/lock`);
    assert.equal(internal.status, 500);
    assert.deepEqual(internal.json, { error: 'internal error' });
  });

  it('rejects bad input with 400/404/405/413/415 and changes nothing', async () => {
    const before = JSON.stringify(agent.list());
    const bad: [string, string, { body?: string; headers?: Record<string, string> }, number][] = [
      ['POST', '/ips', { body: '{"ip":"198.18.0.999/32"}', headers: JSON_HEADERS }, 400],
      ['POST', '/ips', { body: '{"ip":"198.18.0.30/32","x":1}', headers: JSON_HEADERS }, 400],
      ['POST', '/ips', { body: '{"ip":', headers: JSON_HEADERS }, 400],
      ['POST', '/ips', { body: '', headers: JSON_HEADERS }, 400],
      ['POST', '/ips', { body: '{"ip":"198.18.0.30/32"}', headers: { 'Content-Type': 'text/plain' } }, 415],
      // No Content-Type (LinK v2's clients): read as JSON, so a body that is not JSON is a 400.
      ['POST', '/ips', { body: 'ip=198.18.0.30/32' }, 400],
      [
        'POST',
        '/ips',
        { body: 'ip=198.18.0.30/32', headers: { 'Content-Type': 'application/x-www-form-urlencoded' } },
        415,
      ],
      [
        'POST',
        '/ips',
        { body: JSON.stringify({ ip: '198.18.0.30/32', pad: 'x'.repeat(2000) }), headers: JSON_HEADERS },
        413,
      ],
      ['GET', '/ips/not-an-id', {}, 404],
      ['GET', '/ips/vip-123', {}, 404],
      ['DELETE', '/ips', {}, 405],
      ['PROPFIND', '/ips', {}, 405],
      ['GET', '/nowhere', {}, 404],
      ['PATCH', `/ips/vip-${randomUUID()}`, { body: '{"checks":[]}', headers: JSON_HEADERS }, 404],
    ];
    for (const [method, path, options, status] of bad) {
      const answer = await call(server, method, path, options);
      assert.equal(answer.status, status, `${method} ${path} ${options.body ?? ''}: ${answer.text}`);
      assert.equal(typeof (answer.json as { error: unknown }).error, 'string', answer.text);
    }
    const field = await call(server, 'POST', '/ips', {
      body: '{"ip":"198.18.0.30/32","checks":[{"type":"TCP","host":"h","port":70000}]}',
      headers: JSON_HEADERS,
    });
    assert.equal((field.json as { field: string }).field, 'checks[0].port');
    assert.equal(JSON.stringify(agent.list()), before);
  });

  it('requires basic auth except on /healthz, with WWW-Authenticate', async () => {
    for (const auth of [
      null,
      `Basic ${Buffer.from('admin:wrong').toString('base64')}`,
      'Bearer x',
      'Basic !!!',
    ]) {
      const answer = await call(server, 'GET', '/ips', { auth });
      assert.equal(answer.status, 401);
      assert.match(String(answer.headers['www-authenticate']), /^Basic realm="LinK"/);
    }
    assert.equal((await call(server, 'GET', '/metrics', { auth: null })).status, 401);
    const fine = await call(server, 'GET', '/healthz', { auth: null });
    assert.equal(fine.status, 200);
    assert.deepEqual(fine.json, { status: 'ok' }, 'anonymous: the status only');
    agent.healthy = false;
    const sick = await call(server, 'GET', '/healthz', { auth: null });
    const sickWrongAuth = await call(server, 'GET', '/healthz', {
      auth: `Basic ${Buffer.from('admin:wrong').toString('base64')}`,
    });
    const sickDetail = await call(server, 'GET', '/healthz');
    agent.healthy = true;
    assert.equal(sick.status, 503);
    assert.deepEqual(sick.json, { status: 'failing', codes: ['ETCD_SESSION'] }, 'codes, no etcd error text');
    assert.deepEqual(sickWrongAuth.json, { status: 'failing', codes: ['ETCD_SESSION'] });
    assert.equal(sickDetail.status, 503);
    assert.equal((sickDetail.json as { status: string }).status, 'failing');
    assert.match((sickDetail.json as { error: string }).error, /etcd session lost/);
  });

  it('serves /version, /machine and /metrics', async () => {
    assert.deepEqual((await call(server, 'GET', '/version')).json, {
      version: '9.9.9-test',
      hostname: 'fake-host',
    });
    const machine = (await call(server, 'GET', '/machine')).json as {
      machine: { id: string };
      states: string[];
    };
    assert.equal(machine.machine.id, 'ip');
    assert.deepEqual(machine.states, ['BOOTING', 'ACTIVATED', 'STANDBY', 'FAILING']);
    const vip = agent.list()[0];
    assert.ok(vip);
    agent.emit(vip.id, 'BOOTING', 'ACTIVATED');
    const metrics = await call(server, 'GET', '/metrics');
    assert.equal(metrics.status, 200);
    assert.match(metrics.text, /link_vip_transitions_total\{from="BOOTING",to="ACTIVATED"\} 1/);
    assert.match(
      metrics.text,
      new RegExp(`link_vip_state\\{vip_id="${vip.id}",ip="[^"]+",state="ACTIVATED"\\} 1`),
    );
    assert.match(metrics.text, /link_lease_remaining_seconds 4/);
    assert.match(metrics.text, /process_cpu_user_seconds_total/);
  });

  it('spells a NaN sample NaN, as the exposition format does (prom-client writes Nan)', async () => {
    // nodejs_eventloop_lag_* is NaN until its first sample; a strict scraper rejected `Nan`.
    new Gauge({ name: 'test_not_sampled_yet', help: 'NaN on purpose', registers: [registry] }).set(NaN);
    const metrics = await call(server, 'GET', '/metrics');
    assert.match(metrics.text, /^test_not_sampled_yet NaN$/m);
    assert.doesNotMatch(metrics.text, / Nan$/m);
  });

  it('streams the journal as SSE: history, then live entries, and releases the subscription', async () => {
    const vip = agent.list()[0];
    assert.ok(vip);
    const address = server.address;
    assert.ok(typeof address === 'object');
    const observersBefore = agent.subscribers;
    const text = await new Promise<string>((resolve, reject) => {
      const req = request(
        {
          host: '127.0.0.1',
          port: address.port,
          path: `/ips/${vip.id}/events`,
          headers: {
            Accept: 'text/event-stream',
            Authorization: `Basic ${Buffer.from('admin:secret').toString('base64')}`,
          },
        },
        (res) => {
          assert.equal(res.statusCode, 200);
          assert.match(String(res.headers['content-type']), /^text\/event-stream/);
          let received = '';
          let emitted = false;
          res.setEncoding('utf8');
          res.on('data', (chunk: string) => {
            received += chunk;
            if (!emitted && received.includes('"kind":"start"')) {
              emitted = true;
              agent.emit(vip.id, 'ACTIVATED', 'STANDBY');
            }
            if (received.includes('"to":"STANDBY"') && received.includes(': ping')) {
              req.destroy();
              resolve(received);
            }
          });
        },
      );
      req.on('error', (err) => (err.message.includes('aborted') ? undefined : reject(err)));
      req.end();
    });
    assert.match(text, /event: journal\ndata: \{"kind":"start"/);
    const deadline = Date.now() + 2000;
    while (agent.subscribers !== observersBefore && Date.now() < deadline) {
      await new Promise((r) => setImmediate(r));
    }
    assert.equal(agent.subscribers, observersBefore, 'SSE subscription released');
  });
});
