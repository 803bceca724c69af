import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { chmodSync, existsSync, readFileSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { JournalEntry, VipView } from '../../actors/types.ts';
import { httpCall, type HttpAnswer } from '../../lab/api.ts';
import { createVethPair, deleteLink, startDaemon, type Daemon } from '../../lab/daemon.ts';
import { freePort, startEtcd, type EtcdCluster } from '../support/etcd.ts';
import { makeExecChecksDir, type ExecChecksDir } from '../support/exec-dir.ts';
import { until } from '../support/until.ts';

/**
 * EXEC_CHECKS_DIR and the children's sandbox, against the real daemon (`linkctl agent`, real
 * etcd, a veth pair: run under scripts/in-netns.sh):
 * - an EXEC check outside the folder (a path, a symlink leading out, a group-writable file),
 *   or any EXEC check without EXEC_CHECKS_DIR, is a 400 naming `checks[N].command`, and etcd
 *   holds nothing new;
 * - a refused check already stored in etcd never runs: it fails, with the reason journaled once;
 * - an allowed check and the NOTIFY_EXEC hook run with CapEff 0, cannot read the agent's
 *   /proc/$PPID/environ, and see none of its variables (secrets included).
 */

const AUTH = `Basic ${Buffer.from('admin:pw-Secret-4242').toString('base64')}`;
const SECRETS = ['Secret-4242', 'marker-4242'];
const CHILD_VARIABLES = ['LANG', 'PATH', 'PWD'];

/** What a child writes: its CapEff, what reading its parent's environ gave, its environment. */
function reportScript(out: string): string {
  return `#!/bin/sh
{
  grep CapEff /proc/self/status
  if environ=$(cat /proc/$PPID/environ 2>&1); then echo "environ: readable"; echo "$environ" | tr '\\0' '\\n'
  else echo "environ: $environ"; fi
  echo "--- env"
  env | sort
} > "${out}.tmp" && mv "${out}.tmp" "${out}"
`;
}

interface Report {
  capEff: string;
  environ: string;
  env: Map<string, string>;
  text: string;
}

function readReport(file: string): Report {
  const text = readFileSync(file, 'utf8');
  const [head = '', envText = ''] = text.split('--- env\n');
  const lines = head.split('\n');
  const env = new Map<string, string>();
  for (const line of envText.split('\n').filter((l) => l.length > 0)) {
    const eq = line.indexOf('=');
    env.set(line.slice(0, eq), line.slice(eq + 1));
  }
  return { capEff: lines[0] ?? '', environ: lines[1] ?? '', env, text };
}

function assertConfined(report: Report, extra: (name: string) => boolean): void {
  assert.equal(report.capEff, 'CapEff:\t0000000000000000');
  assert.match(report.environ, /^environ: .*Permission denied/);
  for (const secret of SECRETS) assert.ok(!report.text.includes(secret), `${secret} reached the child`);
  assert.deepEqual(
    [...report.env.keys()].filter((name) => !extra(name)),
    CHILD_VARIABLES,
  );
  assert.equal(report.env.get('PATH'), '/usr/sbin:/usr/bin:/sbin:/bin');
}

describe('EXEC_CHECKS_DIR and the children of the real daemon', () => {
  let etcd: EtcdCluster;
  let withDir: Daemon;
  let withoutDir: Daemon;
  let checks: ExecChecksDir;
  const ifA = `lxa${process.pid % 10000}`;
  const ifB = `lxb${process.pid % 10000}`;
  const staleId = `vip-${randomUUID()}`;
  let marker: string;
  let checkOut: string;
  let hookOut: string;
  let allowed: string;

  const call = (daemon: Daemon, method: string, path: string, body?: unknown): Promise<HttpAnswer> =>
    httpCall({ host: '127.0.0.1', port: Number(new URL(daemon.url).port) }, method, path, {
      headers: { Authorization: AUTH, 'Content-Type': 'application/json' },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    });
  // What the API stores (the VIPs' configuration); membership and agent keys come and go.
  const stored = () => etcd.etcdctl(['get', '--prefix', '/link/hosts/']);
  const journal = async (daemon: Daemon, id: string): Promise<JournalEntry[]> =>
    ((await call(daemon, 'GET', `/ips/${id}/events`)).json as { events: JournalEntry[] }).events;

  before(async () => {
    checks = makeExecChecksDir();
    marker = join(checks.base, 'stale-check-ran');
    checkOut = join(checks.base, 'check.out');
    hookOut = join(checks.base, 'hook.out');
    allowed = checks.script('report', reportScript(checkOut));
    const hook = checks.script('notify', reportScript(hookOut));
    checks.script('group-writable', '#!/bin/sh\nexit 0\n', 0o775);
    checks.script('not-executable', '#!/bin/sh\nexit 0\n', 0o644);
    symlinkSync('/bin/sh', join(checks.dir, 'shell'));

    etcd = await startEtcd();
    // A check stored before EXEC_CHECKS_DIR existed, outside it: restored at start, never run.
    await etcd.etcdctl([
      'put',
      `/link/hosts/host-a/${staleId}`,
      JSON.stringify({
        id: staleId,
        ip: '198.18.0.131/32',
        checks: [{ type: 'EXEC', command: '/bin/sh', args: ['-c', `touch ${marker}`] }],
        healthcheck_interval: 0,
      }),
    ]);
    createVethPair(ifA, ifB);
    const common = {
      etcdHosts: etcd.hosts,
      user: 'admin',
      password: 'pw-Secret-4242',
      env: {
        HEALTH_CHECK_INTERVAL: '200ms',
        FAIL_COUNT_BEFORE_FAILOVER: '1',
        NOTIFY_WEBHOOK_URL: 'http://127.0.0.1:9/hook',
        NOTIFY_WEBHOOK_SECRET: 'wh-Secret-4242',
        AGENT_ONLY: 'marker-4242',
      },
    };
    [withDir, withoutDir] = await Promise.all([
      startDaemon({
        ...common,
        hostname: 'host-a',
        interfaceName: ifA,
        port: await freePort(),
        env: { ...common.env, EXEC_CHECKS_DIR: checks.dir, NOTIFY_EXEC: hook },
      }),
      startDaemon({ ...common, hostname: 'host-b', interfaceName: ifB, port: await freePort() }),
    ]);
  });
  after(async () => {
    await Promise.allSettled([withDir?.stop(), withoutDir?.stop()]);
    deleteLink(ifA);
    await etcd?.close();
    checks?.remove();
  });

  it('refuses EXEC checks outside EXEC_CHECKS_DIR with a 400 naming checks[N].command; etcd unchanged', async () => {
    const before = await stored();
    const tcp = { type: 'TCP', host: '127.0.0.1', port: 1 };
    const cases: { checks: unknown[]; field: string; why: RegExp }[] = [
      {
        checks: [{ type: 'EXEC', command: '/bin/sh', args: ['-c', 'id'] }],
        field: 'checks[0].command',
        why: /outside EXEC_CHECKS_DIR/,
      },
      {
        checks: [tcp, { type: 'EXEC', command: '/bin/sh' }],
        field: 'checks[1].command',
        why: /outside EXEC_CHECKS_DIR/,
      },
      {
        checks: [{ type: 'EXEC', command: join(checks.dir, 'shell') }],
        field: 'checks[0].command',
        why: /a symlink to .*outside/,
      },
      {
        checks: [{ type: 'EXEC', command: 'shell' }],
        field: 'checks[0].command',
        why: /a symlink to .*outside/,
      },
      {
        checks: [{ type: 'EXEC', command: '../checks/../../../bin/sh' }],
        field: 'checks[0].command',
        why: /outside/,
      },
      {
        checks: [tcp, { type: 'EXEC', command: 'group-writable' }],
        field: 'checks[1].command',
        why: /writable by its group/,
      },
      {
        checks: [{ type: 'EXEC', command: 'not-executable' }],
        field: 'checks[0].command',
        why: /not-executable is not executable by the agent \(EACCES\)/,
      },
      {
        checks: [{ type: 'EXEC', command: 'missing' }],
        field: 'checks[0].command',
        why: /cannot be resolved \(ENOENT\)/,
      },
    ];
    for (const [index, { checks: list, field, why }] of cases.entries()) {
      const answer = await call(withDir, 'POST', '/ips', { ip: `198.18.0.${140 + index}/32`, checks: list });
      assert.equal(answer.status, 400, `${JSON.stringify(list)}: ${answer.text}`);
      const body = answer.json as { field: string; error: string };
      assert.equal(body.field, field, answer.text);
      assert.match(body.error, why, answer.text);
      assert.ok(body.error.startsWith(`${field}: `), answer.text);
    }

    // PATCH of an existing VIP: refused the same way, its stored checks untouched.
    const created = await call(withDir, 'POST', '/ips', { ip: '198.18.0.150/32', checks: [tcp] });
    assert.equal(created.status, 201, created.text);
    const id = (created.json as VipView).id;
    const withVip = await stored();
    const patched = await call(withDir, 'PATCH', `/ips/${id}`, {
      checks: [tcp, { type: 'EXEC', command: '/bin/sh' }],
    });
    assert.equal(patched.status, 400, patched.text);
    assert.equal((patched.json as { field: string }).field, 'checks[1].command');
    assert.equal(await stored(), withVip, 'a refused PATCH stores nothing');
    assert.equal((await call(withDir, 'DELETE', `/ips/${id}`)).status, 204);

    // Without EXEC_CHECKS_DIR, even the script the other host allows is refused.
    const none = await call(withoutDir, 'POST', '/ips', {
      ip: '198.18.0.151/32',
      checks: [{ type: 'EXEC', command: allowed }],
    });
    assert.equal(none.status, 400, none.text);
    assert.equal((none.json as { field: string }).field, 'checks[0].command');
    assert.match((none.json as { error: string }).error, /EXEC_CHECKS_DIR is not set/);
    assert.equal(await stored(), before, 'no refused request stored anything');
  });

  it('an allowed check runs with CapEff 0, cannot read the agent environ, and sees none of its variables', async () => {
    const created = await call(withDir, 'POST', '/ips', {
      ip: '198.18.0.160/32',
      checks: [{ type: 'EXEC', command: 'report' }],
    });
    assert.equal(created.status, 201, created.text);
    assert.deepEqual((created.json as VipView).checks, [{ type: 'EXEC', command: 'report' }]);
    await until('the check to report', () => existsSync(checkOut), 10_000);
    assertConfined(readReport(checkOut), () => false);
  });

  it('a refused check restored from etcd never runs: it fails, the reason journaled once', async () => {
    const failed = await until(
      'the stale check to fail',
      async () =>
        (await journal(withDir, staleId)).find(
          (entry) => entry.kind === 'event' && entry.event === 'health_check_fail',
        ),
      10_000,
    );
    assert.ok(failed.kind === 'event');
    assert.match(
      failed.reason ?? '',
      /EXEC \/bin\/sh: refused \(EXEC_OUTSIDE_DIR\): \/bin\/sh is outside EXEC_CHECKS_DIR/,
    );
    const view = (await call(withDir, 'GET', `/ips/${staleId}`)).json as { ip: VipView };
    assert.equal(view.ip.status, 'FAILING');
    // Many rounds later (the allowed check above has reported since), still one entry.
    const refusedEntries = (await journal(withDir, staleId)).filter((entry) =>
      JSON.stringify(entry).includes('refused'),
    );
    assert.equal(refusedEntries.length, 1, JSON.stringify(refusedEntries));
    assert.equal(existsSync(marker), false, 'the refused command ran');
  });

  it('the NOTIFY_EXEC hook runs confined too, with its LINK_* variables', async () => {
    await until('the hook to report', () => existsSync(hookOut), 10_000);
    const report = readReport(hookOut);
    assertConfined(report, (name) => name.startsWith('LINK_'));
    assert.match(report.env.get('LINK_VIP') ?? '', /^198\.18\.0\.\d+\/32$/);
  });

  it('a group-writable script made so after it was allowed stops running', async () => {
    const created = await call(withDir, 'POST', '/ips', {
      ip: '198.18.0.161/32',
      checks: [{ type: 'EXEC', command: allowed }],
    });
    assert.equal(created.status, 201, created.text);
    const id = (created.json as VipView).id;
    chmodSync(allowed, 0o775);
    try {
      const failed = await until(
        'the check to fail',
        async () =>
          (await journal(withDir, id)).find((e) => e.kind === 'event' && e.event === 'health_check_fail'),
        10_000,
      );
      assert.ok(failed.kind === 'event');
      assert.match(failed.reason ?? '', /refused \(EXEC_UNSAFE_FILE\): .* is writable by its group/);
    } finally {
      chmodSync(allowed, 0o755);
    }
  });
});
