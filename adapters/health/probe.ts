import { probeExec } from './exec.ts';
import { probeHttp } from './http.ts';
import { probeTcp } from './tcp.ts';
import type { HealthCheckSpec, ProbeContext, ProbeResult } from './types.ts';

/** The real probe: dispatches a check to its kind's module. Never rejects. */
export async function probeCheck(check: HealthCheckSpec, context: ProbeContext): Promise<ProbeResult> {
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
      return probeExec(check.command, check.args ?? [], { timeoutMs, signal });
  }
}
