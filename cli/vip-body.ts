import type { HealthCheckSpec } from '../adapters/health/types.ts';
import { MAX_HEALTHCHECK_INTERVAL, createVipBody, describeZodError } from '../http/schemas.ts';
import { UsageError } from './usage.ts';

/**
 * The bodies of `ips add` and `ips checks set`, validated locally with the API's own schema, so
 * a typo is a usage error (exit 2) before any request. Loaded only by those two commands: the
 * schema pulls in zod, which `ips list` has no use for.
 */

export function parseInterval(value: string): number {
  if (!/^\d+$/.test(value) || Number(value) > MAX_HEALTHCHECK_INTERVAL) {
    throw new UsageError(`--interval ${value}: a whole number of seconds, 0-${MAX_HEALTHCHECK_INTERVAL}`);
  }
  return Number(value);
}

/** `host:port` or `[v6]:port`. */
function splitHostPort(text: string): { host: string; port: number } {
  const match = /^(?:\[([^\]]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(text);
  if (!match) throw new UsageError(`TCP check ${text}: expected HOST:PORT or [IPv6]:PORT`);
  return { host: match[1] ?? match[2] ?? '', port: Number(match[3]) };
}

/**
 * LinK v2's check arguments: pairs `TYPE SPEC`: `TCP HOST:PORT`, `HTTP URL`, `EXEC "CMD ARGS…"`
 * (split on spaces). The result is validated later, with the API's own schema.
 */
export function parseCheckArgs(args: readonly string[]): unknown[] {
  if (args.length % 2 !== 0) {
    throw new UsageError(`checks come in pairs TYPE SPEC (e.g. TCP 198.18.0.2:80); got ${args.join(' ')}`);
  }
  const checks: unknown[] = [];
  for (let i = 0; i < args.length; i += 2) {
    const type = (args[i] ?? '').toUpperCase();
    const spec = args[i + 1] ?? '';
    switch (type) {
      case 'TCP':
        checks.push({ type, ...splitHostPort(spec) });
        break;
      case 'HTTP':
        checks.push({ type, url: spec });
        break;
      case 'EXEC': {
        const [command = '', ...rest] = spec.trim().split(/\s+/);
        checks.push(rest.length > 0 ? { type, command, args: rest } : { type, command });
        break;
      }
      default:
        throw new UsageError(`unknown check type ${args[i] ?? ''}: use TCP, HTTP or EXEC`);
    }
  }
  return checks;
}

export function checksFromJson(text: string): unknown[] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text) as unknown;
  } catch {
    throw new UsageError('--checks-json is not valid JSON');
  }
  if (!Array.isArray(parsed)) throw new UsageError('--checks-json must be a JSON array of checks');
  return parsed;
}

export interface VipBody {
  ip: string;
  checks: HealthCheckSpec[];
  healthcheck_interval?: number;
}

/** Validates a VIP body with the API's schema. */
export function buildAddBody(ip: string, checks: unknown[], interval: number | undefined): VipBody {
  const raw: Record<string, unknown> = { ip, checks };
  if (interval !== undefined) raw['healthcheck_interval'] = interval;
  const result = createVipBody.safeParse(raw);
  if (!result.success) throw new UsageError(describeZodError(result.error).error);
  const body: VipBody = { ip: result.data.ip, checks: result.data.checks ?? [] };
  if (result.data.healthcheck_interval !== undefined)
    body.healthcheck_interval = result.data.healthcheck_interval;
  return body;
}

/** The body of `add` / `checks set` from the command line: pairs, `--checks-json`, `--interval`. */
export function bodyFromArgs(
  ip: string,
  checkArgs: readonly string[],
  opts: { interval?: string; checksJson?: string },
): VipBody {
  const checks = [...parseCheckArgs(checkArgs), ...(opts.checksJson ? checksFromJson(opts.checksJson) : [])];
  return buildAddBody(ip, checks, opts.interval === undefined ? undefined : parseInterval(opts.interval));
}
