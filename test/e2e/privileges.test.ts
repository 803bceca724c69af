import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DEFAULT_VIP, Lab } from '../../lab/lab.ts';
import { REPO_ROOT } from '../../lab/netns.ts';
import type { VipView } from '../../actors/types.ts';
import { SETPRIV, SETPRIV_FLAGS } from '../../adapters/process/sandbox.ts';
import { until } from '../support/until.ts';
import { seccompPrefix, seccompUnavailable, unitUmask } from '../support/unit-restrictions.ts';

/**
 * Least privilege: agents run as packaging/link.service runs them, as far as that can be done
 * without systemd as PID 1 (test/support/unit-restrictions.ts): a system user holding only
 * CAP_NET_ADMIN and CAP_NET_RAW (ambient, as AmbientCapabilities= gives them), no_new_privs, the
 * unit's system call filter, address families, namespace and personality locks (seccomp, built
 * as systemd builds it) and its umask; and a full failover still works: they bind, announce and
 * serve. Without one of the two capabilities, the agent stops at start with one line naming it
 * and a non-zero exit.
 */

/** Why the unit's seccomp filter is not applied here (then the rest still is), or null. */
const NO_SECCOMP = seccompUnavailable();

const USER_NAME = 'link-test';
const TTL_MS = 2000;
const MARGIN_MS = 3000;

function ensureUser(): { uid: number; gid: number } {
  try {
    execFileSync('id', ['-u', USER_NAME], { stdio: 'ignore' });
  } catch {
    execFileSync('useradd', ['--system', '--no-create-home', '--shell', '/usr/sbin/nologin', USER_NAME]);
  }
  const uid = Number(execFileSync('id', ['-u', USER_NAME], { encoding: 'utf8' }).trim());
  const gid = Number(execFileSync('id', ['-g', USER_NAME], { encoding: 'utf8' }).trim());
  return { uid, gid };
}

/** setpriv as systemd would do it: another user, only `caps` in every set, ambient included. */
function setpriv(uid: number, gid: number, caps: readonly string[]): string[] {
  const list = caps.map((c) => `+${c}`).join(',');
  return [
    'setpriv',
    `--reuid=${uid}`,
    `--regid=${gid}`,
    '--init-groups',
    '--no-new-privs',
    ...(caps.length > 0 ? [`--inh-caps=-all,${list}`, `--ambient-caps=-all,${list}`] : ['--inh-caps=-all']),
    `--bounding-set=-all${caps.length > 0 ? `,${list}` : ''}`,
    '--',
  ];
}

/** The unit's system call filter as a command prefix (nothing when it cannot be applied here). */
function seccomp(): string[] {
  return NO_SECCOMP === null ? seccompPrefix() : [];
}

/**
 * The lab's wrapper: as root, hands the host's state directory and the lab folder (where the
 * API socket lives) to the user, sets the unit's umask, then execs the seccomp loader, which
 * execs setpriv, which execs node (the pid stays the agent's).
 */
function labWrapper(uid: number, gid: number): string[] {
  return [
    'sh',
    '-c',
    `chown -R ${uid}:${gid} "$STATE_DIR" && chown ${uid}:${gid} "$(dirname "$API_SOCKET")" && umask ${unitUmask()} && exec "$@"`,
    'link-wrapper',
    ...seccomp(),
    ...setpriv(uid, gid, ['net_admin', 'net_raw']),
  ];
}

function statusField(pid: number, field: string): string {
  const line = readFileSync(`/proc/${pid}/status`, 'utf8')
    .split('\n')
    .find((l) => l.startsWith(`${field}:`));
  return (line ?? '').slice(field.length + 1).trim();
}

/** Runs one agent to its exit in a namespace; resolves with its exit code and stderr. */
function runAgentOnce(
  ns: string,
  wrapper: readonly string[],
  env: Record<string, string>,
): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      'ip',
      [
        'netns',
        'exec',
        ns,
        ...wrapper,
        process.execPath,
        '--import',
        join(REPO_ROOT, 'node_modules/tsx/dist/esm/index.mjs'),
        '--no-warnings=ExperimentalWarning',
        join(REPO_ROOT, 'cli/main.ts'),
        'agent',
      ],
      { cwd: REPO_ROOT, env: { ...process.env, ...env }, timeout: 60_000 },
      (err, _stdout, stderr) => {
        const code = err ? (typeof err.code === 'number' ? err.code : null) : 0;
        resolve({ code, stderr });
      },
    );
  });
}

