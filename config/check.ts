import { ConfigError, parseConfig, type AgentConfig } from './parse.ts';

/**
 * The pure half of `linkctl agent --check`: reading every variable (all the bad ones, not only
 * the first), the capability bits of /proc/self/status, version comparison, and the report's
 * formatting. The checks that look at the host (interface, etcd, state directory, port) live in
 * cli/check.ts and return `CheckResult`s formatted here.
 */

export type CheckStatus = 'ok' | 'fail' | 'skip';

export interface CheckResult {
  /** Short name of what was checked: `configuration`, `interface`, `etcd`… */
  name: string;
  status: CheckStatus;
  /** One line: what was found, or what is wrong and what to do. */
  message: string;
}

const MARK: Record<CheckStatus, string> = { ok: '✓', fail: '✗', skip: '-' };

/** `✓ etcd: reachable …`; multi-line messages are folded to one line. */
export function formatCheckLine(result: CheckResult): string {
  return `${MARK[result.status]} ${result.name}: ${result.message.replace(/\s*\n\s*/g, ' ')}`;
}

export function formatCheckReport(results: readonly CheckResult[]): string {
  const failed = results.filter((r) => r.status === 'fail').length;
  const summary =
    failed === 0 ? `all ${results.length} checks passed` : `${failed} of ${results.length} checks failed`;
  return [...results.map(formatCheckLine), summary].join('\n') + '\n';
}

/** 0 when nothing failed, 1 otherwise. */
export function checkExitCode(results: readonly CheckResult[]): 0 | 1 {
  return results.some((r) => r.status === 'fail') ? 1 : 0;
}

// --- configuration -----------------------------------------------------------------------------

export interface EnvValidation {
  /** The configuration when every variable is valid, else null. */
  config: AgentConfig | null;
  /**
   * The configuration with the bad variables dropped (their defaults used), for the checks that
   * do not depend on them; null when even that cannot be built.
   */
  fallback: AgentConfig | null;
  /** One error per bad variable, in the parser's order. */
  errors: ConfigError[];
}

/** When a variable stays bad after it is dropped, its partner is what made it bad. */
const PARTNER: Readonly<Record<string, string>> = {
  USER: 'PASSWORD',
  TLS_CERT: 'TLS_KEY',
  TLS_KEY: 'TLS_CERT',
  ETCD_USER: 'ETCD_PASSWORD',
  ETCD_PASSWORD: 'ETCD_USER',
  KEEPALIVE_INTERVAL: 'LEASE_TTL',
  PASSWORD: 'LISTEN_ADDRESS',
};

/** Placeholders for required variables, so the other variables can still be read. */
const STUB: Readonly<Record<string, string>> = { INTERFACE: 'placeholder0' };

/**
 * Parses the environment as the agent does, but reports every bad variable: each one found is
 * dropped (its default then applies) and parsing starts again.
 */
export function validateEnvironment(env: NodeJS.ProcessEnv): EnvValidation {
  const work: NodeJS.ProcessEnv = { ...env };
  const errors: ConfigError[] = [];
  const attempts = new Map<string, number>();
  for (let round = 0; round < 100; round++) {
    try {
      const config = parseConfig(work);
      return { config: errors.length === 0 ? config : null, fallback: config, errors };
    } catch (err) {
      if (!(err instanceof ConfigError)) throw err;
      const name = err.variable;
      const attempt = (attempts.get(name) ?? 0) + 1;
      attempts.set(name, attempt);
      if (attempt === 1) {
        errors.push(err);
        delete work[name];
      } else if (attempt === 2 && PARTNER[name] !== undefined) {
        delete work[PARTNER[name]];
      } else if (attempt <= 3 && STUB[name] !== undefined) {
        work[name] = STUB[name];
      } else {
        break;
      }
    }
  }
  return { config: null, fallback: null, errors };
}

// --- capabilities ------------------------------------------------------------------------------

/** Bit numbers from linux/capability.h. */
export const CAPABILITY_BITS = { CAP_NET_ADMIN: 12, CAP_NET_RAW: 13 } as const;
export type NeededCapability = keyof typeof CAPABILITY_BITS;
export const NEEDED_CAPABILITIES = Object.keys(CAPABILITY_BITS) as NeededCapability[];

/** The effective capability set from the text of /proc/<pid>/status, or null if absent. */
export function parseCapEff(statusText: string): bigint | null {
  const match = /^CapEff:\s*([0-9a-fA-F]+)\s*$/m.exec(statusText);
  return match ? BigInt(`0x${match[1]}`) : null;
}

export function missingCapabilities(capEff: bigint): NeededCapability[] {
  return NEEDED_CAPABILITIES.filter((cap) => (capEff & (1n << BigInt(CAPABILITY_BITS[cap]))) === 0n);
}

// --- versions ----------------------------------------------------------------------------------

/** LinK compares lease values in transactions (etcd ≥ 3.3), as LinK v2 did. */
export const MIN_ETCD_VERSION = '3.3.0';

/** `3.4.23` → [3, 4, 23]; null when not a dotted version. */
export function parseVersion(text: string): number[] | null {
  const match = /^v?(\d+)\.(\d+)(?:\.(\d+))?/.exec(text.trim());
  return match ? [Number(match[1]), Number(match[2]), Number(match[3] ?? 0)] : null;
}

/** Whether `version` ≥ `minimum`; false when `version` is not a version. */
export function versionAtLeast(version: string, minimum: string): boolean {
  const v = parseVersion(version);
  const m = parseVersion(minimum);
  if (!v || !m) return false;
  for (let i = 0; i < 3; i++) {
    if (v[i]! !== m[i]!) return v[i]! > m[i]!;
  }
  return true;
}
