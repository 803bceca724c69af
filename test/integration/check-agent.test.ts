import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, execFileSync } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { REPO_ROOT } from '../../lab/netns.ts';
import {
  freePort,
  makeTlsMaterial,
  startEtcd,
  type EtcdCluster,
  type EtcdTlsMaterial,
} from '../support/etcd.ts';
import { makeExecChecksDir } from '../support/exec-dir.ts';

/**
 * `bin/linkctl agent --check` as an operator runs it, against a real etcd (plain and TLS with a
 * client certificate), a real interface (veth pairs made in this test's own network namespace:
 * the suite runs under scripts/in-netns.sh) and a port really in use.
 */

const LINKCTL = join(REPO_ROOT, 'bin/linkctl');

function linkctlCheck(
  env: Record<string, string>,
  wrapper: readonly string[] = [],
): Promise<{ code: number | null; lines: string[] }> {
  const clean = Object.fromEntries(
    Object.entries(process.env).filter(([k]) => !['USER', 'PASSWORD', 'INTERFACE', 'PORT'].includes(k)),
  );
  const [command, ...args] = [...wrapper, LINKCTL, 'agent', '--check'];
  return new Promise((resolve) => {
    execFile(command, args, { env: { ...clean, ...env }, timeout: 60_000 }, (err, stdout) => {
      const code = err ? (typeof err.code === 'number' ? err.code : null) : 0;
      resolve({ code, lines: stdout.trim().split('\n') });
    });
  });
}

function line(lines: readonly string[], name: string): string {
  const found = lines.filter((l) => l.slice(2).startsWith(`${name}:`));
  assert.equal(found.length, 1, `one ${name} line in:\n${lines.join('\n')}`);
  // `✗ etcd: message` → `✗ message`
  return found[0]!.slice(0, 2) + found[0]!.slice(2 + name.length + 2);
}

