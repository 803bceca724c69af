import { z } from 'zod';
import type { HealthCheckSpec } from '../adapters/health/types.ts';
import { validateChecks } from '../adapters/health/validate.ts';
import { ipRefusalMessage } from '../adapters/net/vip-rule.ts';
import { MAX_PREEMPT_DELAY_S, MAX_PRIORITY, MIN_PRIORITY } from '../adapters/etcd/member.ts';
import { IP_STATES } from '../machines/ip.ts';
import { parseCidr } from './cidr.ts';

/**
 * One zod schema per request body; the handlers' types are derived from them. Unknown fields are
 * rejected, except at the top level of a body sent as LinK v2's clients send it (no JSON
 * Content-Type: `parseRequestBody`). Health checks are validated by the health adapter's own pure validator
 * (`adapters/health/validate.ts`), so the API, the config store and the monitor agree on what a
 * valid check is; zod wraps it to report the offending field.
 */

export const MAX_CHECKS = 32;
/** Seconds (LinK v2's unit). 0, as LinK v2 clients send by default, means the agent's default. */
export const MAX_HEALTHCHECK_INTERVAL = 3600;

/** A VIP id: `vip-` and a UUID. Upper-case hex is accepted and lower-cased. */
export const VIP_ID = /^vip-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

export function normaliseVipId(id: string): string | null {
  const lower = id.toLowerCase();
  return VIP_ID.test(lower) ? lower : null;
}

const cidr = z.string({ error: 'ip must be a string such as "198.18.0.10/32"' }).transform((value, ctx) => {
  const parsed = parseCidr(value);
  if (!parsed.ok) {
    ctx.addIssue({ code: 'custom', message: ipRefusalMessage(value, parsed.reason) });
    return z.NEVER;
  }
  return parsed.value.cidr;
});

/** `null` (what a Go client sends for a nil slice) is an empty list. */
function checksOf(name: string) {
  return z.unknown().transform((value, ctx): HealthCheckSpec[] => {
    if (value === null || value === undefined) return [];
    if (Array.isArray(value) && value.length > MAX_CHECKS) {
      ctx.addIssue({ code: 'custom', message: `${name}: at most ${MAX_CHECKS} checks per VIP` });
      return z.NEVER;
    }
    const result = validateChecks(value, name);
    if (result.ok) return result.value;
    for (const error of result.errors) {
      // The validator names fields `checks[1].port`; zod wants the path below this field.
      const rest = error.field.slice(name.length);
      const path = [...rest.matchAll(/\[(\d+)\]|\.([^.[\]]+)/g)].map((m) =>
        m[1] !== undefined ? Number(m[1]) : (m[2] ?? ''),
      );
      ctx.addIssue({ code: 'custom', message: error.message, path });
    }
    return z.NEVER;
  });
}

const interval = z
  .number({ error: `healthcheck_interval must be a number of seconds (0-${MAX_HEALTHCHECK_INTERVAL})` })
  .int({ error: 'healthcheck_interval must be a whole number of seconds' })
  .min(0, { error: 'healthcheck_interval must be 0 (agent default) or more' })
  .max(MAX_HEALTHCHECK_INTERVAL, {
    error: `healthcheck_interval must be at most ${MAX_HEALTHCHECK_INTERVAL}`,
  });

/** Issue 16's placement of a VIP on this host; absent: the VIP's current value (or the default). */
const placement = {
  priority: z
    .number({ error: `priority must be a whole number ${MIN_PRIORITY}-${MAX_PRIORITY}` })
    .int({ error: `priority must be a whole number ${MIN_PRIORITY}-${MAX_PRIORITY}` })
    .min(MIN_PRIORITY, { error: `priority must be at least ${MIN_PRIORITY}` })
    .max(MAX_PRIORITY, { error: `priority must be at most ${MAX_PRIORITY}` })
    .optional(),
  preempt: z.boolean({ error: 'preempt must be true or false' }).optional(),
  preempt_delay: z
    .number({ error: `preempt_delay must be a number of seconds (0-${MAX_PREEMPT_DELAY_S})` })
    .int({ error: 'preempt_delay must be a whole number of seconds' })
    .min(0, { error: 'preempt_delay must be 0 or more' })
    .max(MAX_PREEMPT_DELAY_S, { error: `preempt_delay must be at most ${MAX_PREEMPT_DELAY_S}` })
    .optional(),
};

/** The placement fields of a body, as given. */
export interface PlacementFields {
  priority?: number;
  preempt?: boolean;
  preempt_delay?: number;
}

/** Only the placement fields a body gives (absent ones stay absent: the VIP keeps its value). */
export function placementFields(body: PlacementFields): PlacementFields {
  const fields: PlacementFields = {};
  if (body.priority !== undefined) fields.priority = body.priority;
  if (body.preempt !== undefined) fields.preempt = body.preempt;
  if (body.preempt_delay !== undefined) fields.preempt_delay = body.preempt_delay;
  return fields;
}

