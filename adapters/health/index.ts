export type * from './types.ts';
export { createHealthMonitor, monitorHealth, type HealthMonitorDeps } from './monitor.ts';
export { probeCheck } from './probe.ts';
export { probeTcp, type TcpProbeOptions } from './tcp.ts';
export { probeHttp, DEFAULT_EXPECTED_STATUS, type HttpProbeOptions } from './http.ts';
export { probeExec, type ExecProbeOptions } from './exec.ts';
export { runCommand, summarizeOutput, type CommandResult, type RunCommandOptions } from './run-command.ts';
export {
  assertChecks,
  describeCheck,
  validateCheck,
  validateChecks,
  type CheckSpecError,
  type CheckSpecErrorCode,
  type CheckValidation,
} from './validate.ts';
export { InvalidHealthCheckError } from './errors.ts';
