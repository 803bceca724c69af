import { summarizeOutput } from '../process/run-command.ts';
import { spawnFailure, type SandboxRunOptions } from '../process/sandbox.ts';
import { HookCancelledError, HookExitCodeError, HookSpawnError, HookTimeoutError } from './errors.ts';
import type { ExecHookOptions, StateChange } from './types.ts';

/** The variables a notify command receives, added to the sandbox's minimal environment. */
export function hookEnvironment(change: StateChange): Record<string, string> {
  return {
    LINK_VIP: change.ip,
    LINK_ID: change.vipId,
    LINK_FROM: change.from,
    LINK_TO: change.to,
    LINK_EVENT: change.event,
    LINK_HOSTNAME: change.hostname,
    LINK_LEASE_ID: change.leaseId ?? '',
    LINK_REVISION: change.revision === undefined ? '' : String(change.revision),
    LINK_TIME: change.time,
    // Only for a conflict: a state change's environment stays what scripts already know.
    ...(change.conflictMac !== undefined ? { LINK_CONFLICT_MAC: change.conflictMac } : {}),
  };
}

/**
 * Runs the notify command once for a change (no shell), confined by the sandbox (no
 * capabilities, PATH, LANG and the LINK_* variables only). Resolves when it exited 0; otherwise
 * throws a HookError whose message carries the tail of its output.
 */
export async function runExecHook(
  change: StateChange,
  options: ExecHookOptions,
  signal?: AbortSignal,
): Promise<void> {
  const run: SandboxRunOptions = {
    args: options.args ?? [],
    timeoutMs: options.timeoutMs,
    env: hookEnvironment(change),
    killGraceMs: options.killGraceMs ?? 1000,
  };
  if (signal) run.signal = signal;
  if (options.maxOutputBytes !== undefined) run.maxOutputBytes = options.maxOutputBytes;
  const result = await options.sandbox.run(options.command, run);
  const output = summarizeOutput(result);
  const withOutput = (text: string): string => (output ? `${text}: ${output}` : text);

  if (result.spawnError) {
    const errno = result.spawnError.code;
    throw new HookSpawnError(
      `cannot run notify command ${options.command}: ${spawnFailure(result.spawnError)}`,
      errno,
      result.spawnError,
    );
  }
  if (result.timedOut) {
    throw new HookTimeoutError(
      withOutput(`notify command ${options.command} killed after its ${options.timeoutMs} ms timeout`),
      output,
    );
  }
  if (result.aborted) throw new HookCancelledError(withOutput(`notify command ${options.command} cancelled`));
  if (result.exitCode === 0) return;
  const how = result.exitSignal
    ? `was killed by ${result.exitSignal}`
    : `exited with code ${result.exitCode}`;
  throw new HookExitCodeError(
    withOutput(`notify command ${options.command} ${how}`),
    result.exitCode,
    result.exitSignal,
    output,
  );
}
