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
 * | ETCD_TLS              | EtcdTlsError             | no          | TLS handshake refused (CA, name, client cert)  |
 * | ETCD_AUTH             | EtcdAuthError            | no          | bad user/password                              |
 * | ETCD_PERMISSION       | EtcdPermissionError      | no          | the user's role may not touch LinK's keys      |
 * | ETCD_AUTH_TOKEN       | EtcdAuthTokenError       | no          | etcd dropped the auth token (etcd3 renews it)  |
 * | ETCD_REQUEST_FAILED   | EtcdRequestError         | no          | any other error etcd or gRPC reported          |
 * | ETCD_BAD_CONFIG       | EtcdConfigError          | no          | bad options (unreadable TLS file, bad TTL)     |
 * | ETCD_BAD_VALUE        | EtcdBadValueError        | no          | a stored value is not what LinK wrote          |
 * | ETCD_NOT_OWNER        | EtcdNotOwnerError        | no          | failover() on a host that does not hold the VIP|
 * | ETCD_SESSION_CLOSED   | EtcdSessionClosedError   | no          | a call on a closed session or election         |
 * | ETCD_HOSTNAME_TAKEN   | EtcdHostnameTakenError   | no          | at start: another live agent has this HOSTNAME |
 *
 * ETCD_TLS, ETCD_AUTH and ETCD_PERMISSION are *configuration errors* (`isConfigurationError`):
 * etcd answered and refused this agent's settings. They are never an outage: the session stays out
 * of the elections instead of reporting `fault` (see session.ts). ETCD_AUTH_TOKEN is not one: etcd
 * answers UNAUTHENTICATED (16) only for a token it no longer knows, and etcd3 authenticates again on
 * the next unary call, where a wrong password shows as ETCD_AUTH (INVALID_ARGUMENT, measured
 * against etcd 3.4). A TLS failure reaches the client as a plain UNAVAILABLE: `tls-probe.ts`
 * redoes the handshake to get the certificate error's code, which is translated here.
 */

