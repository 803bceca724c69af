import { isIP } from 'node:net';
import type { HealthCheckSpec } from './types.ts';

/**
 * Validation of health check specifications, shared by the HTTP layer (POST/PATCH bodies), the
 * configuration store (what comes back from etcd) and the monitor. Pure: no IO, no throw.
 * Each error names the offending field as a path (`checks[1].port`) so the API can answer
 * `{"error": message, "field": field}`.
 */

export type CheckSpecErrorCode =
  | 'CHECKS_NOT_ARRAY'
  | 'CHECK_NOT_OBJECT'
  | 'CHECK_TYPE'
  | 'CHECK_UNKNOWN_FIELD'
  | 'CHECK_HOST'
  | 'CHECK_PORT'
  | 'CHECK_URL'
  | 'CHECK_URL_SCHEME'
  | 'CHECK_EXPECTED_STATUS'
  | 'CHECK_BODY_CONTAINS'
  | 'CHECK_COMMAND'
  | 'CHECK_ARGS';

export interface CheckSpecError {
  code: CheckSpecErrorCode;
  /** Path of the field, e.g. `checks[0].port`. */
  field: string;
  message: string;
}

export type CheckValidation<T> = { ok: true; value: T } | { ok: false; errors: CheckSpecError[] };

const FIELDS: Readonly<Record<HealthCheckSpec['type'], readonly string[]>> = {
  TCP: ['type', 'host', 'port'],
  HTTP: ['type', 'url', 'expected_status', 'body_contains'],
  EXEC: ['type', 'command', 'args'],
};

const MAX_HOST_LENGTH = 253;
const MAX_URL_LENGTH = 2048;
const MAX_BODY_CONTAINS_LENGTH = 1024;
const MAX_ARGS = 64;
// RFC 1123 host names: labels of letters, digits and hyphens, not starting or ending with one.
const HOSTNAME =
  /^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*\.?$/i;

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function isStatus(value: unknown): value is number {
  return typeof value === 'number' && Number.isInteger(value) && value >= 100 && value <= 599;
}

function hasNul(value: string): boolean {
  return value.includes('\0');
}

/**
 * Validates one check. `field` is the path of the check itself (`checks[0]`); error fields
 * extend it. The type is matched case-insensitively and normalised to upper case; unknown
 * fields are rejected so a typo (`expected_stauts`) does not silently do nothing.
 */
