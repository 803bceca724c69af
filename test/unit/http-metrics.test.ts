import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Registry } from 'prom-client';
import { Subject } from 'rxjs';
import type { AgentService, HealthRoundReport, JournalEntry, VipView } from '../../actors/types.ts';
import type { StoreHealth } from '../../actors/write-status.ts';
import { createMetrics } from '../../http/metrics.ts';

/**
 * The metrics' own logic on a fake agent: link_build_info, the takeover histogram from the
 * journal, health-check series from healthRounds$ (and dropped when a check or a VIP goes), the
 * handover histogram, and the default collectors promtool refuses left out. promtool itself runs
 * on a real agent in test/integration/metrics-promtool.test.ts.
 */

const A = 'vip-00000000-0000-4000-8000-00000000000a';

function fakeAgent() {
  const journal = new Subject<JournalEntry>();
  const rounds = new Subject<HealthRoundReport>();
  const vips: VipView[] = [
    {
      id: A,
      ip: '198.18.0.10/32',
      checks: [],
      healthcheck_interval: 0,
      priority: 100,
      preempt: false,
      preempt_delay: 10,
      status: 'STANDBY',
      owner: false,
    },
  ];
  const storage: StoreHealth[] = [
    { store: 'journal', writable: true, failures: 0 },
    { store: 'cache', writable: true, failures: 0 },
  ];
  const agent = {
    hostname: 'h1',
    journal$: journal.asObservable(),
    healthRounds$: rounds.asObservable(),
    list: () => vips,
    health: () => ({ ok: true, reasons: [], etcd: 'alive' as const, leaseRemainingMs: 1000, storage }),
  } as unknown as AgentService;
  return { agent, journal, rounds, vips, storage };
}

let seq = 0;
function event(vipId: string, type: 'elected' | 'fault' | 'demoted', from: string, to: string): JournalEntry {
  return {
    kind: 'event',
    seq: ++seq,
    time: new Date().toISOString(),
    vipId,
    event: type,
    source: 'etcd',
    from,
    to,
  } as JournalEntry;
}
function announced(vipId: string): JournalEntry {
  return {
    kind: 'note',
    seq: ++seq,
    time: new Date().toISOString(),
    vipId,
    level: 'info',
    code: 'ANNOUNCE_SENT',
    message: 'announced',
  };
}

