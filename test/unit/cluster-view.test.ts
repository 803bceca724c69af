import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import type { Command } from 'commander';
import { buildClusterView, type ClusterRanges, type RawKv } from '../../adapters/etcd/cluster-view.ts';
import { makeKeys } from '../../adapters/etcd/keys.ts';
import { formatClusterView } from '../../cli/format.ts';
import { runCli } from '../support/cli.ts';
import type { CliIo } from '../../cli/io.ts';
import { registerStatusCommand } from '../../cli/status.ts';

const keys = makeKeys('/link');
const kv = (key: string, value: string, lease = '0'): RawKv => ({ key, value, lease });
const member = (host: string, priority: number, preempt = false) =>
  JSON.stringify({ hostname: host, priority, preempt });
const record = (id: string, ip: string, extra: object = {}) =>
  JSON.stringify({ id, ip, checks: [], ...extra });

/**
 * 198.18.0.10/32: a owns it (200, preempt), b competes (150), c has a record but no membership
 * key (its checks fail), d has a record and no live agent. 198.18.0.9/32: no lock, a LinK v2
 * member (no lease, `updated_at`) and a drained host. A v6 VIP owned by a host with no record.
 */
const ranges: ClusterRanges = {
  revision: '42',
  locks: [
    kv('/link/default/198.18.0.10_32', 'a', '11'),
    kv('/link/default/2001:db8::1_128', 'x', '99'),
    kv('/link/default/junk/extra', 'z', '1'),
  ],
  members: [
    kv(
      '/link/ips/198.18.0.10_32/a',
      JSON.stringify({ hostname: 'a', priority: 200, preempt: true, preempt_delay_ms: 10000 }),
      '11',
    ),
    kv('/link/ips/198.18.0.10_32/b', member('b', 150), '12'),
    kv('/link/ips/198.18.0.9_32/v2host', '{"updated_at":"2026-12-01T00:00:00Z"}'),
    kv('/link/ips/198.18.0.9_32/b', 'b', '12'), // an older LinK's plain hostname: priority 100
  ],
  records: [
    kv('/link/hosts/a/vip-a1', record('vip-a1', '198.18.0.10/32', { priority: 200, preempt: true })),
    kv('/link/hosts/b/vip-b1', record('vip-b1', '198.18.0.10/32', { priority: 150 })),
    kv('/link/hosts/c/vip-c1', record('vip-c1', '198.18.0.10/32', { priority: 120 })),
    kv('/link/hosts/d/vip-d1', record('vip-d1', '198.18.0.10/32')),
    kv('/link/hosts/c/vip-c2', record('vip-c2', '198.18.0.9/32', { priority: 50 })),
    kv('/link/hosts/b/vip-b2', record('vip-b2', '198.18.0.9/32')),
    kv('/link/hosts/a/lease', '12345'), // the legacy lease key: not a VIP
    kv('/link/hosts/a/vip-bad', '{not json'),
  ],
  agents: [
    kv('/link/agents/a', '{}', '11'),
    kv('/link/agents/b', '{}', '12'),
    kv('/link/agents/c', '{}', '13'),
  ],
  drains: [kv('/link/drain/c', '{"since":"2026-12-03T09:00:00Z"}')],
};

