import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
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
 * process made itself non-dumpable.
 */

const execFileAsync = promisify(execFile);
const root = fileURLToPath(new URL('../..', import.meta.url));
const SECRET = 'environ-Secret-7373';

describe('a non-dumpable agent process', () => {
  let dir: string;
  let script: string;

  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'link-dumpable-'));
    script = join(dir, 'parent.mts');
    writeFileSync(
      script,
      `import { createChildSandbox, isDumpable, makeNonDumpable } from ${JSON.stringify(join(root, 'adapters/process/index.ts'))};
if (process.argv[2] === 'non-dumpable') makeNonDumpable();
const result = await createChildSandbox().run('/bin/sh', {
  args: ['-c', 'cat /proc/$PPID/environ'],
  timeoutMs: 5000,
});
process.stdout.write(JSON.stringify({ dumpable: isDumpable(), exitCode: result.exitCode, stdout: result.stdout, stderr: result.stderr }));
`,
    );
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  const parent = async (mode: 'dumpable' | 'non-dumpable') => {
    // uid 0 without any capability: the child's capabilities are then a subset of the parent's.
    const { stdout } = await execFileAsync(
      '/usr/bin/setpriv',
      [
        '--inh-caps=-all',
        '--ambient-caps=-all',
        '--bounding-set=-all',
        '--',
        process.execPath,
        '--import',
        'tsx',
        script,
        mode,
      ],
      {
        cwd: root,
        env: { PATH: process.env['PATH'] ?? '/usr/bin:/bin', LINK_TEST_SECRET: SECRET },
        timeout: 30_000,
      },
    );
    return JSON.parse(stdout) as { dumpable: boolean; exitCode: number; stdout: string; stderr: string };
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
});
