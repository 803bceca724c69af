import { runCommand, summarizeOutput } from './run-command.ts';
import type { ProbeResult } from './types.ts';

export interface ExecProbeOptions {
  timeoutMs: number;
  signal?: AbortSignal;
  env?: NodeJS.ProcessEnv;
  /** Bytes of stdout and of stderr kept (the tail); default 4096. */
  maxOutputBytes?: number;
}

/**
 * EXEC check: runs `command args…` without a shell; exit code 0 is healthy. At the timeout the
 * process group is killed (SIGKILL). The reason carries the tail of stderr and stdout for logs.
 */
export async function probeExec(
  command: string,
  args: readonly string[],
  options: ExecProbeOptions,
): Promise<ProbeResult> {
  const run: Parameters<typeof runCommand>[1] = { args, timeoutMs: options.timeoutMs };
  if (options.signal) run.signal = options.signal;
  if (options.env) run.env = options.env;
  if (options.maxOutputBytes !== undefined) run.maxOutputBytes = options.maxOutputBytes;
  const result = await runCommand(command, run);
  const output = summarizeOutput(result);
  const withOutput = (text: string): string => (output ? `${text}: ${output}` : text);

  if (result.spawnError) {
    return {
      ok: false,
      reason: `cannot run ${command}: ${result.spawnError.code ?? result.spawnError.message}`,
    };
  }
  if (result.timedOut)
    return { ok: false, reason: withOutput(`killed after ${options.timeoutMs} ms timeout`) };
  if (result.aborted) return { ok: false, reason: withOutput('aborted') };
  if (result.exitCode === 0) return { ok: true, reason: withOutput('exit code 0') };
  if (result.exitSignal) return { ok: false, reason: withOutput(`killed by ${result.exitSignal}`) };
  return { ok: false, reason: withOutput(`exit code ${result.exitCode}`) };
}
