import type { Context, Next } from 'koa';
import { AgentError, DuplicateVipError, InvalidVipError, NotOwnerError } from '../actors/errors.ts';
import type { AgentErrorCode } from '../actors/errors.ts';
import type { ApiLogger } from './types.ts';

/**
 * The one place where errors become HTTP answers. Typed agent errors are mapped by `code`
 * (never by message); `HttpError`s carry their own status; anything else is a 500 with a fixed
 * body (the detail goes to the log, never to the client).
 */

export type ErrorBody = Record<string, string | number | boolean | null>;

/** An error the HTTP layer itself raises (bad input, auth, routing). */
export class HttpError extends Error {
  override readonly name = 'HttpError';
  constructor(
    readonly status: number,
    readonly body: ErrorBody,
    readonly headers: Record<string, string> = {},
  ) {
    super(typeof body['error'] === 'string' ? body['error'] : `HTTP ${status}`);
  }
}

/** LinK v2's 404 body, kept byte for byte. */
export const NOT_FOUND_BODY: ErrorBody = { resource: 'IP', error: 'not found' };

export function vipNotFound(): HttpError {
  return new HttpError(404, NOT_FOUND_BODY);
}

export function badRequest(error: string, field?: string): HttpError {
  return new HttpError(400, field === undefined ? { error } : { error, field });
}

/**
 * Status per agent error code. NO_OTHER_CANDIDATE is a 409 (the request is well formed; the
 * cluster's state forbids it), HANDOVER_TIMEOUT a 504 (valid request, outcome not reached in
 * the bound: retry or look at GET /ips/:id/hosts).
 */
export const AGENT_ERROR_STATUS: Readonly<Record<AgentErrorCode, number>> = {
  VIP_NOT_FOUND: 404,
  VIP_DUPLICATE: 409,
  VIP_INVALID: 400,
  NOT_OWNER: 409,
  NO_OTHER_CANDIDATE: 409,
  HANDOVER_TIMEOUT: 504,
  ETCD_UNAVAILABLE: 503,
  AGENT_STOPPING: 503,
};

/**
 * LinK v2 answered these refusals of `POST /ips/:id/failover` with 400 `{"msg": …}` (its only
 * `msg` bodies, web/ip_controller.go): the same words go beside LinK's `error` so scripts reading
 * `msg` keep working. v2's link-client prints `error` when a body has both.
 */
export const V2_MSG: Readonly<Partial<Record<AgentErrorCode, string>>> = {
  NOT_OWNER: 'this node is not master of this IP',
  NO_OTHER_CANDIDATE: 'no other nodes are listening for this IP',
};

export function agentErrorResponse(error: AgentError): {
  status: number;
  body: ErrorBody;
  headers: Record<string, string>;
} {
  const status = AGENT_ERROR_STATUS[error.code] ?? 500;
  if (error.code === 'VIP_NOT_FOUND') return { status, body: NOT_FOUND_BODY, headers: {} };
  const body: ErrorBody = { error: error.message, code: error.code };
  if (error instanceof InvalidVipError) body['field'] = error.field;
  if (error instanceof DuplicateVipError) body['existing_id'] = error.existingId;
  if (error instanceof NotOwnerError) body['owner'] = error.owner;
  const msg = V2_MSG[error.code];
  if (msg !== undefined) body['msg'] = msg;
  const headers: Record<string, string> = status === 503 ? { 'Retry-After': '1' } : {};
  return { status, body, headers };
}

interface StatusLike {
  status?: unknown;
  statusCode?: unknown;
  expose?: unknown;
  message?: unknown;
}

/** Error middleware: the first of the app's middleware. */
export function errorMiddleware(logger?: ApiLogger) {
  return async function handleErrors(ctx: Context, next: Next): Promise<void> {
    try {
      await next();
    } catch (err: unknown) {
      let status: number;
      let body: ErrorBody;
      let headers: Record<string, string> = {};
      if (err instanceof HttpError) {
        ({ status, body, headers } = err);
      } else if (err instanceof AgentError) {
        ({ status, body, headers } = agentErrorResponse(err));
      } else {
        // Koa's own errors (ctx.throw, http-errors) carry a 4xx status and `expose`.
        const e = (typeof err === 'object' && err !== null ? err : {}) as StatusLike;
        const s =
          typeof e.status === 'number' ? e.status : typeof e.statusCode === 'number' ? e.statusCode : 500;
        if (s >= 400 && s < 500) {
          status = s;
          body = { error: e.expose === true && typeof e.message === 'string' ? e.message : 'bad request' };
        } else {
          status = 500;
          body = { error: 'internal error' };
          logger?.error('API request failed', {
            method: ctx.method,
            path: ctx.path,
            error: err instanceof Error ? (err.stack ?? err.message) : String(err),
          });
        }
      }
      if (status >= 500 && status !== 500) {
        logger?.warn('API request failed', {
          method: ctx.method,
          path: ctx.path,
          status,
          error: body['error'],
        });
      }
      if (ctx.headerSent || !ctx.writable) return;
      ctx.status = status;
      for (const [name, value] of Object.entries(headers)) ctx.set(name, value);
      ctx.body = body;
    }
  };
}
