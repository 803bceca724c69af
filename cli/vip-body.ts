import type { HealthCheckSpec } from '../adapters/health/types.ts';
import {
  MAX_HEALTHCHECK_INTERVAL,
  createVipBody,
  parseBodyWith,
  placementFields,
  updateVipBody,
  type PlacementFields,
} from '../http/schemas.ts';
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

/** A VIP's placement as PATCH and POST take it (issue 16). */
export type PlacementBody = PlacementFields;

export interface VipBody extends PlacementBody {
  ip: string;
  checks: HealthCheckSpec[];
  healthcheck_interval?: number;
}

/** `--priority`, `--preempt` / `--no-preempt`, `--preempt-delay` as commander gives them. */
export interface PlacementOptions {
  priority?: string;
  preempt?: boolean;
  preemptDelay?: string;
}

/** Numbers from the command line: digits only (so `1e2` or `0x10` is no priority), else NaN for the schema to refuse. */
function wholeNumber(text: string): number {
  return /^\d+$/.test(text) ? Number(text) : Number.NaN;
}

function placementRaw(opts: PlacementOptions): Record<string, unknown> {
  const raw: Record<string, unknown> = {};
  if (opts.priority !== undefined) raw['priority'] = wholeNumber(opts.priority);
  if (opts.preempt !== undefined) raw['preempt'] = opts.preempt;
  if (opts.preemptDelay !== undefined) raw['preempt_delay'] = wholeNumber(opts.preemptDelay);
  return raw;
}

/** Validates a VIP body with the API's schema. */
export function buildAddBody(
  ip: string,
  checks: unknown[],
  interval: number | undefined,
  placement: PlacementOptions = {},
): VipBody {
  const raw: Record<string, unknown> = { ip, checks, ...placementRaw(placement) };
  if (interval !== undefined) raw['healthcheck_interval'] = interval;
  const result = parseBodyWith(createVipBody, raw);
  if (!result.ok) throw new UsageError(result.error.error);
  const data = result.value;
  const body: VipBody = { ip: data.ip, checks: data.checks ?? [], ...placementFields(data) };
  if (data.healthcheck_interval !== undefined) body.healthcheck_interval = data.healthcheck_interval;
  return body;
}

/** The body of `ips set`: the placement options, validated as PATCH validates them. */
export function placementBody(opts: PlacementOptions): PlacementBody {
  const raw = placementRaw(opts);
  if (Object.keys(raw).length === 0)
    throw new UsageError('nothing to set: give --priority, --preempt/--no-preempt or --preempt-delay');
  const result = parseBodyWith(updateVipBody, raw);
  if (!result.ok) throw new UsageError(result.error.error);
  return placementFields(result.value);
}

/** The body of `add` / `checks set` from the command line: pairs, `--checks-json`, `--interval`. */
export function bodyFromArgs(
  ip: string,
  checkArgs: readonly string[],
  opts: { interval?: string; checksJson?: string } & PlacementOptions,
): VipBody {
  const checks = [...parseCheckArgs(checkArgs), ...(opts.checksJson ? checksFromJson(opts.checksJson) : [])];
  return buildAddBody(
    ip,
    checks,
    opts.interval === undefined ? undefined : parseInterval(opts.interval),
    opts,
  );
}
