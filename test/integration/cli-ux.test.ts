import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { after, before, describe, it } from 'node:test';
import type { VipView } from '../../actors/types.ts';
import { callAgent } from '../../lab/api.ts';
import { Lab } from '../../lab/lab.ts';
import { LINKCTL, createVethPair, deleteLink, startDaemon } from '../../lab/daemon.ts';
import type { Daemon } from '../../lab/daemon.ts';
import { freePort, startEtcd } from '../support/etcd.ts';
import type { EtcdCluster } from '../support/etcd.ts';

/**
 * linkctl as people use it (issue 17, part 6), bin/linkctl against real agents and a real etcd:
 * --version, global options on either side of the subcommand, exit codes 2/1 with the
 * `linkctl:` prefix everywhere, etcd errors as one readable line (API and --check), events
 * --follow failing when the stream is cut, failover output (cli-linkctl.test.ts), lab up
 * --force/--env and lab status with credentials, LOG_FORMAT=pretty without colour off a
 * terminal, ETCD_HOSTS empty or unparsable. Also: `ips list` loads neither etcd3, koa, koffi nor
 * zod (start-up time; the timing itself is in docs/performance.md). Run under scripts/in-netns.sh.
 */

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

const PATH = process.env['PATH'] ?? '/usr/bin:/bin';

