import assert from 'node:assert/strict';
import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { createHookRunner } from '../../adapters/hooks/runner.ts';
import type { HookRunnerOptions, StateChange } from '../../adapters/hooks/types.ts';
import { createChildSandbox } from '../../adapters/process/sandbox.ts';
import { Recorder } from '../support/hook-recorder.ts';

const sandbox = createChildSandbox();

function change(vipId: string, revision: number, overrides: Partial<StateChange> = {}): StateChange {
  return {
    vipId,
    ip: vipId === 'vip-a' ? '198.18.0.10/32' : '198.18.0.20/32',
    from: 'STANDBY',
    to: 'ACTIVATED',
    event: 'elected',
    hostname: 'host-1',
    leaseId: '7587862921457342721',
    revision,
    time: '2026-01-01T00:00:00.000Z',
    ...overrides,
  };
}

/**
 * A notify script that appends its LINK_* variables to the file given as $1. Revision 1 sleeps
 * first, so a runner that did not keep a VIP's hooks in order would write revision 2 before it.
 * LINK_EVENT=hang never finishes on its own; LINK_EVENT=broken exits 3 with a message.
 */
const SCRIPT = `#!/bin/sh
case "$LINK_EVENT" in
  hang) sleep 30 ;;
  broken) echo "cannot reach the load balancer" >&2; exit 3 ;;
esac
if [ "$LINK_ID" = vip-a ] && [ "$LINK_REVISION" = 1 ]; then sleep 0.3; fi
printf '%s|%s|%s|%s|%s|%s|%s|%s|%s\\n' "$LINK_VIP" "$LINK_ID" "$LINK_FROM" "$LINK_TO" "$LINK_EVENT" \\
  "$LINK_HOSTNAME" "$LINK_LEASE_ID" "$LINK_REVISION" "$LINK_TIME" >> "$1"
`;

