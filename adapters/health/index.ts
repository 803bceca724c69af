export type * from './types.ts';
export { createHealthMonitor, type HealthMonitorDeps } from './monitor.ts';
export { createProbe, type ProbeDeps } from './probe.ts';
export { probeTcp, type TcpProbeOptions } from './tcp.ts';
export { probeHttp, DEFAULT_EXPECTED_STATUS, type HttpProbeOptions } from './http.ts';
export { probeExec, type ExecProbeOptions } from './exec.ts';
export {
  createExecChecksPolicy,
  isInside,
  refusedExecChecks,
  unsafeOwnership,
  type ExecCheckRefusal,
  type ExecChecksPolicy,
  type ExecPolicyOptions,
  type ExecRefusalCode,
  type ExecResolution,
} from './exec-policy.ts';
export {
  describeCheck,
  validateCheck,
  validateChecks,
  type CheckSpecError,
  type CheckSpecErrorCode,
  type CheckValidation,
} from './validate.ts';