export function validateCheck(input: unknown, field = 'check'): CheckValidation<HealthCheckSpec> {
  const errors: CheckSpecError[] = [];
  const fail = (
    code: CheckSpecErrorCode,
    name: string | null,
    message: string,
  ): CheckValidation<HealthCheckSpec> => {
    errors.push({ code, field: name === null ? field : `${field}.${name}`, message });
    return { ok: false, errors };
  };
  if (!isRecord(input)) return fail('CHECK_NOT_OBJECT', null, `${field} must be an object`);

  const rawType = input['type'];
  const type = typeof rawType === 'string' ? rawType.toUpperCase() : undefined;
  if (type !== 'TCP' && type !== 'HTTP' && type !== 'EXEC') {
    return fail('CHECK_TYPE', 'type', `${field}.type must be one of TCP, HTTP, EXEC`);
  }
  for (const key of Object.keys(input)) {
    if (!FIELDS[type].includes(key)) {
      errors.push({
        code: 'CHECK_UNKNOWN_FIELD',
        field: `${field}.${key}`,
        message: `${field}.${key} is not a field of a ${type} check (allowed: ${FIELDS[type].join(', ')})`,
      });
    }
  }

  switch (type) {
    case 'TCP': {
      const host = input['host'];
      const port = input['port'];
      if (
        typeof host !== 'string' ||
        host.length === 0 ||
        host.length > MAX_HOST_LENGTH ||
        (isIP(host) === 0 && !HOSTNAME.test(host))
      ) {
        errors.push({
          code: 'CHECK_HOST',
          field: `${field}.host`,
          message: `${field}.host must be an IP address or a host name`,
        });
      }
      if (typeof port !== 'number' || !Number.isInteger(port) || port < 1 || port > 65535) {
        errors.push({
          code: 'CHECK_PORT',
          field: `${field}.port`,
          message: `${field}.port must be an integer from 1 to 65535`,
        });
      }
      if (errors.length > 0) return { ok: false, errors };
      return { ok: true, value: { type, host: host as string, port: port as number } };
    }

    case 'HTTP': {
      const url = input['url'];
      let parsed: URL | undefined;
      if (typeof url !== 'string' || url.length === 0 || url.length > MAX_URL_LENGTH) {
        errors.push({
          code: 'CHECK_URL',
          field: `${field}.url`,
          message: `${field}.url must be an absolute http:// or https:// URL`,
        });
      } else {
        try {
          parsed = new URL(url);
        } catch {
          errors.push({
            code: 'CHECK_URL',
            field: `${field}.url`,
            message: `${field}.url is not a valid URL`,
          });
        }
        if (parsed && parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
          errors.push({
            code: 'CHECK_URL_SCHEME',
            field: `${field}.url`,
            message: `${field}.url must use http or https, not ${parsed.protocol.replace(/:$/, '')}`,
          });
        } else if (parsed && parsed.hostname === '') {
          errors.push({ code: 'CHECK_URL', field: `${field}.url`, message: `${field}.url has no host` });
        }
      }

      const expected = input['expected_status'];
      let expectedStatus: number | [number, number] | undefined;
      if (expected !== undefined) {
        if (isStatus(expected)) {
          expectedStatus = expected;
        } else if (
          Array.isArray(expected) &&
          expected.length === 2 &&
          isStatus(expected[0]) &&
          isStatus(expected[1]) &&
          expected[0] <= expected[1]
        ) {
          expectedStatus = [expected[0], expected[1]];
        } else {
          errors.push({
            code: 'CHECK_EXPECTED_STATUS',
            field: `${field}.expected_status`,
            message: `${field}.expected_status must be a status code (100..599) or a range [low, high] of them`,
          });
        }
      }

      const bodyContains = input['body_contains'];
      if (
        bodyContains !== undefined &&
        (typeof bodyContains !== 'string' ||
          bodyContains.length === 0 ||
          bodyContains.length > MAX_BODY_CONTAINS_LENGTH)
      ) {
        errors.push({
          code: 'CHECK_BODY_CONTAINS',
          field: `${field}.body_contains`,
          message: `${field}.body_contains must be a non-empty string of at most ${MAX_BODY_CONTAINS_LENGTH} characters`,
        });
      }
      if (errors.length > 0) return { ok: false, errors };
      const spec: HealthCheckSpec = { type, url: url as string };
      if (expectedStatus !== undefined) spec.expected_status = expectedStatus;
      if (typeof bodyContains === 'string') spec.body_contains = bodyContains;
      return { ok: true, value: spec };
    }

    case 'EXEC': {
      const command = input['command'];
      const args = input['args'];
      if (typeof command !== 'string' || command.trim().length === 0 || hasNul(command)) {
        errors.push({
          code: 'CHECK_COMMAND',
          field: `${field}.command`,
          message: `${field}.command must be a non-empty string (a program, run without a shell)`,
        });
      }
      if (
        args !== undefined &&
        (!Array.isArray(args) ||
          args.length > MAX_ARGS ||
          !args.every((arg): arg is string => typeof arg === 'string' && !hasNul(arg)))
      ) {
        errors.push({
          code: 'CHECK_ARGS',
          field: `${field}.args`,
          message: `${field}.args must be an array of at most ${MAX_ARGS} strings`,
        });
      }
      if (errors.length > 0) return { ok: false, errors };
      const spec: HealthCheckSpec = { type, command: command as string };
      if (args !== undefined) spec.args = [...(args as string[])];
      return { ok: true, value: spec };
    }
  }
}

/** Validates a VIP's list of checks; an absent list (`undefined`) is an empty one. */
export function validateChecks(input: unknown, field = 'checks'): CheckValidation<HealthCheckSpec[]> {
  if (input === undefined) return { ok: true, value: [] };
  if (!Array.isArray(input)) {
    return {
      ok: false,
      errors: [{ code: 'CHECKS_NOT_ARRAY', field, message: `${field} must be an array of checks` }],
    };
  }
  const value: HealthCheckSpec[] = [];
  const errors: CheckSpecError[] = [];
  input.forEach((item: unknown, index) => {
    const result = validateCheck(item, `${field}[${index}]`);
    if (result.ok) value.push(result.value);
    else errors.push(...result.errors);
  });
  return errors.length > 0 ? { ok: false, errors } : { ok: true, value };
}

/** A short label for logs: `TCP 127.0.0.1:80`, `HTTP http://…`, `EXEC /usr/bin/check`. */
export function describeCheck(check: HealthCheckSpec): string {
  switch (check.type) {
    case 'TCP':
      return `TCP ${isIP(check.host) === 6 ? `[${check.host}]` : check.host}:${check.port}`;
    case 'HTTP':
      return `HTTP ${check.url}`;
    case 'EXEC':
      return `EXEC ${check.command}`;
  }
}