function linkctl(args: string[], env: Record<string, string> = {}, timeoutMs = 30_000): Promise<Run> {
  return new Promise((resolve) => {
    execFile(LINKCTL, args, { env: { PATH, ...env }, timeout: timeoutMs }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : -1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

function assertOneLine(run: Run, pattern: RegExp, what: string): void {
  const lines = run.stderr.trimEnd().split('\n');
  assert.equal(lines.length, 1, `${what}: one line on stderr, got:\n${run.stderr}`);
  assert.match(lines[0] ?? '', /^linkctl: /, what);
  assert.match(lines[0] ?? '', pattern, what);
  assert.doesNotMatch(run.stderr, /\n\s+at /, `${what}: no stack trace`);
}

const GRPC_TEXT = /\b\d+ (UNAVAILABLE|DEADLINE_EXCEEDED):|Resolution note|No connection established/;
const packageVersion = (
  JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }
).version;

describe('linkctl as people use it', () => {
  let etcd: EtcdCluster;
  let daemon: Daemon;
  let env: Record<string, string>;
  const ifA = `uxa${process.pid % 10000}`;
  const ifB = `uxb${process.pid % 10000}`;
  const ifC = `uxc${process.pid % 10000}`;
  const ifD = `uxd${process.pid % 10000}`;

  before(async () => {
    etcd = await startEtcd();
    createVethPair(ifA, ifB);
    createVethPair(ifC, ifD);
    daemon = await startDaemon({
      hostname: 'ux-a',
      interfaceName: ifA,
      etcdHosts: etcd.hosts,
      port: await freePort(),
      user: 'ops',
      password: 's3cret',
    });
    env = { LINK_HOST: daemon.url, LINK_USER: 'ops', LINK_PASSWORD: 's3cret' };
  });
  after(async () => {
    await daemon?.stop();
    deleteLink(ifA);
    deleteLink(ifC);
    await etcd?.close();
  });

  it('--version and -V print linkctl and its version', async () => {
    for (const flag of ['--version', '-V']) {
      const run = await linkctl([flag]);
      assert.equal(run.code, 0, run.stderr);
      assert.equal(run.stdout, `linkctl ${packageVersion}\n`);
    }
  });

  it('takes --host, -u, -p and --json before or after the subcommand', async () => {
    const auth = ['--host', daemon.url, '-u', 'ops', '-p', 's3cret'];
    const forms = [
      [...auth, '--json', 'ips', 'list'],
      ['ips', 'list', ...auth, '--json'],
      ['--json', 'ips', ...auth, 'list'],
      ['-u', 'ops', 'ips', 'list', '--host', daemon.url, '--json', '-p', 's3cret'],
      [`--host=${daemon.url}`, '--user=ops', '--password=s3cret', 'ips', 'list', '--json'],
    ];
    for (const args of forms) {
      const run = await linkctl(args);
      assert.equal(run.code, 0, `${args.join(' ')}: ${run.stderr}`);
      assert.deepEqual(JSON.parse(run.stdout), { ips: [] }, args.join(' '));
    }
    const version = await linkctl(['--json', ...auth, 'version']);
    assert.equal(version.code, 0, version.stderr);
    assert.deepEqual(JSON.parse(version.stdout), { linkctl: packageVersion, agent: packageVersion });
  });

  it('usage errors exit 2, runtime errors 1, each one line with the linkctl: prefix', async () => {
    const usage: string[][] = [
      ['frobnicate'],
      ['ips', 'frobnicate'],
      ['ips', 'list', '--bogus'],
      ['--bogus', 'ips', 'list'],
      ['ips', 'get'],
      ['ips', 'add', '198.18.0.140', '--interval', 'soon'],
      ['ips', 'list', '--host', 'ftp://x'],
      ['agent', '--bogus'],
      ['lab', 'up', '--hosts', '0'],
      ['lab', 'up', '--env', 'not-an-assignment'],
      ['lab', 'status', '--bogus'],
      ['lab', 'forward', 'h1', '--port', 'x'],
    ];
    for (const args of usage) {
      const run = await linkctl(args, env);
      assert.equal(run.code, 2, `${args.join(' ')}: ${run.stderr}`);
      assertOneLine(run, /./, args.join(' '));
    }
    const runtime: [string[], Record<string, string>, RegExp][] = [
      [['ips', 'list'], { ...env, LINK_PASSWORD: 'nope' }, /401/],
      [['ips', 'list', '--host', `http://127.0.0.1:${await freePort()}`], {}, /connection refused/],
      [['lab', 'status', '--name', `nosuch${process.pid}`], {}, /no lab at/],
      [['lab', 'down', '--name', `nosuch${process.pid}`], {}, /no lab at/],
    ];
    for (const [args, runEnv, pattern] of runtime) {
      const run = await linkctl(args, runEnv);
      assert.equal(run.code, 1, `${args.join(' ')}: ${run.stderr}`);
      assertOneLine(run, pattern, args.join(' '));
    }
  });

  it('ETCD_HOSTS set empty, naming no endpoint, or unparsable, is a configuration error', async () => {
    for (const value of ['', ' ', ',', 'etcd1:99999', 'http://:2379', 'a:b:c']) {
      const run = await linkctl(['agent'], { INTERFACE: ifC, ETCD_HOSTS: value });
      assert.equal(run.code, 2, `ETCD_HOSTS=${JSON.stringify(value)}: ${run.stderr}`);
      assert.equal(run.stderr.trim().split('\n').length, 1, run.stderr);
      assert.match(run.stderr, /^linkctl agent: ETCD_HOSTS: /, JSON.stringify(value));
    }
  });

  it('LOG_FORMAT=pretty writes no colour codes when stderr is not a terminal', async () => {
    const stateDir = mkdtempSync(join(tmpdir(), 'link-ux-pretty-'));
    const child = spawn(LINKCTL, ['agent'], {
      env: {
        PATH,
        INTERFACE: ifC,
        HOSTNAME: 'ux-pretty',
        ETCD_HOSTS: etcd.hosts.join(','),
        PORT: String(await freePort()),
        STATE_DIR: stateDir,
        LOG_FORMAT: 'pretty',
        LEASE_TTL: '2',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    const lines: string[] = [];
    try {
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no "agent started":\n${lines.join('\n')}`)), 15_000);
        createInterface({ input: child.stderr }).on('line', (line) => {
          lines.push(line);
          if (/ info agent started /.test(line)) {
            clearTimeout(timer);
            resolve();
          }
        });
      });
    } finally {
      child.kill('SIGTERM');
      await exited;
      rmSync(stateDir, { recursive: true, force: true });
    }
    assert.ok(lines.length > 0);
    for (const line of lines)
      assert.ok(!line.includes('\u001b['), `a colour code in ${JSON.stringify(line)}`);
  });

  it('ips list loads neither etcd3, koa, koffi, zod nor the lab', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'link-ux-modules-'));
    try {
      // A module hook (its own thread) that appends every URL Node loads to a file.
      writeFileSync(
        join(dir, 'hooks.mjs'),
        `import { appendFileSync } from 'node:fs';
let file;
export function initialize(data) { file = data.file; }
export async function load(url, context, next) { appendFileSync(file, url + '\\n'); return next(url, context); }
`,
      );
      writeFileSync(
        join(dir, 'register.mjs'),
        `import { register } from 'node:module';
register(new URL('./hooks.mjs', import.meta.url), { data: { file: ${JSON.stringify(join(dir, 'loaded'))} } });
`,
      );
      const run = await linkctl(['ips', 'list'], {
        ...env,
        NODE_OPTIONS: `--import ${join(dir, 'register.mjs')}`,
      });
      assert.equal(run.code, 0, run.stderr);
      const loaded = readFileSync(join(dir, 'loaded'), 'utf8').trim().split('\n');
      assert.ok(
        loaded.some((url) => /\/cli\/main\.ts$|\/dist\/linkctl\.mjs$/.test(url)),
        'the hook saw the CLI load',
      );
      // Sources (tsx) or the release build's chunks, named after their entries (scripts/build.ts).
      const heavy = loaded.filter((url) =>
        /\/node_modules\/(etcd3|@grpc|koa|@koa|koffi|zod|winston|xstate|prom-client)\/|\/(lab|adapters\/etcd|adapters\/net\/libc|http\/app)[/.]|\/dist\/(agent|http|lab|schemas|vip-body)-\w+\.mjs$/.test(
          url,
        ),
      );
      assert.deepEqual(heavy, [], 'modules ips list has no use for');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('ips events --follow exits 1 when the agent ends the stream', async () => {
    const other = await startDaemon({
      hostname: 'ux-follow',
      interfaceName: ifD,
      etcdHosts: etcd.hosts,
      port: await freePort(),
    });
    try {
      const added = await callAgent<VipView>(other.socketPath, 'POST', '/ips', { ip: '198.18.0.150/32' });
      assert.equal(added.status, 201);
      const follow = spawn(LINKCTL, ['ips', 'events', added.body.id, '--follow', '--host', other.url], {
        env: { PATH },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      const exited = new Promise<number | null>((resolve) => follow.once('exit', (code) => resolve(code)));
      let stderr = '';
      follow.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error('no journal line')), 10_000);
        createInterface({ input: follow.stdout }).once('line', () => {
          clearTimeout(timer);
          resolve();
        });
      });
      await other.stop();
      assert.equal(await exited, 1, stderr);
      assert.match(stderr, /^linkctl: http:\/\/127\.0\.0\.1:\d+ ended the event stream of vip-/);
      assert.equal(stderr.trimEnd().split('\n').length, 1, stderr);
    } finally {
      await other.stop();
    }
  });

  it('etcd failures reach linkctl (API) and agent --check as one line: endpoint, failure, what to check', async () => {
    const added = await linkctl(['ips', 'add', '198.18.0.151/32', '--json'], env);
    assert.equal(added.code, 0, added.stderr);
    const id = (JSON.parse(added.stdout) as VipView).id;
    const port = await freePort();
    const stateDir = mkdtempSync(join(tmpdir(), 'link-ux-check-'));
    const check = await linkctl(['agent', '--check'], {
      INTERFACE: ifC,
      ETCD_HOSTS: `127.0.0.1:${port}`,
      STATE_DIR: stateDir,
    });
    rmSync(stateDir, { recursive: true, force: true });
    const etcdLine = check.stdout.split('\n').find((l) => /^\S+ etcd: /.test(l)) ?? '';
    assert.match(
      etcdLine,
      new RegExp(`cannot reach 127\\.0\\.0\\.1:${port} \\(ECONNREFUSED\\): check ETCD_HOSTS`),
    );
    assert.doesNotMatch(etcdLine, GRPC_TEXT, etcdLine);

    await etcd.stop();
    try {
      const hosts = await linkctl(['ips', 'hosts', id], env);
      assert.equal(hosts.code, 1, hosts.stderr);
      assertOneLine(
        hosts,
        /^linkctl: 503 etcd: range \S+: cannot reach \S+:\d+ \(ECONNREFUSED\): check ETCD_HOSTS and that etcd runs there$/,
        'ips hosts with etcd down',
      );
      assert.doesNotMatch(hosts.stderr, GRPC_TEXT);
    } finally {
      await etcd.restart();
    }
  });
});

describe('linkctl lab up: --force, --env, status with the credentials', () => {
  const name = `ux${process.pid}`;
  after(async () => {
    try {
      await Lab.load(Lab.dirOf(name)).down();
    } catch {
      // never built
    }
  });

  it('refuses to replace a lab that is up, replaces it with --force, runs agents with --env', async () => {
    const first = await linkctl(['lab', 'up', '--name', name, '--hosts', '1'], {}, 120_000);
    assert.equal(first.code, 0, first.stderr);
    const again = await linkctl(['lab', 'up', '--name', name, '--hosts', '1'], {}, 120_000);
    assert.equal(again.code, 1, again.stderr);
    assertOneLine(again, new RegExp(`lab ${name} is up: .*--force`), 'lab up over a lab');
    assert.ok(Lab.load(Lab.dirOf(name)).agentRunning('h1'), 'the refused up left the lab alone');

    const forced = await linkctl(
      [
        'lab',
        'up',
        '--name',
        name,
        '--hosts',
        '1',
        '--force',
        '--env',
        'USER=ops',
        '--env',
        'PASSWORD=pw=with=equals',
        '--vip',
        '198.18.0.100/32',
      ],
      {},
      120_000,
    );
    assert.equal(forced.code, 0, forced.stderr);
    const lab = Lab.load(Lab.dirOf(name));
    assert.equal((await callAgent(lab.host('h1').socket, 'GET', '/ips')).status, 401, 'auth is on');
    const authed = await callAgent<{ ips: VipView[] }>(lab.host('h1').socket, 'GET', '/ips', undefined, {
      auth: { user: 'ops', password: 'pw=with=equals' },
    });
    assert.equal(authed.status, 200);
    assert.deepEqual(
      authed.body.ips.map((v) => v.ip),
      ['198.18.0.100/32'],
    );

    const status = await linkctl(['lab', 'status', '--name', name]);
    assert.equal(status.code, 0, status.stderr);
    assert.match(status.stdout, /h1 .*198\.18\.0\.100\/32 (BOOTING|ACTIVATED)/);
    assert.doesNotMatch(status.stdout, /API unreachable/);

    const down = await linkctl(['lab', 'down', '--name', name], {}, 60_000);
    assert.equal(down.code, 0, down.stderr);
    assert.equal(down.stdout, `lab ${name}: torn down\n`);
  });
});
