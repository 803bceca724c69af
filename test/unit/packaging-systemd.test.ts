import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { restartDelayBudgetMs, START_TO_LEASE_MS } from '../../config/lease-timing.ts';
import { addressLeftAfterKillMs } from '../../actors/lifetime.ts';
import { parseConfig } from '../../config/parse.ts';
import { CONFIG_SCHEMA } from '../../config/schema.ts';

/** packaging/link.service: least privilege, a graceful stop, and a valid unit file. */

const root = fileURLToPath(new URL('../..', import.meta.url));
const unitText = readFileSync(join(root, 'packaging/link.service'), 'utf8');

/** `[Section]` → key → values (a key may repeat). */
function parseUnit(text: string): Map<string, Map<string, string[]>> {
  const sections = new Map<string, Map<string, string[]>>();
  let current: Map<string, string[]> | undefined;
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#') || line.startsWith(';')) continue;
    const section = /^\[(.+)\]$/.exec(line);
    if (section) {
      current = new Map();
      sections.set(section[1]!, current);
      continue;
    }
    const eq = line.indexOf('=');
    assert.ok(current && eq > 0, `not a unit line: ${line}`);
    const key = line.slice(0, eq).trim();
    current.set(key, [...(current.get(key) ?? []), line.slice(eq + 1).trim()]);
  }
  return sections;
}

function durationSec(text: string): number {
  const match = /^(\d+)(s|min)?$/.exec(text);
  assert.ok(match, `duration ${text}`);
  return Number(match[1]) * (match[2] === 'min' ? 60 : 1);
}

