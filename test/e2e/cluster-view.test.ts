import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { Lab } from '../../lab/lab.ts';
import { LINKCTL } from '../../lab/daemon.ts';
import type { ClusterView, ClusterVip } from '../../adapters/etcd/cluster-view.ts';
import type { HealthCheckSpec } from '../../adapters/health/types.ts';
import type { VipView } from '../../actors/types.ts';
import { until } from '../support/until.ts';

/**
 * The cluster view in the lab (issue 16 part 6): three agents on one etcd. RANKED is carried by
 * all three with priorities 200/100/50, the last with a check that always fails; PAIR only by the
 * two last. `linkctl status --json` (bin/linkctl against one agent's socket), `linkctl ips list
 * --all` and GET /cluster on another agent show the same view from etcd: the owner, each host's
 * priority and state (`owner`, `candidate`, `withdrawn` for the failing check), and, once an
 * agent is killed and its lease has run out, `down`.
 *
 *   scripts/in-netns.sh node --import tsx --test test/e2e/cluster-view.test.ts
 */

const RANKED = '198.18.0.120/32';
const PAIR = '198.18.0.121/32';
/** Nothing listens there: the check fails from its first run. */
const FAILING_CHECK: HealthCheckSpec[] = [{ type: 'TCP', host: '127.0.0.1', port: 9 }];
const SETTLE_MS = 15_000;

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

describe('the cluster view in the lab', { timeout: 180_000 }, () => {
  let lab: Lab;
  let names: string[];

  /** bin/linkctl against `host`'s API socket. */
  const linkctl = (host: string, args: string[]): Promise<Run> =>
    new Promise((resolve) => {
      execFile(
        LINKCTL,
        args,
        {
          env: { PATH: process.env['PATH'] ?? '/usr/bin:/bin', LINK_HOST: `unix:${lab.host(host).socket}` },
          timeout: 30_000,
        },
        (err, stdout, stderr) => {
          resolve({ code: err ? (typeof err.code === 'number' ? err.code : -1) : 0, stdout, stderr });
        },
      );
    });
  const statusJson = async (host: string): Promise<ClusterView> => {
    const run = await linkctl(host, ['status', '--json']);
    assert.equal(run.code, 0, run.stderr);
    return JSON.parse(run.stdout) as ClusterView;
  };
  const vipOf = (view: ClusterView, ip: string): ClusterVip => {
    const vip = view.vips.find((v) => v.ip === ip);
    assert.ok(vip, `${ip} in the view: ${JSON.stringify(view)}`);
    return vip;
  };
  const states = (vip: ClusterVip) => vip.hosts.map((h) => [h.hostname, h.priority, h.state]);

  before(async () => {
    lab = await Lab.up({
      name: `cv-${process.pid}`,
      hosts: 3,
      agentEnv: {
        HEALTH_CHECK_INTERVAL: '200ms',
        HEALTH_CHECK_TIMEOUT: '100ms',
        FAIL_COUNT_BEFORE_FAILOVER: '1',
      },
    });
    names = lab.hosts.map((h) => h.name);
    const [high, mid, low] = names as [string, string, string];
    const add = async (host: string, body: Record<string, unknown>) => {
      const res = await lab.api<VipView>(host, 'POST', '/ips', body);
      assert.equal(res.status, 201, JSON.stringify(res.body));
    };
    await add(high, { ip: RANKED, priority: 200 });
    await add(mid, { ip: RANKED, priority: 100 });
    await add(low, { ip: RANKED, priority: 50, checks: FAILING_CHECK });
    await add(mid, { ip: PAIR });
    await add(low, { ip: PAIR });
  });

  after(async () => {
    await lab?.down();
  });

  it('linkctl status --json: the owner, every host with its priority and state; GET /cluster on another agent says the same', async () => {
    const [high, mid, low] = names as [string, string, string];
    const view = await until(
      'the owner and the failing host withdrawn',
      async () => {
        const v = await statusJson(mid);
        const ranked = v.vips.find((x) => x.ip === RANKED);
        const pair = v.vips.find((x) => x.ip === PAIR);
        return ranked?.owner === high && ranked.hosts.length === 3 && pair?.owner != null ? v : null;
      },
      SETTLE_MS,
    );
    assert.deepEqual(states(vipOf(view, RANKED)), [
      [high, 200, 'owner'],
      [mid, 100, 'candidate'],
      [low, 50, 'withdrawn'],
    ]);
    const pair = vipOf(view, PAIR);
    assert.ok(pair.owner === mid || pair.owner === low, `PAIR owned by ${pair.owner}`);
    assert.deepEqual(
      pair.hosts.map((h) => [h.hostname, h.state]),
      [
        [pair.owner, 'owner'],
        [pair.owner === mid ? low : mid, 'candidate'],
      ],
    );
    await until('the owner to bind it', async () => (await lab.holders(RANKED)).join() === high, SETTLE_MS);

    const fromAnother = await lab.api<ClusterView>(low, 'GET', '/cluster');
    assert.equal(fromAnother.status, 200);
    assert.deepEqual(fromAnother.body.vips, view.vips);
  });

  it('linkctl status prints one line per VIP; ips list --all prints the same', async () => {
    const [high, mid, low] = names as [string, string, string];
    const status = await linkctl(high, ['status']);
    assert.equal(status.code, 0, status.stderr);
    const lines = status.stdout.trimEnd().split('\n');
    assert.equal(lines.length, 3, `a header and two VIPs:\n${status.stdout}`);
    const ranked = lines.find((l) => l.startsWith(RANKED));
    assert.ok(ranked, status.stdout);
    assert.match(
      ranked,
      new RegExp(`^${RANKED}\\s+${high}\\s+${high} 200 owner, ${mid} 100 candidate, ${low} 50 withdrawn$`),
    );
    const all = await linkctl(low, ['ips', 'list', '--all']);
    assert.equal(all.code, 0, all.stderr);
    assert.equal(all.stdout, status.stdout);
  });

  it('an agent killed: once its lease has run out it shows down, and its VIP has moved', async () => {
    const [high, mid, low] = names as [string, string, string];
    await lab.signalAgent(high, 'SIGKILL');
    const view = await until(
      `${high} down`,
      async () => {
        const v = await statusJson(low);
        const ranked = v.vips.find((x) => x.ip === RANKED);
        return ranked?.owner === mid && ranked.hosts.some((h) => h.hostname === high && h.state === 'down')
          ? v
          : null;
      },
      SETTLE_MS,
    );
    assert.deepEqual(states(vipOf(view, RANKED)), [
      [mid, 100, 'owner'],
      [low, 50, 'withdrawn'],
      [high, 200, 'down'],
    ]);
    await lab.startAgent(high);
  });
});