describe('linkctl agent --check', { timeout: 180_000 }, () => {
  let etcd: EtcdCluster;
  let tlsEtcd: EtcdCluster;
  let tls: EtcdTlsMaterial;
  let otherTls: EtcdTlsMaterial;
  let busy: Server;
  let busyPort: number;
  let dir: string;

  before(async () => {
    // Only in a namespace of our own: never create links next to the host's.
    const links = execFileSync('ip', ['-o', 'link', 'show'], { encoding: 'utf8' });
    assert.ok(
      links
        .trim()
        .split('\n')
        .every((l) => / lo:|chk/.test(l)),
      'run under scripts/in-netns.sh (this namespace has more than lo)',
    );
    execFileSync('ip', ['link', 'add', 'chk0', 'type', 'veth', 'peer', 'name', 'chk1']);
    execFileSync('ip', ['link', 'set', 'chk0', 'up']);
    execFileSync('ip', ['link', 'set', 'chk1', 'up']);
    execFileSync('ip', ['link', 'add', 'chkdown0', 'type', 'veth', 'peer', 'name', 'chkdown1']);
    dir = mkdtempSync(join(tmpdir(), 'link-check-'));
    [etcd, tls, otherTls] = await Promise.all([startEtcd(), makeTlsMaterial(), makeTlsMaterial()]);
    tlsEtcd = await startEtcd({ tls });
    busyPort = await freePort();
    busy = createServer();
    await new Promise<void>((resolve) => busy.listen(busyPort, '0.0.0.0', resolve));
  });

  after(async () => {
    busy?.close();
    await Promise.all([etcd?.close(), tlsEtcd?.close()]);
    for (const link of ['chk0', 'chkdown0']) {
      try {
        execFileSync('ip', ['link', 'del', link], { stdio: 'ignore' });
      } catch {
        /* already gone */
      }
    }
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const good = () => ({
    INTERFACE: 'chk0',
    HOSTNAME: 'node-1',
    ETCD_HOSTS: etcd.hosts.join(','),
    STATE_DIR: join(dir, 'state'),
    PORT: String(busyPort + 1 === 65536 ? busyPort - 1 : busyPort + 1),
  });

  it('a good environment: one ✓ line per check, exit 0', async () => {
    const { code, lines } = await linkctlCheck(good());
    assert.equal(code, 0, lines.join('\n'));
    for (const name of [
      'configuration',
      'files',
      'EXEC checks',
      'interface',
      'capabilities',
      'etcd',
      'HOSTNAME',
      'state directory',
      'API port',
    ]) {
      assert.match(line(lines, name), /^✓ /);
    }
    assert.match(line(lines, 'etcd'), /etcd 3\.\d+\.\d+ ≥ 3\.3\.0/);
    assert.equal(line(lines, 'EXEC checks'), '✓ refused: EXEC_CHECKS_DIR is not set');
    assert.equal(lines.at(-1), 'all 9 checks passed');
  });

  it('etcd over TLS with a client certificate: ✓', async () => {
    const { code, lines } = await linkctlCheck({
      ...good(),
      ETCD_HOSTS: tlsEtcd.endpoints.join(','),
      ETCD_CACERT: tls.caFile,
      ETCD_TLS_CERT: tls.clientCertFile,
      ETCD_TLS_KEY: tls.clientKeyFile,
    });
    assert.equal(code, 0, lines.join('\n'));
    assert.match(line(lines, 'etcd'), /^✓ .*TLS, client certificate/);
    assert.match(line(lines, 'files'), /^✓ ETCD_TLS_CERT, ETCD_TLS_KEY, ETCD_CACERT readable/);
  });

  it('etcd over TLS with the wrong CA, and an unreadable key: ✗, exit 1', async () => {
    const { code, lines } = await linkctlCheck({
      ...good(),
      ETCD_HOSTS: tlsEtcd.endpoints.join(','),
      ETCD_CACERT: otherTls.caFile,
      ETCD_TLS_CERT: tls.clientCertFile,
      ETCD_TLS_KEY: join(dir, 'no-such-key.pem'),
    });
    assert.equal(code, 1);
    assert.match(line(lines, 'files'), /^✗ ETCD_TLS_KEY=.*no-such-key\.pem is not readable \(ENOENT\)/);
    assert.match(line(lines, 'etcd'), /^✗ ETCD_BAD_CONFIG: .*ETCD_TLS_KEY/);
    const wrongCa = await linkctlCheck({
      ...good(),
      ETCD_HOSTS: tlsEtcd.endpoints.join(','),
      ETCD_CACERT: otherTls.caFile,
      ETCD_TLS_CERT: tls.clientCertFile,
      ETCD_TLS_KEY: tls.clientKeyFile,
    });
    assert.equal(wrongCa.code, 1);
    assert.match(line(wrongCa.lines, 'etcd'), /^✗ ETCD_TLS: .*not signed by the CA in ETCD_CACERT/);
  });

  it('a bad environment: every problem named on its own line, exit 1', async () => {
    const stateFile = join(dir, 'a-file');
    writeFileSync(stateFile, '');
    const { code, lines } = await linkctlCheck({
      ...good(),
      INTERFACE: 'chkdown0',
      ETCD_HOSTS: `127.0.0.1:${await freePort()}`,
      STATE_DIR: join(stateFile, 'state'),
      PORT: String(busyPort),
      FAULT_POLICY: 'maybe',
      ARP_GRATUITOUS_COUNT: 'lots',
    });
    assert.equal(code, 1);
    const config = lines.filter((l) => l.startsWith('✗ configuration:'));
    assert.deepEqual(config, [
      '✗ configuration: FAULT_POLICY: got "maybe", expected one of at-least-one, at-most-one',
      '✗ configuration: ARP_GRATUITOUS_COUNT: got "lots", expected an integer between 1 and 100',
    ]);
    assert.match(line(lines, 'interface'), /^✗ chkdown0 exists but is down/);
    assert.match(line(lines, 'etcd'), /^✗ ETCD_UNAVAILABLE: /);
    assert.equal(line(lines, 'HOSTNAME'), '- not checked: etcd is not reachable');
    assert.match(line(lines, 'state directory'), /^✗ .* is not a writable directory/);
    assert.match(line(lines, 'API port'), new RegExp(`^✗ 127\\.0\\.0\\.1:${busyPort} is in use`));
    assert.match(line(lines, 'capabilities'), /^✓ /);
    assert.match(lines.at(-1)!, /^6 of 10 checks failed$/);
  });

  it('an API opened without PASSWORD: ✗ naming PASSWORD and LISTEN_ADDRESS, the port still checked', async () => {
    const { code, lines } = await linkctlCheck({ ...good(), LISTEN_ADDRESS: '0.0.0.0' });
    assert.equal(code, 1);
    assert.match(
      line(lines, 'configuration'),
      /^✗ PASSWORD: is required when LISTEN_ADDRESS \(0\.0\.0\.0\) is not loopback/,
    );
    assert.match(line(lines, 'API port'), /^✓ /);
  });

  it('a missing interface, and a bad variable skips the checks that need it', async () => {
    const { code, lines } = await linkctlCheck({ ...good(), INTERFACE: 'nosuch0', PORT: '70000' });
    assert.equal(code, 1);
    assert.match(line(lines, 'interface'), /^✗ nosuch0 does not exist in this network namespace/);
    assert.equal(line(lines, 'API port'), '- not checked: PORT is invalid');
  });

  it('EXEC_CHECKS_DIR: ✓ for a root-owned folder; ✗ naming it when missing or writable by others', async () => {
    const checks = makeExecChecksDir();
    try {
      const ok = await linkctlCheck({ ...good(), EXEC_CHECKS_DIR: checks.dir });
      assert.equal(ok.code, 0, ok.lines.join('\n'));
      assert.match(
        line(ok.lines, 'EXEC checks'),
        /^✓ EXEC_CHECKS_DIR=.* is root's and writable by nobody else/,
      );
      const missing = await linkctlCheck({ ...good(), EXEC_CHECKS_DIR: join(checks.base, 'nope') });
      assert.equal(missing.code, 1);
      assert.match(line(missing.lines, 'EXEC checks'), /^✗ EXEC_CHECKS_DIR .*nope cannot be read \(ENOENT\)/);
      chmodSync(checks.dir, 0o777);
      const open = await linkctlCheck({ ...good(), EXEC_CHECKS_DIR: checks.dir });
      assert.equal(open.code, 1);
      assert.match(
        line(open.lines, 'EXEC checks'),
        /^✗ EXEC_CHECKS_DIR is not safe: .* is writable by its group \(mode 0777\)/,
      );
    } finally {
      checks.remove();
    }
  });

  it('without the capabilities: ✗ naming CAP_NET_ADMIN and CAP_NET_RAW', async () => {
    const { code, lines } = await linkctlCheck(good(), [
      'setpriv',
      '--inh-caps=-all',
      '--ambient-caps=-all',
      '--bounding-set=-net_admin,-net_raw',
      '--',
    ]);
    assert.equal(code, 1);
    assert.match(line(lines, 'capabilities'), /^✗ missing CAP_NET_ADMIN and CAP_NET_RAW/);
  });
});
