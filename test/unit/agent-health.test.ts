import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { afterEach, describe, it } from 'node:test';
import { parse } from 'yaml';
import { createAgent, type Agent } from '../../actors/agent.ts';
import { HEALTH_CODES, agentHealth, bootingBoundMs, type HealthInput } from '../../actors/health.ts';
import { Journal } from '../../actors/journal.ts';
import type { StoreHealth } from '../../actors/write-status.ts';
import type { SessionStatus } from '../../adapters/etcd/types.ts';
import { createEtcdSession } from '../../adapters/etcd/session.ts';
import type { JournalStore } from '../../adapters/journal/file-store.ts';
import { StorageError } from '../../adapters/storage-error.ts';
import { healthAnswer } from '../../http/health.ts';
import { FakeEtcd } from '../support/fake-etcd.ts';
import { until } from '../support/until.ts';
import { silentLogger, unitAgentOptions } from '../support/agent-options.ts';
import { memoryNet } from '../support/memory-net.ts';

/**
 * Issue 18 part 4, /healthz tells the truth: the rules of actors/health.ts one by one (pure),
 * their codes documented in docs/api.md both ways, and a real agent (sessions, elections, IP
 * machines on the fake etcd, an in-memory interface) whose journal cannot write: it binds every
 * VIP, a new one too, and says 503 STORAGE_WRITE_FAILED naming the path (part 2).
 */

const alive: SessionStatus = { state: 'alive', leaseId: '7', leaseRemainingMs: 1500 };
const writable: StoreHealth[] = [
  { store: 'journal', writable: true, failures: 0 },
  { store: 'cache', writable: true, failures: 0 },
];
const healthy: HealthInput = {
  supervisorRunning: true,
  stopping: false,
  faultPolicy: 'at-least-one',
  session: alive,
  vips: [
    { ip: '198.18.0.10/32', status: 'ACTIVATED' },
    { ip: '198.18.0.11/32', status: 'STANDBY' },
  ],
  bootingBoundMs: 11_000,
  storage: writable,
};
const failedStore: StoreHealth = {
  store: 'journal',
  writable: false,
  failures: 4,
  error: {
    code: 'EROFS',
    path: '/var/lib/link/journal/vip-1.jsonl',
    message: 'EROFS: cannot append /var/lib/link/journal/vip-1.jsonl: read-only file system',
    since: '2026-01-01T00:00:00.000Z',
  },
};

describe('/healthz rules (actors/health.ts)', () => {
  const check = (input: Partial<HealthInput>, ok: boolean, status: string, codes: string[]) => {
    const report = agentHealth({ ...healthy, ...input });
    assert.equal(report.ok, ok, JSON.stringify(report));
    assert.equal(report.status, status);
    assert.deepEqual(report.codes, codes);
    assert.equal(report.reasons.length, codes.length);
    return report;
  };

  it('ok: supervisor running, session alive, stores writable, no VIP stuck in BOOTING', () => {
    check({}, true, 'ok', []);
    check({ vips: [{ ip: '198.18.0.10/32', status: 'BOOTING', bootingForMs: 11_000 }] }, true, 'ok', []);
  });

  it('the supervisor not running is failing, 503', () => {
    check({ supervisorRunning: false }, false, 'failing', ['SUPERVISOR_STOPPED']);
  });

  it('an etcd fault under at-least-one is tolerated (200, degraded); under at-most-one, connecting or closed it is not', () => {
    const fault: SessionStatus = {
      ...alive,
      state: 'fault',
      faultSource: 'etcd',
      lastError: 'no member answers',
    };
    const tolerated = check({ session: fault }, true, 'degraded', ['ETCD_FAULT_AT_LEAST_ONE']);
    assert.match(tolerated.reasons[0]!, /^etcd session fault: no member answers; serving every VIP/);
    check({ session: fault, faultPolicy: 'at-most-one' }, false, 'failing', ['ETCD_SESSION']);
    check({ session: { ...alive, state: 'connecting' } }, false, 'failing', ['ETCD_SESSION']);
    check({ session: { ...alive, state: 'closed' } }, false, 'failing', ['ETCD_SESSION']);
    const refused: SessionStatus = {
      ...fault,
      faultSource: 'config',
      configError: { code: 'ETCD_TLS', message: 'unknown authority' },
    };
    check({ session: refused }, false, 'failing', ['ETCD_CONFIG']);
  });

  it('a store that cannot write is 503, naming the path', () => {
    const report = check({ storage: [failedStore, writable[1]!] }, false, 'degraded', [
      'STORAGE_WRITE_FAILED',
    ]);
    assert.match(report.reasons[0]!, /journal writes fail: EROFS: .*\/var\/lib\/link\/journal\/vip-1\.jsonl/);
    assert.deepEqual(report.storage[0], failedStore);
  });

  it('a VIP BOOTING longer than the bound is 503, naming it (only for authenticated callers)', () => {
    const report = check(
      { vips: [{ ip: '198.18.0.10/32', status: 'BOOTING', bootingForMs: 11_001 }] },
      false,
      'degraded',
      ['VIP_BOOTING_TOO_LONG'],
    );
    assert.match(report.reasons[0]!, /BOOTING for more than 11 s: 198\.18\.0\.10\/32/);
    const answer = healthAnswer(() => report);
    assert.equal(answer.status, 503);
    assert.deepEqual(answer.brief, { status: 'degraded', codes: ['VIP_BOOTING_TOO_LONG'] }, 'no address');
    assert.match(String(answer.detail['error']), /198\.18\.0\.10/);
  });

  it('checks failing: some is degraded, all is failing; stopping is degraded', () => {
    const failing = [{ ip: '198.18.0.10/32', status: 'FAILING' as const }];
    check({ vips: [...failing, { ip: '198.18.0.11/32', status: 'ACTIVATED' }] }, false, 'degraded', [
      'CHECKS_FAILING',
    ]);
    check({ vips: failing }, false, 'failing', ['ALL_CHECKS_FAILING']);
    check({ stopping: true }, false, 'degraded', ['AGENT_STOPPING']);
  });

  it('the BOOTING bound is 3 LEASE_TTL + 5 s (11 s at the default TTL)', () => {
    assert.equal(bootingBoundMs(2000), 11_000);
    assert.equal(bootingBoundMs(1000), 8_000);
  });

  it('the answer: 200 only when ok; the brief answer has codes, never reasons', () => {
    const fault: SessionStatus = { ...alive, state: 'fault', lastError: 'etcd at 198.18.0.2:2379 refused' };
    const tolerated = healthAnswer(() => agentHealth({ ...healthy, session: fault }));
    assert.equal(tolerated.status, 200);
    assert.deepEqual(tolerated.brief, { status: 'degraded', codes: ['ETCD_FAULT_AT_LEAST_ONE'] });
    const broken = healthAnswer(() => agentHealth({ ...healthy, storage: [failedStore] }));
    assert.equal(broken.status, 503);
    assert.ok(!JSON.stringify(broken.brief).includes('/var/lib'), 'no path without auth');
    assert.match(String(broken.detail['error']), /\/var\/lib\/link\/journal\/vip-1\.jsonl/);
    assert.deepEqual(healthAnswer(() => agentHealth(healthy)).brief, { status: 'ok' });
  });

  it('every code is documented in docs/api.md ("/healthz"), and every documented code exists', () => {
    const text = readFileSync(new URL('../../docs/api.md', import.meta.url), 'utf8');
    const start = text.indexOf('### `/healthz`');
    const section = text.slice(start, text.indexOf('\n## ', start));
    const documented = new Map<string, string>();
    for (const line of section.split('\n')) {
      const match = /^\| `([A-Z_]+)` \| (\w+) \| (200|503) \|/.exec(line);
      if (match) documented.set(match[1]!, `${match[2]} ${match[3]}`);
    }
    for (const [code, { level, tolerated }] of Object.entries(HEALTH_CODES))
      assert.equal(documented.get(code), `${level} ${tolerated ? 200 : 503}`, `${code} in docs/api.md`);
    for (const code of documented.keys()) assert.ok(code in HEALTH_CODES, `${code} is in actors/health.ts`);
    assert.match(section, /3 × `LEASE_TTL` \+ 5 s/, 'the BOOTING bound is documented');
  });

  it('docs/openapi.yaml lists the same codes', () => {
    const spec = parse(readFileSync(new URL('../../docs/openapi.yaml', import.meta.url), 'utf8')) as {
      components: { schemas: { HealthCodes: { items: { enum: string[] } } } };
    };
    assert.deepEqual(spec.components.schemas.HealthCodes.items.enum, Object.keys(HEALTH_CODES));
  });
});