function value(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

describe('metrics', () => {
  it('names the build and leaves out the gauges promtool refuses', async () => {
    const { agent } = fakeAgent();
    const metrics = createMetrics(agent, new Registry(), { version: '1.2.3' });
    const text = await metrics.scrape();
    metrics.stop();
    assert.equal(value(text, 'link_build_info{version="1.2.3"}'), 1);
    assert.match(text, /^# TYPE link_build_info gauge$/m);
    assert.match(text, /^nodejs_active_handles\{/m, 'the per-type gauge stays');
    assert.doesNotMatch(text, /^# TYPE \w+_total (?!counter)/m, 'no non-counter ends in _total');
  });

  it('says per store whether STATE_DIR takes writes, and counts the failed ones', async () => {
    const { agent, storage } = fakeAgent();
    const metrics = createMetrics(agent, new Registry(), { version: '1.2.3' });
    let text = await metrics.scrape();
    assert.equal(value(text, 'link_storage_writable{store="journal"}'), 1);
    assert.equal(value(text, 'link_storage_write_failures_total{store="journal"}'), 0);
    storage[0] = {
      store: 'journal',
      writable: false,
      failures: 3,
      error: { code: 'ENOSPC', path: '/var/lib/link/journal/x.jsonl', message: 'ENOSPC: …', since: '' },
    };
    text = await metrics.scrape();
    metrics.stop();
    assert.equal(value(text, 'link_storage_writable{store="journal"}'), 0);
    assert.equal(value(text, 'link_storage_write_failures_total{store="journal"}'), 3);
    assert.equal(value(text, 'link_storage_writable{store="cache"}'), 1);
    assert.match(text, /^# TYPE link_storage_write_failures_total counter$/m);
  });

  it('times a takeover from the election into ACTIVATED to its first announcement', async () => {
    const { agent, journal } = fakeAgent();
    const metrics = createMetrics(agent, new Registry(), { version: 't' });
    journal.next(event(A, 'fault', 'STANDBY', 'ACTIVATED'));
    journal.next(announced(A));
    let text = await metrics.scrape();
    assert.equal(
      value(text, `link_takeover_duration_seconds_count{vip_id="${A}"}`),
      undefined,
      'a fault is no election',
    );
    journal.next(event(A, 'demoted', 'ACTIVATED', 'STANDBY'));
    journal.next(event(A, 'elected', 'STANDBY', 'ACTIVATED'));
    journal.next(announced(A));
    journal.next(announced(A));
    text = await metrics.scrape();
    assert.equal(
      value(text, `link_takeover_duration_seconds_count{vip_id="${A}"}`),
      1,
      'the first announcement only',
    );
    const seconds = value(text, `link_takeover_duration_seconds_sum{vip_id="${A}"}`) ?? -1;
    assert.ok(seconds >= 0 && seconds < 1, `took ${seconds} s`);
    journal.next(event(A, 'demoted', 'ACTIVATED', 'STANDBY'));
    journal.next(event(A, 'elected', 'STANDBY', 'ACTIVATED'));
    journal.next(event(A, 'demoted', 'ACTIVATED', 'STANDBY'));
    journal.next(announced(A));
    text = await metrics.scrape();
    assert.equal(
      value(text, `link_takeover_duration_seconds_count{vip_id="${A}"}`),
      1,
      'demoted before announcing',
    );
    metrics.stop();
  });

  it('counts and times health checks per VIP and check; drops replaced checks and gone VIPs', async () => {
    const { agent, rounds, vips } = fakeAgent();
    const metrics = createMetrics(agent, new Registry(), { version: 't' });
    rounds.next({
      vipId: A,
      results: [
        { check: 'TCP 127.0.0.1:80', ok: true, durationMs: 2 },
        { check: 'HTTP http://user:pw@198.18.0.5/health?token=x', ok: false, durationMs: 1500 },
      ],
    });
    rounds.next({
      vipId: A,
      results: [
        { check: 'TCP 127.0.0.1:80', ok: true, durationMs: 3 },
        { check: 'HTTP http://user:pw@198.18.0.5/health?token=x', ok: true, durationMs: 4 },
      ],
    });
    let text = await metrics.scrape();
    const tcp = `vip_id="${A}",check="TCP 127.0.0.1:80"`;
    const http = `vip_id="${A}",check="HTTP http://198.18.0.5/health"`;
    assert.equal(value(text, `link_health_check_results_total{${tcp},result="pass"}`), 2);
    assert.equal(value(text, `link_health_check_results_total{${http},result="fail"}`), 1);
    assert.equal(value(text, `link_health_check_results_total{${http},result="pass"}`), 1);
    assert.equal(value(text, `link_health_check_duration_seconds_count{${tcp}}`), 2);
    assert.equal(value(text, `link_health_check_duration_seconds_bucket{le="0.005",${tcp}}`), 2);
    assert.doesNotMatch(text, /pw@|token=/, 'no credentials in labels');

    rounds.next({ vipId: A, results: [{ check: 'TCP 127.0.0.1:80', ok: true, durationMs: 1 }] });
    text = await metrics.scrape();
    assert.equal(
      value(text, `link_health_check_duration_seconds_count{${http}}`),
      undefined,
      'replaced check dropped',
    );
    assert.equal(value(text, `link_health_check_duration_seconds_count{${tcp}}`), 3);

    metrics.observeHandover(A, 'failover', 0.012);
    text = await metrics.scrape();
    assert.equal(value(text, `link_handover_duration_seconds_count{vip_id="${A}",trigger="failover"}`), 1);
    assert.equal(value(text, `link_last_failover_duration_seconds{vip_id="${A}"}`), 0.012);

    vips.length = 0;
    text = await metrics.scrape();
    assert.doesNotMatch(
      text,
      new RegExp(`link_(health_check|handover)_\\w+\\{[^}]*vip_id="${A}"`),
      'a gone VIP has no series',
    );
    metrics.stop();
  });
});