async function withScript(run: (script: string, out: string) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'link-hooks-'));
  try {
    const script = join(dir, 'notify.sh');
    const out = join(dir, 'calls.log');
    await writeFile(script, SCRIPT);
    await chmod(script, 0o755);
    await writeFile(out, '');
    await run(script, out);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

function runnerOptions(script: string, out: string, recorder: Recorder, timeoutMs = 5000): HookRunnerOptions {
  return {
    exec: { command: script, args: [out], timeoutMs, killGraceMs: 100, sandbox },
    onSuccess: recorder.onSuccess,
    onFailure: recorder.onFailure,
  };
}

async function lines(file: string): Promise<string[]> {
  return (await readFile(file, 'utf8')).split('\n').filter((line) => line.length > 0);
}

void describe('notify command hook (a real script)', () => {
  void it('receives the LINK_* variables, in order per VIP, VIPs independent', async () => {
    await withScript(async (script, out) => {
      const recorder = new Recorder();
      const runner = createHookRunner(runnerOptions(script, out, recorder));
      try {
        runner.notify(change('vip-a', 1));
        runner.notify(change('vip-a', 2, { from: 'ACTIVATED', to: 'FAILING', event: 'health_check_fail' }));
        runner.notify(change('vip-a', 3, { from: 'FAILING', to: 'STANDBY', event: 'health_check_success' }));
        runner.notify(
          change('vip-b', 1, { leaseId: null, revision: undefined, from: 'BOOTING', event: 'fault' }),
        );
        assert.equal(runner.pending, 4);
        await recorder.until('four hooks ran', () => recorder.successes.length === 4);
        assert.deepEqual(recorder.failures, []);
        assert.deepEqual(await lines(out), [
          // vip-b does not wait behind vip-a's slow first hook.
          '198.18.0.20/32|vip-b|BOOTING|ACTIVATED|fault|host-1|||2026-01-01T00:00:00.000Z',
          '198.18.0.10/32|vip-a|STANDBY|ACTIVATED|elected|host-1|7587862921457342721|1|2026-01-01T00:00:00.000Z',
          '198.18.0.10/32|vip-a|ACTIVATED|FAILING|health_check_fail|host-1|7587862921457342721|2|2026-01-01T00:00:00.000Z',
          '198.18.0.10/32|vip-a|FAILING|STANDBY|health_check_success|host-1|7587862921457342721|3|2026-01-01T00:00:00.000Z',
        ]);
        assert.equal(runner.pending, 0);
      } finally {
        await runner.close(1000);
      }
    });
  });

  void it('kills a hanging hook at its timeout, and the later hooks of the VIP still run', async () => {
    await withScript(async (script, out) => {
      const recorder = new Recorder();
      const runner = createHookRunner(runnerOptions(script, out, recorder, 300));
      try {
        const started = performance.now();
        runner.notify(change('vip-a', 5, { event: 'hang' }));
        runner.notify(change('vip-a', 6));
        assert.ok(performance.now() - started < 100, 'notify returns at once');
        await recorder.until('the hook after the hanging one ran', () => recorder.successes.length === 1);
        assert.equal(recorder.failures.length, 1);
        const [failure] = recorder.failures;
        assert.equal(failure?.hook, 'exec');
        assert.equal(failure?.error.code, 'HOOK_TIMEOUT');
        assert.equal(failure?.change.revision, 5);
        assert.match(failure?.error.message ?? '', /killed after its 300 ms timeout/);
        assert.deepEqual(
          (await lines(out)).map((line) => line.split('|')[7]),
          ['6'],
        );
      } finally {
        await runner.close(1000);
      }
    });
  });

  void it('reports a non-zero exit with the output, and a missing program, through failures$', async () => {
    await withScript(async (script, out) => {
      const recorder = new Recorder();
      const runner = createHookRunner(runnerOptions(script, out, recorder));
      const missing = createHookRunner({
        exec: { command: '/nonexistent/notify', timeoutMs: 1000, sandbox },
      });
      const fromStream = new Recorder();
      const subscription = missing.failures$.subscribe(fromStream.onFailure);
      try {
        runner.notify(change('vip-a', 7, { event: 'broken' }));
        await recorder.until('the broken hook failed', () => recorder.failures.length === 1);
        const [failure] = recorder.failures;
        assert.equal(failure?.error.code, 'HOOK_EXIT_CODE');
        assert.equal(
          failure?.error.message,
          `notify command ${script} exited with code 3: cannot reach the load balancer`,
        );

        missing.notify(change('vip-a', 8));
        await fromStream.until('the missing program reported', () => fromStream.failures.length === 1);
        assert.equal(fromStream.failures[0]?.error.code, 'HOOK_SPAWN');
        assert.match(fromStream.failures[0]?.error.message ?? '', /ENOENT/);
      } finally {
        subscription.unsubscribe();
        await runner.close(1000);
        await missing.close(1000);
      }
    });
  });

  void it('runs with no capability and only PATH, LANG and LINK_*; without setpriv it runs nothing', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'link-hooks-'));
    try {
      const script = join(dir, 'notify.sh');
      const out = join(dir, 'out');
      await writeFile(script, `#!/bin/sh\n{ grep CapEff /proc/self/status; env | sort; } > "$1"\n`);
      await chmod(script, 0o755);
      const recorder = new Recorder();
      const runner = createHookRunner(runnerOptions(script, out, recorder));
      const unconfined = new Recorder();
      const missing = createHookRunner({
        exec: {
          command: script,
          args: [join(dir, 'never')],
          timeoutMs: 1000,
          sandbox: createChildSandbox({ setpriv: join(dir, 'no-setpriv') }),
        },
        onFailure: unconfined.onFailure,
      });
      try {
        runner.notify(change('vip-a', 1));
        await recorder.until('the hook ran', () => recorder.successes.length === 1);
        const [capEff, ...env] = await lines(out);
        assert.equal(capEff, 'CapEff:\t0000000000000000');
        assert.deepEqual(
          env.map((line) => line.split('=')[0]).filter((name) => !name?.startsWith('LINK_')),
          // sh itself adds PWD.
          ['LANG', 'PATH', 'PWD'],
        );
        assert.ok(env.includes('PATH=/usr/sbin:/usr/bin:/sbin:/bin'));

        missing.notify(change('vip-a', 2));
        await unconfined.until('the refusal', () => unconfined.failures.length === 1);
        const error = unconfined.failures[0]?.error;
        assert.equal(error?.code, 'HOOK_SPAWN');
        assert.match(
          error?.message ?? '',
          /SANDBOX_UNAVAILABLE: .*no-setpriv \(util-linux\) is not executable/,
        );
        await assert.rejects(readFile(join(dir, 'never')), { code: 'ENOENT' }, 'the hook did not run');
      } finally {
        await runner.close(1000);
        await missing.close(1000);
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  void it('never throws from notify, even with a throwing observer or after close', async () => {
    await withScript(async (script, out) => {
      let failures = 0;
      const runner = createHookRunner({
        exec: { command: script, args: [out], timeoutMs: 1000, sandbox },
        onFailure: () => {
          failures += 1;
          throw new Error('a broken journal');
        },
      });
      runner.notify(change('vip-a', 9, { event: 'broken' }));
      await runner.close(3000);
      assert.equal(failures, 1);
      assert.doesNotThrow(() => runner.notify(change('vip-a', 10)));
      assert.equal(failures, 2, 'a change after close is reported as cancelled');
    });
  });

  void it('close() is bounded: it cancels a hook that would run for long, and what waits behind it', async () => {
    await withScript(async (script, out) => {
      const recorder = new Recorder();
      const runner = createHookRunner(runnerOptions(script, out, recorder, 10_000));
      let completed = false;
      runner.failures$.subscribe({ complete: () => (completed = true) });
      runner.notify(change('vip-a', 11, { event: 'hang' }));
      runner.notify(change('vip-a', 12));
      const started = performance.now();
      await runner.close(200);
      const elapsed = performance.now() - started;
      assert.ok(elapsed < 2000, `close took ${elapsed} ms`);
      assert.deepEqual(
        recorder.failures.map((failure) => [failure.change.revision, failure.error.code]),
        [
          [11, 'HOOK_CANCELLED'],
          [12, 'HOOK_CANCELLED'],
        ],
      );
      assert.equal(completed, true);
      assert.deepEqual(await lines(out), []);
    });
  });
});
