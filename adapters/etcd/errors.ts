import {
  ClientClosedError,
  EtcdAuthenticationFailedError,
  EtcdInvalidAuthTokenError,
  EtcdLeaseInvalidError,
  EtcdPermissionDeniedError,
  GRPCDeadlineExceededError,
  GRPCUnauthenticatedError,
  castGrpcError,
  isRecoverableError,
} from 'etcd3';

/**
 * The etcd adapter's failures: one class per failure, each with a stable `code`, a `name` and the
 * original error as `cause`. Raw etcd3 / gRPC errors become one of these in exactly one place,
 * `translateEtcdError`, called by `rpc.ts`.
 *
 * | code                  | class                    | recoverable | when                                          |
 * |-----------------------|--------------------------|-------------|-----------------------------------------------|
 * | ETCD_UNAVAILABLE      | EtcdUnavailableError     | yes         | no etcd member answers (refused, unavailable)  |
 * | ETCD_TIMEOUT          | EtcdTimeoutError         | yes         | a call passed its deadline                     |
 * | ETCD_LEASE_LOST       | EtcdLeaseLostError       | yes         | etcd no longer knows the agent's lease         |
 * | ETCD_FENCED           | EtcdFencedError          | yes         | the session is in `fault` (deadline passed)    |
 * | ETCD_WATCH_LOST       | EtcdWatchLostError       | yes         | the watch stream ended, failed or was compacted|
 * | ETCD_AUTH             | EtcdAuthError            | no          | bad user/password, invalid token, permission   |
 * | ETCD_REQUEST_FAILED   | EtcdRequestError         | no          | any other error etcd or gRPC reported          |
 * | ETCD_BAD_CONFIG       | EtcdConfigError          | no          | bad options (unreadable TLS file, bad TTL)     |
 * | ETCD_BAD_VALUE        | EtcdBadValueError        | no          | a stored value is not what LinK wrote          |
 * | ETCD_NOT_OWNER        | EtcdNotOwnerError        | no          | failover() on a host that does not hold the VIP|
 * | ETCD_SESSION_CLOSED   | EtcdSessionClosedError   | no          | a call on a closed session or election         |
 */

export type EtcdErrorCode =
  | 'ETCD_UNAVAILABLE'
  | 'ETCD_TIMEOUT'
  | 'ETCD_LEASE_LOST'
  | 'ETCD_FENCED'
  | 'ETCD_WATCH_LOST'
  | 'ETCD_AUTH'
  | 'ETCD_REQUEST_FAILED'
  | 'ETCD_BAD_CONFIG'
  | 'ETCD_BAD_VALUE'
  | 'ETCD_NOT_OWNER'
  | 'ETCD_SESSION_CLOSED';

export abstract class EtcdAdapterError extends Error {
  abstract readonly code: EtcdErrorCode;
  /** Whether trying again later (same call, or a new lease) may succeed. */
  abstract readonly recoverable: boolean;
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}

export class EtcdUnavailableError extends EtcdAdapterError {
  readonly code = 'ETCD_UNAVAILABLE';
  readonly recoverable = true;
}
export class EtcdTimeoutError extends EtcdAdapterError {
  readonly code = 'ETCD_TIMEOUT';
  readonly recoverable = true;
}
export class EtcdLeaseLostError extends EtcdAdapterError {
  readonly code = 'ETCD_LEASE_LOST';
  readonly recoverable = true;
}
export class EtcdFencedError extends EtcdAdapterError {
  readonly code = 'ETCD_FENCED';
  readonly recoverable = true;
}
export class EtcdWatchLostError extends EtcdAdapterError {
  readonly code = 'ETCD_WATCH_LOST';
  readonly recoverable = true;
}
export class EtcdAuthError extends EtcdAdapterError {
  readonly code = 'ETCD_AUTH';
  readonly recoverable = false;
}
export class EtcdRequestError extends EtcdAdapterError {
  readonly code = 'ETCD_REQUEST_FAILED';
  readonly recoverable = false;
}
export class EtcdConfigError extends EtcdAdapterError {
  readonly code = 'ETCD_BAD_CONFIG';
  readonly recoverable = false;
}
export class EtcdBadValueError extends EtcdAdapterError {
  readonly code = 'ETCD_BAD_VALUE';
  readonly recoverable = false;
}
export class EtcdNotOwnerError extends EtcdAdapterError {
  readonly code = 'ETCD_NOT_OWNER';
  readonly recoverable = false;
}
export class EtcdSessionClosedError extends EtcdAdapterError {
  readonly code = 'ETCD_SESSION_CLOSED';
  readonly recoverable = false;
}

export function isEtcdAdapterError(err: unknown): err is EtcdAdapterError {
  return err instanceof EtcdAdapterError;
}

/** Transient failures: retrying (or re-granting the lease) may succeed. Unknown errors are not. */
export function isRecoverable(err: unknown): boolean {
  return err instanceof EtcdAdapterError && err.recoverable;
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/**
 * The one place where raw etcd3 / gRPC errors become adapter errors. `operation` names the call
 * ("txn lock 198.18.0.10/32") so the message says what failed. Adapter errors pass through.
 */
export function translateEtcdError(err: unknown, operation: string): EtcdAdapterError {
  if (err instanceof EtcdAdapterError) return err;
  // etcd3 types gRPC's generic errors by status code; a stream's raw error arrives untyped.
  const typed = err instanceof Error ? castGrpcError(err) : err;
  const message = `${operation}: ${messageOf(typed)}`;
  const options = { cause: err };
  if (typed instanceof EtcdLeaseInvalidError) return new EtcdLeaseLostError(message, options);
  if (
    typed instanceof EtcdAuthenticationFailedError ||
    typed instanceof EtcdInvalidAuthTokenError ||
    typed instanceof EtcdPermissionDeniedError ||
    typed instanceof GRPCUnauthenticatedError
  ) {
    return new EtcdAuthError(message, options);
  }
  if (typed instanceof ClientClosedError) return new EtcdSessionClosedError(message, options);
  if (typed instanceof GRPCDeadlineExceededError) return new EtcdTimeoutError(message, options);
  // Unavailable, cancelled, internal, aborted, resource exhausted (etcd3 marks them recoverable).
  if (typed instanceof Error && isRecoverableError(typed)) {
    return new EtcdUnavailableError(message, options);
  }
  return new EtcdRequestError(message, options);
}
