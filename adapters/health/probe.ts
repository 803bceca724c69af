import type { ChildSandbox } from '../process/sandbox.ts';
import { probeExec } from './exec.ts';
import type { ExecChecksPolicy } from './exec-policy.ts';
import { probeHttp } from './http.ts';
import { probeTcp } from './tcp.ts';
import type { HealthProbe } from './types.ts';

export interface ProbeDeps {
  /** EXEC_CHECKS_DIR's rule (made with no folder, it refuses every EXEC check). */
  execPolicy: ExecChecksPolicy;
  sandbox: ChildSandbox;
}

/** The real probe: dispatches a check to its kind's module. Never rejects. */
export function createProbe(deps: ProbeDeps): HealthProbe {
  return async (check, context) => {
    const { timeoutMs, signal } = context;
    switch (check.type) {
      case 'TCP':
        return probeTcp(check.host, check.port, { timeoutMs, signal });
      case 'HTTP': {
        const options: Parameters<typeof probeHttp>[1] = { timeoutMs, signal };
        if (check.expected_status !== undefined) options.expectedStatus = check.expected_status;
        if (check.body_contains !== undefined) options.bodyContains = check.body_contains;
        return probeHttp(check.url, options);
      }
      case 'EXEC':
        return probeExec(check.command, check.args ?? [], {
          timeoutMs,
          signal,
          policy: deps.execPolicy,
          sandbox: deps.sandbox,
        });
    }
  };
}