/**
 * The fields of a `Vip` that GET returns but a client cannot set: accepted in POST, PUT and PATCH
 * (LinK v2's client sends `"id":""`; a script posts back what GET returned) and ignored, once
 * their type is right. In PUT/PATCH `id` and `ip` must still name the VIP of the path
 * (http/app.ts), so a body meant for another VIP is refused rather than applied here.
 */
const readOnly = {
  id: z.string({ error: 'id must be a string (it is read-only: the agent assigns it)' }).optional(),
  status: z
    .enum(IP_STATES, { error: `status must be one of ${IP_STATES.join(', ')} (it is read-only)` })
    .optional(),
  owner: z.boolean({ error: 'owner must be true or false (it is read-only)' }).optional(),
};

/** `POST /ips`. */
export const createVipBody = z.strictObject({
  ip: cidr,
  checks: checksOf('checks').optional(),
  healthcheck_interval: interval.optional(),
  ...placement,
  ...readOnly,
});
export type CreateVipBody = z.output<typeof createVipBody>;

/**
 * `PATCH|PUT /ips/:id`: replaces the checks and/or the placement. `checks` (this API's name) or
 * `healthchecks` (LinK v2 client's name), not both; every other field optional.
 */
export const updateVipBody = z
  .strictObject({
    checks: checksOf('checks').optional(),
    healthchecks: checksOf('healthchecks').optional(),
    healthcheck_interval: interval.optional(),
    ...placement,
    /** Read-only: must be the path's VIP address when given (http/app.ts). */
    ip: cidr.optional(),
    ...readOnly,
  })
  .superRefine((body, ctx) => {
    // `checks` and `healthchecks` are transformed; presence is what matters here.
    if (body.checks !== undefined && body.healthchecks !== undefined) {
      ctx.addIssue({
        code: 'custom',
        message: 'give checks or healthchecks, not both',
        path: ['healthchecks'],
      });
    }
  });
export type UpdateVipBody = z.output<typeof updateVipBody>;

export interface BodyError {
  error: string;
  field?: string;
}

export interface RequestBodyParse<T> {
  parsed: BodyParse<T>;
  /** Top-level fields dropped from a v2-style body, in the body's order. */
  ignored: string[];
}

/** The top-level fields a body schema knows (an object schema, possibly refined). */
function knownFields(schema: z.ZodType): ReadonlySet<string> {
  const shape = (schema as unknown as { shape?: Record<string, unknown> }).shape;
  return new Set(shape ? Object.keys(shape) : []);
}

/**
 * The one rule for a request body, which the API and its tests share. `json` (a JSON
 * Content-Type): the schema as it is, unknown fields are 400 naming the field. `v2` (no
 * Content-Type, as LinK v2's Go client sends, or curl -d's form type): unknown top-level fields
 * are dropped, as v2's Go decoder ignored them, and reported in `ignored`; everything else (types,
 * values, unknown fields inside a check) is checked as strictly.
 */
export function parseRequestBody<S extends z.ZodType>(
  schema: S,
  raw: unknown,
  style: 'json' | 'v2',
): RequestBodyParse<z.output<S>> {
  if (style === 'json' || typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    return { parsed: parseBodyWith(schema, raw), ignored: [] };
  }
  const known = knownFields(schema);
  const kept: Record<string, unknown> = {};
  const ignored: string[] = [];
  for (const [key, value] of Object.entries(raw)) {
    if (known.has(key)) kept[key] = value;
    else ignored.push(key);
  }
  return { parsed: parseBodyWith(schema, kept), ignored };
}

/** `checks[0].port` from a zod path. */
export function fieldName(path: readonly PropertyKey[]): string {
  let out = '';
  for (const part of path) {
    if (typeof part === 'number') out += `[${part}]`;
    else out += out === '' ? String(part) : `.${String(part)}`;
  }
  return out;
}

export type BodyParse<T> = { ok: true; value: T } | { ok: false; error: BodyError };

/** Parses a body with its schema; the error names the first offending field. */
export function parseBodyWith<S extends z.ZodType>(schema: S, raw: unknown): BodyParse<z.output<S>> {
  // reportInput: lets describeZodError tell a missing field from a wrong one.
  const result = schema.safeParse(raw, { reportInput: true });
  return result.success
    ? { ok: true, value: result.data }
    : { ok: false, error: describeZodError(result.error) };
}

/** The first issue of a failed parse (parsed with `reportInput: true`), as the API's error body. */
export function describeZodError(error: z.ZodError): BodyError {
  const issue = error.issues[0];
  if (!issue) return { error: 'invalid body' };
  if (issue.code === 'unrecognized_keys') {
    const key = issue.keys[0] ?? '';
    const field = fieldName([...issue.path, key]);
    return { error: `unknown field ${field}`, field };
  }
  const field = fieldName(issue.path);
  if (issue.path.length === 0 && issue.code === 'invalid_type')
    return { error: 'body must be a JSON object' };
  if (issue.code === 'invalid_type' && issue.input === undefined) {
    return { error: `${field} is required`, field };
  }
  return field === '' ? { error: issue.message } : { error: issue.message, field };
}
