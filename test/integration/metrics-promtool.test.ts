import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createServer, type Server } from 'node:net';
import { after, before, describe, it } from 'node:test';
import type { VipView } from '../../actors/types.ts';
import { httpCall } from '../../lab/api.ts';
import { createVethPair, deleteLink, startDaemon, type Daemon } from '../../lab/daemon.ts';
import { freePort, startEtcd, type EtcdCluster } from '../support/etcd.ts';
import { until } from '../support/until.ts';

/**
 * /metrics of two real agents (real etcd, real interfaces) after a VIP with a TCP check was
 * elected and failed over: link_build_info, the health-check histogram and counter, the handover
 * and takeover histograms are there, and Debian's `promtool check metrics` (package prometheus,
 * installed by scripts/setup.sh) finds nothing to say about either scrape. Without promtool that
 * part is skipped, saying so. Run under scripts/in-netns.sh (it creates a veth pair).
 */

const AUTH = { Authorization: `Basic ${Buffer.from('admin:secret').toString('base64')}` };
const VIP = '198.18.0.120/32';

function promtool(): string | undefined {
  const found = spawnSync('promtool', ['--version'], { stdio: 'ignore' });
  return found.error ? undefined : 'promtool';
}

async function call(daemon: Daemon, method: string, path: string, body?: unknown) {
  return httpCall({ host: '127.0.0.1', port: Number(new URL(daemon.url).port) }, method, path, {
    headers: { ...AUTH, ...(body !== undefined ? { 'Content-Type': 'application/json' } : {}) },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
}

async function scrape(daemon: Daemon): Promise<string> {
  const answer = await call(daemon, 'GET', '/metrics');
  assert.equal(answer.status, 200, answer.text);
  return answer.text;
}

/** The value of one sample line (`name{labels} value`), or undefined. */
function sample(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

describe('/metrics of a real agent', { timeout: 90_000 }, () => {
  let etcd: EtcdCluster | undefined;
  let checked: Server | undefined;
  const daemons: Daemon[] = [];
  const ifA = `lpa${process.pid % 10000}`;
  const ifB = `lpb${process.pid % 10000}`;
  const ids = new Map<Daemon, string>();
  let formerOwner: Daemon | undefined;
  let newOwner: Daemon | undefined;

  before(async () => {
    etcd = await startEtcd();
    createVethPair(ifA, ifB);
    checked = createServer((socket) => socket.end());
    await new Promise<void>((resolve) => checked!.listen(0, '127.0.0.1', resolve));
    const checkPort = (checked.address() as { port: number }).port;
    const common = { etcdHosts: etcd.hosts, user: 'admin', password: 'secret' };
    daemons.push(
      ...(await Promise.all([
        startDaemon({ ...common, hostname: 'prom-a', interfaceName: ifA, port: await freePort() }),
        startDaemon({ ...common, hostname: 'prom-b', interfaceName: ifB, port: await freePort() }),
      ])),
    );
    for (const daemon of daemons) {
      const created = await call(daemon, 'POST', '/ips', {
        ip: VIP,
        checks: [{ type: 'TCP', host: '127.0.0.1', port: checkPort }],
        healthcheck_interval: 1,
      });
      assert.equal(created.status, 201, created.text);
      ids.set(daemon, (created.json as VipView).id);
    }
    const owner = await until(
      'one owner',
      async () => {
        for (const daemon of daemons) {
          const view = (await call(daemon, 'GET', `/ips/${ids.get(daemon)}`)).json as { ip: VipView };
          if (view.ip.owner) return daemon;
        }
        return undefined;
      },
      15_000,
    );
    const failover = await call(owner, 'POST', `/ips/${ids.get(owner)}/failover`);
    assert.equal(failover.status, 204, failover.text);
    formerOwner = owner;
    newOwner = daemons.find((d) => d !== owner);
  });

  after(async () => {
    await Promise.allSettled(daemons.map((d) => d.stop()));
    deleteLink(ifA);
    checked?.close();
    await etcd?.close();
  });

  it('names the version, times health checks, handovers and takeovers', async (t) => {
    assert.ok(formerOwner && newOwner);
    const version = (await call(newOwner, 'GET', '/version')).json as { version: string; hostname: string };
    assert.equal(version.hostname, newOwner.hostname, '/version names the host');
    const newId = ids.get(newOwner)!;
    const text = await until(
      "the new owner's takeover and a passed check in /metrics",
      async () => {
        const scraped = await scrape(newOwner!);
        const took = sample(scraped, `link_takeover_duration_seconds_count{vip_id="${newId}"}`) ?? 0;
        const passed =
          sample(
            scraped,
            `link_health_check_results_total{vip_id="${newId}",check="TCP 127.0.0.1:${(checked!.address() as { port: number }).port}",result="pass"}`,
          ) ?? 0;
        return took >= 1 && passed >= 1 ? scraped : undefined;
      },
      15_000,
    );
    assert.equal(sample(text, `link_build_info{version="${version.version}"}`), 1);
    assert.match(text, /^# TYPE link_health_check_duration_seconds histogram$/m);
    assert.match(
      text,
      new RegExp(`^link_health_check_duration_seconds_count\\{vip_id="${newId}",check="TCP `, 'm'),
    );
    assert.match(text, /^# TYPE link_takeover_duration_seconds histogram$/m);
    const takeover = sample(text, `link_takeover_duration_seconds_sum{vip_id="${newId}"}`) ?? -1;
    const takeovers = sample(text, `link_takeover_duration_seconds_count{vip_id="${newId}"}`) ?? 1;
    assert.ok(takeover >= 0 && takeover / takeovers < 5, `takeover took ${takeover} s`);
    assert.doesNotMatch(text, /^nodejs_active_handles_total/m);

    const former = await scrape(formerOwner);
    const handovers = sample(
      former,
      `link_handover_duration_seconds_count{vip_id="${ids.get(formerOwner)}",trigger="failover"}`,
    );
    assert.equal(handovers, 1, 'one failover handed over');
    const took = sample(
      former,
      `link_handover_duration_seconds_sum{vip_id="${ids.get(formerOwner)}",trigger="failover"}`,
    );
    assert.ok(took !== undefined && took > 0 && took < 5, `handover took ${took} s`);
    t.diagnostic(
      `handover ${(took * 1000).toFixed(1)} ms; takeover ${((takeover / takeovers) * 1000).toFixed(1)} ms (mean of ${takeovers})`,
    );
  });

  it(
    'passes promtool check metrics',
    { skip: promtool() ? false : 'promtool not installed (Debian package prometheus): skipped' },
    async () => {
      for (const daemon of daemons) {
        const text = await scrape(daemon);
        const result = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
        assert.equal(result.status, 0, `promtool on ${daemon.hostname}:\n${result.stdout}${result.stderr}`);
        assert.equal(`${result.stdout}${result.stderr}`.trim(), '', 'promtool has nothing to say');
      }
    },
  );
});