export type EtcdErrorCode =
  | 'ETCD_UNAVAILABLE'
  | 'ETCD_TIMEOUT'
  | 'ETCD_LEASE_LOST'
  | 'ETCD_FENCED'
  | 'ETCD_WATCH_LOST'
  | 'ETCD_TLS'
  | 'ETCD_AUTH'
  | 'ETCD_PERMISSION'
  | 'ETCD_AUTH_TOKEN'
  | 'ETCD_REQUEST_FAILED'
  | 'ETCD_BAD_CONFIG'
  | 'ETCD_BAD_VALUE'
  | 'ETCD_NOT_OWNER'
  | 'ETCD_SESSION_CLOSED'
  | 'ETCD_HOSTNAME_TAKEN';

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
export class EtcdTlsError extends EtcdAdapterError {
  readonly code = 'ETCD_TLS';
  readonly recoverable = false;
}
export class EtcdAuthError extends EtcdAdapterError {
  readonly code = 'ETCD_AUTH';
  readonly recoverable = false;
}
export class EtcdPermissionError extends EtcdAdapterError {
  readonly code = 'ETCD_PERMISSION';
  readonly recoverable = false;
}
/** Not counted as an etcd failure: a stream refused for its token is retried with the renewed one. */
export class EtcdAuthTokenError extends EtcdAdapterError {
  readonly code = 'ETCD_AUTH_TOKEN';
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
/** A starting agent found another live agent registered under its HOSTNAME (host-claim.ts). */
export class EtcdHostnameTakenError extends EtcdAdapterError {
  readonly code = 'ETCD_HOSTNAME_TAKEN';
  readonly recoverable = false;
  constructor(
    readonly hostname: string,
    readonly other: string,
  ) {
    super(
      `HOSTNAME=${hostname} is taken: ${other} runs as ${hostname} under a live lease; give this host its own HOSTNAME (or stop that agent), this one starts nothing and touches none of its keys`,
    );
  }
}

export type EtcdConfigurationError = EtcdTlsError | EtcdAuthError | EtcdPermissionError;

/** etcd refused this agent's settings (certificates, user, role): not an outage. */
export function isConfigurationError(err: unknown): err is EtcdConfigurationError {
  return err instanceof EtcdTlsError || err instanceof EtcdAuthError || err instanceof EtcdPermissionError;
}

/** Transient failures: retrying (or re-granting the lease) may succeed. Unknown errors are not. */
export function isRecoverable(err: unknown): boolean {
  return err instanceof EtcdAdapterError && err.recoverable;
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** gRPC details may span lines; an error message is one. */
function oneLine(text: string): string {
  return text.replace(/\s*\n\s*/g, ' ').trim();
}

/**
 * Codes of a refused TLS handshake as Node reports them: OpenSSL's certificate verification
 * results (etcd's certificate), the host name check, and OpenSSL errors, among them the alerts
 * etcd sends when it refuses the client certificate (`ERR_SSL_SSLV3_ALERT_BAD_CERTIFICATE`,
 * `ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED`, …) or a TLS client talking to a plain-text etcd
 * (`ERR_SSL_WRONG_VERSION_NUMBER`).
 */
const TLS_VERIFY_CODES = new Set([
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_DECRYPT_CERT_SIGNATURE',
  'UNABLE_TO_DECODE_ISSUER_PUBLIC_KEY',
  'CERT_SIGNATURE_FAILURE',
  'CERT_NOT_YET_VALID',
  'CERT_HAS_EXPIRED',
  'ERROR_IN_CERT_NOT_BEFORE_FIELD',
  'ERROR_IN_CERT_NOT_AFTER_FIELD',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'CERT_CHAIN_TOO_LONG',
  'CERT_REVOKED',
  'INVALID_CA',
  'PATH_LENGTH_EXCEEDED',
  'INVALID_PURPOSE',
  'CERT_UNTRUSTED',
  'CERT_REJECTED',
  'HOSTNAME_MISMATCH',
  'ERR_TLS_CERT_ALTNAME_INVALID',
]);

export function isTlsFailureCode(code: unknown): boolean {
  return typeof code === 'string' && (TLS_VERIFY_CODES.has(code) || code.startsWith('ERR_SSL_'));
}

/** What the translation may name in a message (never a secret). */
export interface TranslationContext {
  /** `ETCD_USER`, named when etcd refuses it. */
  user?: string;
  /** The endpoints dialled (`ETCD_HOSTS`), named when none answers. */
  endpoints?: readonly string[];
}

/**
 * What a person can act on in gRPC's UNAVAILABLE text ("14 UNAVAILABLE: No connection
 * established. Last error: Error: connect ECONNREFUSED 198.18.0.2:2379. Resolution note: "):
 * the socket's errno and the address it dialled. grpc-js passes the socket error on as text
 * only, so this reads the text; it picks words for the message and never decides the class.
 */
function socketFailure(text: string): { errno?: string; address?: string } {
  const connect = /\bconnect (E[A-Z]+) (\S+?)\.?(?:\s|$)/.exec(text);
  if (connect) return { errno: connect[1]!, address: connect[2]! };
  const errno = /\b(E[A-Z]{4,}|ENOTFOUND|EAI_AGAIN)\b/.exec(text);
  return errno ? { errno: errno[1]! } : {};
}

function endpointsOf(context: TranslationContext, fallback = 'etcd'): string {
  return context.endpoints && context.endpoints.length > 0 ? context.endpoints.join(',') : fallback;
}

/**
 * The one place where raw etcd3 / gRPC / TLS errors become adapter errors. `operation` names the
 * call ("txn lock 198.18.0.10/32") so the message says what failed. Adapter errors pass through.
 */
export function translateEtcdError(
  err: unknown,
  operation: string,
  context: TranslationContext = {},
): EtcdAdapterError {
  if (err instanceof EtcdAdapterError) return err;
  const options = { cause: err };
  if (err instanceof Error && isTlsFailureCode((err as NodeJS.ErrnoException).code)) {
    return new EtcdTlsError(`${operation}: ${err.message}`, options);
  }
  // etcd3 types gRPC's generic errors by status code; a stream's raw error arrives untyped.
  const typed = err instanceof Error ? castGrpcError(err) : err;
  // gRPC's "14 UNAVAILABLE: " is for programs; the class and its code say it.
  const message = `${operation}: ${messageOf(typed).replace(/^\d+ [A-Z_]+: /, '')}`;
  const user = context.user === undefined ? '' : ` for user ${JSON.stringify(context.user)}`;
  if (typed instanceof EtcdLeaseInvalidError) return new EtcdLeaseLostError(message, options);
  if (typed instanceof EtcdAuthenticationFailedError) {
    return new EtcdAuthError(
      `${operation}: etcd auth: authentication failed${user} (ETCD_USER, ETCD_PASSWORD)`,
      options,
    );
  }
  if (typed instanceof EtcdPermissionDeniedError) {
    return new EtcdPermissionError(
      `${operation}: etcd auth: permission denied${user} (its role needs readwrite on LinK's prefix)`,
      options,
    );
  }
  if (typed instanceof EtcdInvalidAuthTokenError || typed instanceof GRPCUnauthenticatedError) {
    return new EtcdAuthTokenError(message, options);
  }
  if (typed instanceof ClientClosedError) return new EtcdSessionClosedError(message, options);
  // Outages say which endpoint, what failed and what to check, in one line without gRPC's
  // status text: they reach the API's 503, linkctl and the visualiser as they are.
  if (typed instanceof GRPCDeadlineExceededError) {
    return new EtcdTimeoutError(
      `${operation}: no answer from ${endpointsOf(context)} in time: check that etcd is up and not overloaded (ETCD_HOSTS)`,
      options,
    );
  }
  // Unavailable, cancelled, internal, aborted, resource exhausted (etcd3 marks them recoverable).
  if (typed instanceof Error && isRecoverableError(typed)) {
    const { errno, address } = socketFailure(typed.message);
    return new EtcdUnavailableError(
      `${operation}: cannot reach ${address ?? endpointsOf(context)}${errno ? ` (${errno})` : ''}: check ETCD_HOSTS and that etcd runs there`,
      options,
    );
  }
  return new EtcdRequestError(oneLine(message), options);
}
