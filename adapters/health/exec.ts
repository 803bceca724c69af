import type { ChildSandbox } from '../process/sandbox.ts';
import { spawnFailure } from '../process/sandbox.ts';
import { summarizeOutput } from '../process/run-command.ts';
import type { ExecChecksPolicy } from './exec-policy.ts';
import type { ProbeResult } from './types.ts';

export interface ExecProbeOptions {
  timeoutMs: number;
  signal?: AbortSignal;
  /** Where the program may come from (EXEC_CHECKS_DIR); checked before every run. */
  policy: ExecChecksPolicy;
  /** How it is started: no capabilities, a minimal environment, its own process group. */
  sandbox: ChildSandbox;
  /** Bytes of stdout and of stderr kept (the tail); default 4096. */
  maxOutputBytes?: number;
}

/**
 * EXEC check: runs `command args…` without a shell, confined; exit code 0 is healthy. A command
 * the policy refuses (a check stored before EXEC_CHECKS_DIR, a file made writable since) never
 * runs and fails with the reason. At the timeout the process group is killed (SIGKILL). The
 * reason carries the tail of stderr and stdout for logs.
 */
export async function probeExec(
  command: string,
  args: readonly string[],
  options: ExecProbeOptions,
): Promise<ProbeResult> {
  const allowed = options.policy.resolve(command);
  if (!allowed.ok) return { ok: false, reason: `refused (${allowed.code}): ${allowed.message}` };
  const result = await options.sandbox.run(allowed.path, {
    args,
    timeoutMs: options.timeoutMs,
    ...(options.signal ? { signal: options.signal } : {}),
    ...(options.maxOutputBytes !== undefined ? { maxOutputBytes: options.maxOutputBytes } : {}),
  });
  const output = summarizeOutput(result);
  const withOutput = (text: string): string => (output ? `${text}: ${output}` : text);

  if (result.spawnError)
    return { ok: false, reason: `cannot run ${command}: ${spawnFailure(result.spawnError)}` };
  if (result.timedOut)
    return { ok: false, reason: withOutput(`killed after ${options.timeoutMs} ms timeout`) };
  if (result.aborted) return { ok: false, reason: withOutput('aborted') };
  if (result.exitCode === 0) return { ok: true, reason: withOutput('exit code 0') };
  if (result.exitSignal) return { ok: false, reason: withOutput(`killed by ${result.exitSignal}`) };
  return { ok: false, reason: withOutput(`exit code ${result.exitCode}`) };
}
