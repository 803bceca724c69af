export { runCommand, summarizeOutput, type CommandResult, type RunCommandOptions } from './run-command.ts';
export {
  CHILD_PATH,
  SETPRIV,
  SETPRIV_FLAGS,
  childEnvironment,
  createChildSandbox,
  parseCapabilities,
  resolveProgram,
  spawnFailure,
  type CapabilitySets,
  type ChildSandbox,
  type SandboxOptions,
  type SandboxRunOptions,
} from './sandbox.ts';
export { isDumpable, makeNonDumpable } from './prctl.ts';
export { currentInstance, processRunning } from './instance.ts';
export { PrctlError, ProcessError, SandboxUnavailableError, type ProcessErrorCode } from './errors.ts';