describe('cluster view (GET /cluster, linkctl status)', () => {
  it('tells owner, candidate, withdrawn and down apart, with priorities, ordered', () => {
    const view = buildClusterView(keys, ranges);
    assert.equal(view.revision, '42');
    assert.deepEqual(
      view.vips.map((v) => v.ip),
      ['198.18.0.9/32', '198.18.0.10/32', '2001:db8::1/128'],
      'IPv4 numerically, then IPv6',
    );
    const [nine, ten, six] = view.vips;
    assert.equal(ten?.owner, 'a');
    assert.deepEqual(ten?.hosts, [
      {
        hostname: 'a',
        state: 'owner',
        priority: 200,
        preempt: true,
        id: 'vip-a1',
        drained: false,
        v2: false,
      },
      {
        hostname: 'b',
        state: 'candidate',
        priority: 150,
        preempt: false,
        id: 'vip-b1',
        drained: false,
        v2: false,
      },
      {
        hostname: 'c',
        state: 'withdrawn',
        priority: 120,
        preempt: false,
        id: 'vip-c1',
        drained: true,
        v2: false,
      },
      {
        hostname: 'd',
        state: 'down',
        priority: 100,
        preempt: false,
        id: 'vip-d1',
        drained: false,
        v2: false,
      },
    ]);
    assert.equal(nine?.owner, null);
    assert.deepEqual(
      nine?.hosts.map((h) => [h.hostname, h.state, h.priority, h.v2]),
      [
        ['b', 'candidate', 100, false],
        ['v2host', 'candidate', 100, true],
        ['c', 'withdrawn', 50, false],
      ],
    );
    assert.deepEqual(six?.hosts, [
      { hostname: 'x', state: 'owner', priority: null, preempt: null, id: null, drained: false, v2: false },
    ]);
  });

  it('an empty cluster is no VIPs; another prefix reads its own keys only', () => {
    const empty = { revision: '1', locks: [], members: [], records: [], agents: [], drains: [] };
    assert.deepEqual(buildClusterView(keys, empty), { revision: '1', vips: [] });
    assert.equal(formatClusterView(buildClusterView(keys, empty)), 'no VIPs in the cluster\n');
    assert.deepEqual(buildClusterView(makeKeys('/other'), ranges).vips, []);
  });

  it('prints one line per VIP: owner, then each host with priority and state', () => {
    assert.equal(
      formatClusterView(buildClusterView(keys, ranges)),
      [
        'IP               OWNER  HOSTS (priority state)',
        '198.18.0.9/32    -      b 100 candidate, v2host 100 candidate (v2), c 50 withdrawn (drained)',
        '198.18.0.10/32   a      a 200p owner, b 150 candidate, c 120 withdrawn (drained), d 100 down',
        '2001:db8::1/128  x      x - owner',
        '',
      ].join('\n'),
    );
  });

  describe('linkctl status and linkctl ips list --all', () => {
    let server: Server;
    let host: string;
    const view = buildClusterView(keys, ranges);
    before(async () => {
      server = createServer((req, res) => {
        const ok = req.url === '/cluster';
        res.writeHead(ok ? 200 : 503, { 'Content-Type': 'application/json' });
        res.end(JSON.stringify(ok ? view : { error: 'etcd: unavailable', code: 'ETCD_UNAVAILABLE' }));
      });
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      host = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    });
    after(() => server.close());

    const run = (register: (program: Command, io: CliIo) => void, ...args: string[]) =>
      runCli(register, host, ...args);

    it('prints the table, or the JSON with --json', async () => {
      const status = (program: Command, io: CliIo) => registerStatusCommand(program, io);
      const table = await run(status, 'status');
      assert.equal(table.code, 0);
      assert.equal(table.out, formatClusterView(view));
      const json = await run(status, 'status', '--json');
      assert.deepEqual(JSON.parse(json.out), view);
      const { registerIpsCommands } = await import('../../cli/ips.ts');
      const all = await run(
        (program, io) => registerIpsCommands(program, { version: 't', io }),
        'ips',
        'list',
        '--all',
      );
      assert.equal(all.out, formatClusterView(view));
    });

    it('an agent that cannot read etcd: exit 1, one line', async () => {
      const status = (program: Command, io: CliIo) => registerStatusCommand(program, io);
      server.removeAllListeners('request');
      server.on('request', (_req, res) => {
        res.writeHead(503, { 'Content-Type': 'application/json' });
        res.end(JSON.stringify({ error: 'etcd: unavailable', code: 'ETCD_UNAVAILABLE' }));
      });
      const failed = await run(status, 'status');
      assert.equal(failed.code, 1);
      assert.match(failed.out, /^ERR linkctl: .*\n$/);
    });
  });
});