describe(
  "least privilege: an agent under link.service's restrictions (user, CAP_NET_ADMIN and CAP_NET_RAW only, no_new_privs, seccomp, umask)",
  { timeout: 240_000 },
  () => {
    let lab: Lab;
    let uid: number;
    let gid: number;
    let scratch: string;

    before(async () => {
      ({ uid, gid } = ensureUser());
      scratch = mkdtempSync(join(tmpdir(), 'link-pv-'));
      execFileSync('chown', [`${uid}:${gid}`, scratch]);
      lab = await Lab.up({ name: `pv-${process.pid}`, hosts: 3, agentWrapper: labWrapper(uid, gid) });
      for (const host of lab.hosts) {
        const res = await lab.api<VipView>(host.name, 'POST', '/ips', { ip: DEFAULT_VIP });
        assert.equal(res.status, 201, JSON.stringify(res.body));
      }
    });

    after(async () => {
      await lab?.down();
      if (scratch) rmSync(scratch, { recursive: true, force: true });
    });

    it('runs as the user with exactly the two capabilities', () => {
      for (const host of lab.hosts) {
        const pid = host.pid!;
        assert.deepEqual(statusField(pid, 'Uid').split(/\s+/), [
          String(uid),
          String(uid),
          String(uid),
          String(uid),
        ]);
        // CAP_NET_ADMIN = bit 12, CAP_NET_RAW = bit 13: 0x3000, nothing else, in every set.
        for (const set of ['CapEff', 'CapPrm', 'CapAmb', 'CapBnd']) {
          assert.equal(BigInt(`0x${statusField(pid, set)}`), 0x3000n, `${host.name} ${set}`);
        }
      }
    });

    it(
      "runs with no_new_privs, the unit's seccomp filter and its umask",
      { skip: NO_SECCOMP ?? false },
      () => {
        for (const host of lab.hosts) {
          const pid = host.pid!;
          assert.equal(statusField(pid, 'NoNewPrivs'), '1', host.name);
          // 2 = SECCOMP_MODE_FILTER.
          assert.equal(statusField(pid, 'Seccomp'), '2', host.name);
          assert.equal(statusField(pid, 'Umask'), unitUmask().padStart(4, '0'), host.name);
        }
      },
    );

    it('serves its API', async () => {
      for (const host of lab.hosts) {
        const res = await lab.api(host.name, 'GET', '/healthz');
        assert.equal(res.status, 200, `${host.name}: ${JSON.stringify(res.body)}`);
      }
    });

    it(
      "the children's sandbox (setpriv, as EXEC checks run) works under the unit's filter and drops every capability",
      { skip: NO_SECCOMP ?? false },
      async () => {
        const host = lab.hosts[0]!;
        const { stdout } = await new Promise<{ stdout: string }>((resolve, reject) => {
          execFile(
            'ip',
            [
              'netns',
              'exec',
              host.ns,
              ...seccomp(),
              ...setpriv(uid, gid, ['net_admin', 'net_raw']),
              SETPRIV,
              ...SETPRIV_FLAGS,
              '--',
              'cat',
              '/proc/self/status',
            ],
            (err, out, stderr) =>
              err ? reject(new Error(`${err.message}\n${stderr}`)) : resolve({ stdout: out }),
          );
        });
        for (const set of ['CapEff', 'CapPrm', 'CapAmb', 'CapInh']) {
          const line = stdout.split('\n').find((l) => l.startsWith(`${set}:`)) ?? '';
          assert.equal(BigInt(`0x${line.slice(set.length + 1).trim()}`), 0n, `${set} of the child`);
        }
        assert.match(stdout, /^Seccomp:\s+2$/m, 'the child inherits the filter');
      },
    );

    it('binds, announces and fails over (kill -9 of the owner)', async () => {
      const owner = await until(
        'exactly one host to bind the VIP',
        async () => {
          const holders = await lab.holders(DEFAULT_VIP);
          return holders.length === 1 ? holders[0] : null;
        },
        TTL_MS + MARGIN_MS,
      );
      const observation = lab.observe(DEFAULT_VIP, 10);
      try {
        const seen = await observation.waitForRound((r) => r.macs.length === 1, 5000);
        assert.equal(lab.hostOfMac(seen.macs[0]!), owner, 'the observer reaches the owner');
        await lab.signalAgent(owner, 'SIGKILL');
        const successor = await until(
          'another host to bind the VIP',
          async () => (await lab.holders(DEFAULT_VIP)).find((h) => h !== owner),
          TTL_MS + MARGIN_MS,
        );
        // The successor's gratuitous ARP (CAP_NET_RAW) and its answers reach the observer.
        await observation.waitForRound(
          (r) => r.macs.length === 1 && lab.hostOfMac(r.macs[0]!) === successor,
          5000,
        );
        assert.ok(
          observation.announcements.some((a) => lab.hostOfMac(a.mac) === successor),
          'the successor announced the VIP',
        );
        // A graceful stop of the successor (unbind, release) works unprivileged too.
        await lab.signalAgent(successor, 'SIGTERM');
        const third = await until(
          'the last host to bind the VIP',
          async () => {
            const holders = await lab.holders(DEFAULT_VIP);
            return holders.length === 1 && holders[0] !== successor && holders[0] !== owner
              ? holders[0]
              : null;
          },
          TTL_MS + MARGIN_MS,
        );
        assert.ok(third);
      } finally {
        await observation.stop();
      }
    });

    for (const [missing, kept] of [
      ['CAP_NET_ADMIN', ['net_raw']],
      ['CAP_NET_RAW', ['net_admin']],
    ] as const) {
      it(`without ${missing}: exits non-zero at start with one line naming ${missing}`, async () => {
        const host = lab.hosts[0]!;
        const started = Date.now();
        const { code, stderr } = await runAgentOnce(host.ns, setpriv(uid, gid, kept), {
          INTERFACE: 'eth0',
          HOSTNAME: `${host.name}-weak`,
          ETCD_HOSTS: lab.etcdHosts,
          STATE_DIR: join(scratch, `state-${missing}`),
          PORT: '1314',
          API_SOCKET: '',
          LOG_FORMAT: 'json',
        });
        assert.notEqual(code, 0, `exit code ${code}`);
        const lines = stderr.trim().split('\n');
        assert.equal(lines.length, 1, stderr);
        assert.match(lines[0]!, new RegExp(`^linkctl agent: EPERM: .*${missing}`));
        assert.ok(Date.now() - started < 30_000);
        // It stopped before etcd: it never registered as a candidate.
        assert.equal(
          (await lab.etcdctl(['get', '--prefix', '--keys-only', `/link/hosts/${host.name}-weak/`])).trim(),
          '',
        );
      });
    }
  },
);
