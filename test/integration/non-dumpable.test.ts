import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

/**
 * The agent makes itself non-dumpable (prctl(PR_SET_DUMPABLE, 0)) so that its children cannot
 * read /proc/<agent>/environ. Against the real daemon a child without capabilities is stopped
 * by the kernel's capability rule anyway (its permitted set is not a subset of the agent's), so
 * this test takes that rule away: a process running as root with no capability at all, like
 * its confined child, with a secret in its environment. Its child reads the secret unless the
 * process made itself non-dumpable. The last case runs the parent as the packaged unit runs the
 * agent (another user, the two capabilities ambient): its sandboxed child has none.
 */

const execFileAsync = promisify(execFile);
const root = fileURLToPath(new URL('../..', import.meta.url));
const SECRET = 'environ-Secret-7373';

describe('a non-dumpable agent process', () => {
  let dir: string;
  let script: string;

  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'link-dumpable-'));
    // Readable by the unprivileged user of the last case.
    chmodSync(dir, 0o755);
    script = join(dir, 'parent.mts');
    writeFileSync(
      script,
      `import { createChildSandbox, isDumpable, makeNonDumpable } from ${JSON.stringify(join(root, 'adapters/process/index.ts'))};
if (process.argv[2] === 'non-dumpable') makeNonDumpable();
const result = await createChildSandbox().run('/bin/sh', {
  args: ['-c', 'grep CapEff /proc/self/status; cat /proc/$PPID/environ'],
  timeoutMs: 5000,
});
const parent = (await import('node:fs')).readFileSync('/proc/self/status', 'utf8').match(/^CapEff:\\s*(\\w+)$/m)?.[1];
process.stdout.write(JSON.stringify({ dumpable: isDumpable(), parentCapEff: parent, exitCode: result.exitCode, stdout: result.stdout, stderr: result.stderr }));
`,
    );
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  // uid 0 without any capability: the child's capabilities are then a subset of the parent's.
  const capless = ['--inh-caps=-all', '--ambient-caps=-all', '--bounding-set=-all'];
  // As packaging/link.service runs the agent: another user, CAP_NET_ADMIN and CAP_NET_RAW
  // ambient, no CAP_SETPCAP (setpriv cannot drop the child's bounding set), no_new_privs.
  const packaged = [
    '--reuid=65534',
    '--regid=65534',
    '--clear-groups',
    '--no-new-privs',
    '--inh-caps=-all,+net_admin,+net_raw',
    '--ambient-caps=-all,+net_admin,+net_raw',
    '--bounding-set=-all,+net_admin,+net_raw',
  ];

  const parent = async (mode: 'dumpable' | 'non-dumpable', as: readonly string[] = capless) => {
    const { stdout } = await execFileAsync(
      '/usr/bin/setpriv',
      [...as, '--', process.execPath, '--import', 'tsx', script, mode],
      {
        cwd: root,
        env: { PATH: process.env['PATH'] ?? '/usr/bin:/bin', LINK_TEST_SECRET: SECRET },
        timeout: 30_000,
      },
    );
    return JSON.parse(stdout) as {
      dumpable: boolean;
      parentCapEff: string;
      exitCode: number;
      stdout: string;
      stderr: string;
    };
  };

  it('without it, a child reads the parent environ (the control)', async () => {
    const seen = await parent('dumpable');
    assert.equal(seen.dumpable, true);
    assert.equal(seen.exitCode, 0, seen.stderr);
    assert.ok(seen.stdout.includes(SECRET));
  });

  it('with it, the same child gets EACCES and no secret', async () => {
    const seen = await parent('non-dumpable');
    assert.equal(seen.dumpable, false);
    assert.notEqual(seen.exitCode, 0);
    assert.match(seen.stderr, /Permission denied/);
    assert.ok(!seen.stdout.includes(SECRET));
  });

  it('as the packaged unit runs it (uid 65534, ambient CAP_NET_ADMIN + CAP_NET_RAW): the child has CapEff 0, no secret', async () => {
    const seen = await parent('non-dumpable', packaged);
    assert.equal(seen.parentCapEff, '0000000000003000', 'the parent holds the two capabilities');
    assert.match(seen.stdout, /^CapEff:\t0000000000000000$/m);
    assert.match(seen.stderr, /Permission denied/);
    assert.ok(!seen.stdout.includes(SECRET));
  });
});