describe('packaging/link.service', () => {
  const unit = parseUnit(unitText);
  const service = unit.get('Service')!;
  const one = (key: string) => {
    const values = service.get(key);
    assert.equal(values?.length, 1, `exactly one ${key}=`);
    return values[0]!;
  };

  it('runs as an unprivileged user with only CAP_NET_ADMIN and CAP_NET_RAW', () => {
    assert.equal(one('User'), 'link');
    const caps = (key: string) => one(key).split(/\s+/).sort();
    assert.deepEqual(caps('AmbientCapabilities'), ['CAP_NET_ADMIN', 'CAP_NET_RAW']);
    assert.deepEqual(caps('CapabilityBoundingSet'), ['CAP_NET_ADMIN', 'CAP_NET_RAW']);
    assert.equal(one('NoNewPrivileges'), 'yes');
  });

  it('sees the file system read-only except its state directory', () => {
    assert.equal(one('ProtectSystem'), 'strict');
    assert.equal(one('ReadWritePaths'), '/var/lib/link');
    assert.equal(one('StateDirectory'), 'link');
    assert.equal(one('PrivateTmp'), 'yes', 'tsx writes its cache under /tmp');
  });

  it('keeps what the agent needs and nothing it must not have', () => {
    // V8 compiles JavaScript to machine code at run time: node aborts under W^X.
    assert.equal(service.get('MemoryDenyWriteExecute'), undefined, 'MemoryDenyWriteExecute= breaks V8');
    // The VIPs live in the host's network namespace; capabilities in a private user namespace
    // would not reach it.
    assert.equal(service.get('PrivateNetwork'), undefined);
    assert.equal(service.get('PrivateUsers'), undefined);
    assert.deepEqual(one('RestrictAddressFamilies').split(/\s+/).sort(), [
      'AF_INET',
      'AF_INET6',
      'AF_NETLINK',
      'AF_PACKET',
      'AF_UNIX',
    ]);
    assert.deepEqual(service.get('SystemCallFilter'), ['@system-service', '~@resources']);
    assert.equal(one('UMask'), '0077');
  });

  it('restarts on failure and waits long enough for a graceful handover', () => {
    assert.equal(one('Restart'), 'on-failure');
    // The agent hands over and exits within 10 s of SIGTERM (cli/agent-serve.ts STOP_BOUND_MS).
    assert.ok(durationSec(one('TimeoutStopSec')) > 10);
    assert.equal(one('KillSignal'), 'SIGTERM');
  });

  it('restarts a crashed agent soon enough for it to find its lease alive (issue 18 part 6)', () => {
    const match = /^(\d+)(ms|s)$/.exec(one('RestartSec'));
    assert.ok(match, `RestartSec=${one('RestartSec')}`);
    const delayMs = Number(match[1]) * (match[2] === 'ms' ? 1 : 1000);
    const defaults = parseConfig({ INTERFACE: 'eth0' });
    const budgetMs = restartDelayBudgetMs({
      ttlMs: defaults.leaseTtlMs,
      keepaliveIntervalMs: defaults.keepaliveIntervalMs,
    });
    assert.ok(
      delayMs <= budgetMs,
      `RestartSec ${delayMs} ms, budget with the default LEASE_TTL ${budgetMs} ms`,
    );
    // … and its address still bound: the killed agent's kernel lifetime must outlast the delay
    // and the start (issue 18 part 6: with LEASE_TTL 2 s it did not, a client gap of 0.3-0.8 s).
    const addressLeftMs = addressLeftAfterKillMs({
      faultPolicy: defaults.faultPolicy,
      addressLifetimeSec: defaults.addressLifetimeSec,
      leaseTtlMs: defaults.leaseTtlMs,
    });
    assert.ok(
      delayMs + START_TO_LEASE_MS <= addressLeftMs,
      `RestartSec ${delayMs} ms + start ${START_TO_LEASE_MS} ms, the killed agent's address has ${addressLeftMs} ms left`,
    );
  });

  it('is a notify service whose watchdog the agent feeds (issue 17)', () => {
    // cli/agent-serve.ts sends READY=1, STATUS=, STOPPING=1 and WATCHDOG=1 (adapters/systemd).
    assert.equal(one('Type'), 'notify');
    assert.equal(one('NotifyAccess'), 'main', 'only the agent itself speaks for the service');
    const watchdog = durationSec(one('WatchdogSec'));
    // Pinged every half: often enough to survive a busy second, seldom enough to cost nothing.
    assert.ok(watchdog >= 4 && watchdog <= 60, `WatchdogSec=${watchdog}`);
    // The notification socket is a unix datagram socket.
    assert.ok(one('RestrictAddressFamilies').split(/\s+/).includes('AF_UNIX'));
  });

  it('reads its configuration from /etc/link/link.env and runs linkctl agent', () => {
    assert.equal(one('EnvironmentFile'), '/etc/link/link.env');
    assert.match(one('ExecStart'), /^\/\S+\/bin\/linkctl agent$/);
    assert.deepEqual(unit.get('Install')?.get('WantedBy'), ['multi-user.target']);
  });

  // The secrets the agent can read from a file (those with a `<NAME>_FILE` variable).
  const names: string[] = CONFIG_SCHEMA.map((spec) => spec.name);
  const secretsFromFiles = names.filter((name) => names.includes(`${name}_FILE`)).sort();

  it('loads every file-backed secret as an optional systemd credential', () => {
    assert.deepEqual(secretsFromFiles, ['ETCD_PASSWORD', 'NOTIFY_WEBHOOK_SECRET', 'PASSWORD']);
    const credentials = (service.get('LoadCredential') ?? []).map((value) => value.split(':'));
    assert.deepEqual(credentials.map(([id]) => id).sort(), secretsFromFiles);
    for (const [id, source] of credentials) {
      // A credstore name, not an absolute path: systemd 252 fails the start on a missing
      // absolute path but skips a missing credstore entry.
      assert.equal(source, `link.${id!}`, `LoadCredential=${id!}:${source ?? ''}`);
    }
  });

  it('link.env.example holds no secret', () => {
    const text = readFileSync(join(root, 'packaging/link.env.example'), 'utf8');
    for (const name of secretsFromFiles) {
      assert.doesNotMatch(
        text,
        new RegExp(`^${name}=`, 'm'),
        `${name} belongs in /etc/credstore/link.${name}`,
      );
      assert.match(
        text,
        new RegExp(`/etc/credstore/link\\.${name}\\b`),
        `link.env.example names link.${name}`,
      );
    }
  });

  it('link.env.example is a valid configuration', () => {
    const text = readFileSync(join(root, 'packaging/link.env.example'), 'utf8');
    const env: Record<string, string> = {};
    for (const line of text.split('\n')) {
      const match = /^([A-Z_]+)=(.*)$/.exec(line);
      if (match) env[match[1]!] = match[2]!;
    }
    const config = parseConfig(env);
    assert.equal(config.stateDir, '/var/lib/link');
    assert.ok(config.port > 1024, 'an unprivileged port');
    assert.ok(config.etcd.tls?.caFile && config.etcd.tls.certFile && config.etcd.tls.keyFile);
  });

  let analyze = false;
  try {
    execFileSync('systemd-analyze', ['--version'], { stdio: 'ignore' });
    analyze = true;
  } catch {
    analyze = false;
  }
  /** The unit as systemd-analyze can load it here: ExecStart in this checkout, the env file optional. */
  function loadableUnit(dir: string): string {
    const text = unitText
      .replace(/^ExecStart=\S+/m, `ExecStart=${join(root, 'bin/linkctl')}`)
      .replace(/^EnvironmentFile=/m, 'EnvironmentFile=-');
    writeFileSync(join(dir, 'link.service'), text);
    return join(dir, 'link.service');
  }

  function analyzeOutput(args: readonly string[]): Promise<string> {
    return new Promise<string>((resolve, reject) => {
      execFile('systemd-analyze', args, (err, stdout, stderr) => {
        if (err) reject(new Error(`${stdout}${stderr}`));
        else resolve(`${stdout}${stderr}`);
      });
    });
  }

  it(
    'is exposed 2.0 or less by systemd-analyze security (issue 12: 5.2 before)',
    { skip: analyze ? false : 'systemd-analyze is not installed' },
    async () => {
      const dir = mkdtempSync(join(tmpdir(), 'link-unit-'));
      try {
        const output = await analyzeOutput(['security', '--offline=yes', '--no-pager', loadableUnit(dir)]);
        const match = /Overall exposure level for link\.service: (\d+(?:\.\d+)?)/.exec(output);
        assert.ok(match, output);
        const score = Number(match[1]);
        assert.ok(score <= 2.0, `exposure ${score} > 2.0:\n${output}`);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
  );

  it(
    'passes systemd-analyze verify',
    { skip: analyze ? false : 'systemd-analyze is not installed' },
    async () => {
      const dir = mkdtempSync(join(tmpdir(), 'link-unit-'));
      try {
        // verify checks that ExecStart exists: point it at this checkout, and the env file may be absent.
        const output = await analyzeOutput(['verify', loadableUnit(dir)]);
        // Unknown or misspelt keys are only warnings for systemd: fail on them here.
        assert.doesNotMatch(output, /Unknown key|Unknown section|Invalid|Failed/i, output);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
  );
});