/** A read-only STATE_DIR: every write throws EROFS, as the file store does. */
const readOnlyStore: JournalStore = {
  load: () => ({ journals: [], problems: [] }),
  append: (vipId) => {
    throw new StorageError('EROFS', `/ro/journal/${vipId}.jsonl`, 'append', { cause: new Error('EROFS') });
  },
  rewrite: (vipId) => {
    throw new StorageError('EROFS', `/ro/journal/${vipId}.jsonl`, 'rewrite', { cause: new Error('EROFS') });
  },
  forget: () => undefined,
  close: () => undefined,
};

describe('an agent whose journal cannot write (fake etcd)', () => {
  const agents: Agent[] = [];
  afterEach(async () => {
    for (const a of agents.splice(0)) await a.stop({ handover: false });
  });

  it('binds every VIP and a new one, its supervisor runs, /healthz says 503 STORAGE_WRITE_FAILED with the path', async () => {
    const etcd = new FakeEtcd();
    const session = await createEtcdSession(
      { hostname: 'h1', hosts: ['198.18.0.1:2379'], leaseTtlSeconds: 2, logger: silentLogger },
      { rpc: etcd.client('h1') },
    );
    const { net, bound } = memoryNet();
    const agent = createAgent(
      unitAgentOptions({
        session,
        net,
        journal: new Journal({ store: readOnlyStore, logger: silentLogger }),
      }),
    );
    await agent.start();
    agents.push(agent);
    for (const ip of ['198.18.0.10/32', '198.18.0.11/32']) {
      const view = await agent.add({ ip });
      await until(`${ip} bound`, () => bound.has(ip) && agent.get(view.id).owner, 5000);
    }
    const health = agent.health();
    assert.equal(health.ok, false);
    assert.deepEqual(health.codes, ['STORAGE_WRITE_FAILED']);
    assert.match(health.reasons[0]!, /EROFS: cannot (append|rewrite) \/ro\/journal\/vip-/);
    assert.equal(healthAnswer(() => agent.health()).status, 503);
    assert.equal(agent.list().length, 2);
    assert.ok(agent.journal(agent.list()[0]!.id).length > 0, 'the journal keeps its in-memory ring');

    // Stopped, its supervisor no longer runs: /healthz must not say otherwise.
    agents.splice(agents.indexOf(agent), 1);
    await agent.stop({ handover: false });
    assert.deepEqual(agent.health().codes.slice(0, 2), ['SUPERVISOR_STOPPED', 'AGENT_STOPPING']);
  });
});
