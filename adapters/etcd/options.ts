import { readFileSync } from 'node:fs';
import { castGrpcError, GRPCUnavailableError, isRecoverableError } from 'etcd3';
import type { IOptions } from 'etcd3';
import { leaseTiming, LeaseTimingError, type LeaseTiming } from '../../config/lease-timing.ts';
import type { BackoffPolicy } from '../backoff.ts';
import { silentLogger, type Logger } from '../logger.ts';
import { EtcdConfigError } from './errors.ts';
import { DEFAULT_PREFIX } from './keys.ts';

/**
 * `KEEPALIVE_RETRY`-style policy: how many etcd failures in a row the session tolerates before it
 * reports `fault` (source `etcd`), and the backoff between retries (keep-alive stream, watch,
 * lock transaction, recovery).
 */
export interface EtcdRetryPolicy extends BackoffPolicy {
  /** Consecutive failed etcd calls tolerated; one more gives `fault`. */
  maxAttempts: number;
  /**
   * Between retries while etcd refuses the agent's settings (TLS, user, role): slower, since only
   * a change on etcd's side can end it, and each try is one more refused login in etcd's log.
   */
  configErrorDelayMs: number;
}

/** etcd retries double each time, without jitter: 0.1, 0.2, 0.4, 0.8, then 1 s. */
const ETCD_BACKOFF: BackoffPolicy = { initialDelayMs: 100, maxDelayMs: 1000, factor: 2 };

export const DEFAULT_RETRY: EtcdRetryPolicy = {
  ...ETCD_BACKOFF,
  maxAttempts: 3,
  configErrorDelayMs: 5000,
};

/**
 * The session re-reads every lock this many TTLs apart (10 s at the default TTL) and re-asserts
 * each election's verdict: the watch is the fast path, this bounds how long a lost or ignored
 * event can leave a VIP's actor disagreeing with etcd. One range request for all VIPs.
 */
export const LOCK_RECHECK_TTLS = 5;

export interface EtcdTlsFiles {
  /** Client certificate (PEM), `ETCD_TLS_CERT`. Needs keyFile and caFile. */
  certFile?: string;
  /** Client key (PEM), `ETCD_TLS_KEY`. */
  keyFile?: string;
  /** CA that signed etcd's certificate (PEM), `ETCD_CACERT`. */
  caFile?: string;
}

export interface EtcdAuth {
  username: string;
  password: string;
}

/** What both the session and a configuration checker need to reach etcd. */
export interface EtcdConnectionOptions {
  /** `host:port` or `http(s)://host:port`, e.g. from `ETCD_HOSTS`. */
  hosts: readonly string[];
  tls?: EtcdTlsFiles;
  auth?: EtcdAuth;
  /** Deadline of every unary call (ms); default: the lease TTL. */
  callTimeoutMs?: number;
}

export interface EtcdSessionOptions extends EtcdConnectionOptions {
  hostname: string;
  /** Key prefix, default `/link`. */
  prefix?: string;
  /** `LEASE_TTL` in seconds, default 2 (etcd's minimum at its default election timeout). */
  leaseTtlSeconds?: number;
  /** Keep-alive period in ms, default TTL/3. */
  keepAliveIntervalMs?: number;
  /** Period of the full lock re-read (the level check behind the watch), default LOCK_RECHECK_TTLS × TTL. */
  lockRecheckIntervalMs?: number;
  retry?: Partial<EtcdRetryPolicy>;
  logger?: Logger;
}

export interface ResolvedSessionOptions {
  hostname: string;
  prefix: string;
  ttlSeconds: number;
  ttlMs: number;
  keepAliveIntervalMs: number;
  lockRecheckIntervalMs: number;
  callTimeoutMs: number;
  retry: EtcdRetryPolicy;
  logger: Logger;
}

export function resolveSessionOptions(options: EtcdSessionOptions): ResolvedSessionOptions {
  // The configuration's rule (config/lease-timing.ts), not a second copy of it: the agent passes
  // what config/parse.ts derived, tests and tools may pass less and get the same defaults.
  let timing: LeaseTiming;
  try {
    timing = leaseTiming({
      ttlMs: options.leaseTtlSeconds === undefined ? undefined : options.leaseTtlSeconds * 1000,
      keepaliveMs: options.keepAliveIntervalMs,
    });
  } catch (err) {
    if (!(err instanceof LeaseTimingError)) throw err;
    throw new EtcdConfigError(`lease timing: ${err.variable} ${err.message}`);
  }
  const ttlMs = timing.ttlMs;
  const ttlSeconds = ttlMs / 1000;
  const keepAliveIntervalMs = timing.keepaliveIntervalMs;
  if (options.hostname.length === 0 || options.hostname.includes('/')) {
    throw new EtcdConfigError(
      `hostname must be non-empty and contain no '/': ${JSON.stringify(options.hostname)}`,
    );
  }
  const retry = { ...DEFAULT_RETRY, ...options.retry };
  if (!(
    retry.maxAttempts >= 1 &&
    retry.initialDelayMs >= 0 &&
    retry.maxDelayMs >= retry.initialDelayMs &&
    retry.factor >= 1 &&
    retry.configErrorDelayMs > 0
  )) {
    throw new EtcdConfigError(`bad retry policy ${JSON.stringify(retry)}`);
  }
  return {
    hostname: options.hostname,
    prefix: options.prefix ?? DEFAULT_PREFIX,
    ttlSeconds,
    ttlMs,
    keepAliveIntervalMs,
    lockRecheckIntervalMs: options.lockRecheckIntervalMs ?? LOCK_RECHECK_TTLS * ttlMs,
    callTimeoutMs: options.callTimeoutMs ?? ttlMs,
    retry,
    logger: options.logger ?? silentLogger,
  };
}

type Policy = NonNullable<NonNullable<IOptions['faultHandling']>['global']>;

function policy(execute: Policy['execute']): Policy {
  return {
    _altReturn: undefined as never,
    onSuccess: () => ({ dispose: () => undefined }),
    onFailure: () => ({ dispose: () => undefined }),
    execute,
  };
}

function recoverable(err: unknown): boolean {
  return err instanceof Error && isRecoverableError(castGrpcError(err));
}

/**
 * etcd3's defaults retry each call 3 times and open a per-host circuit for 5 s after 3 failures:
 * that would hide etcd's return for up to 5 s, while the session has its own retry policy and
 * fence. Instead: a call that fails on one member (recoverable error) is retried at once on the
 * next, up to one try per member; a member that failed is skipped for `skipMs` while another is
 * tried (etcd3 moves to the next member when a member's policy refuses without calling).
 */
function failoverAcrossMembers(members: number): Policy {
  return policy(async (fn, signal) => {
    const context = { signal: signal ?? new AbortController().signal };
    for (let attempt = 1; ; attempt++) {
      try {
        return await fn(context);
      } catch (err) {
        if (attempt >= members || !recoverable(err)) throw err;
      }
    }
  });
}

function skipFailedMember(skipMs: number): Policy {
  let skipUntil = 0;
  return policy(async (fn, signal) => {
    if (Date.now() < skipUntil) {
      throw new GRPCUnavailableError(`etcd member skipped: it failed less than ${skipMs} ms ago`);
    }
    try {
      return await fn({ signal: signal ?? new AbortController().signal });
    } catch (err) {
      if (recoverable(err)) skipUntil = Date.now() + skipMs;
      throw err;
    }
  });
}

function readPem(path: string, what: string): Buffer {
  try {
    return readFileSync(path);
  } catch (err) {
    throw new EtcdConfigError(`cannot read ${what} ${path}`, { cause: err });
  }
}

/** The PEM contents of the TLS files (null without ETCD_CACERT: plain text). */
export function readTlsPems(tls: EtcdTlsFiles): { ca: Buffer; cert?: Buffer; key?: Buffer } | null {
  if (tls.caFile === undefined) return null;
  return {
    ca: readPem(tls.caFile, 'ETCD_CACERT'),
    ...(tls.keyFile === undefined ? {} : { key: readPem(tls.keyFile, 'ETCD_TLS_KEY') }),
    ...(tls.certFile === undefined ? {} : { cert: readPem(tls.certFile, 'ETCD_TLS_CERT') }),
  };
}

/**
 * The etcd3 client's options (hosts, TLS, user/password, call deadlines, fault handling). Exported
 * so `linkctl agent --check` builds exactly the client the agent will.
 */
export function buildClientOptions(options: EtcdConnectionOptions & { defaultTimeoutMs?: number }): IOptions {
  if (options.hosts.length === 0) throw new EtcdConfigError('no etcd hosts');
  const tls = options.tls ?? {};
  if ((tls.certFile === undefined) !== (tls.keyFile === undefined)) {
    throw new EtcdConfigError('ETCD_TLS_CERT and ETCD_TLS_KEY go together');
  }
  if (tls.certFile !== undefined && tls.caFile === undefined) {
    throw new EtcdConfigError('ETCD_TLS_CERT needs ETCD_CACERT (the CA that signed etcd)');
  }
  const timeoutMs = options.callTimeoutMs ?? options.defaultTimeoutMs ?? 2000;
  const result: IOptions = {
    hosts: [...options.hosts],
    dialTimeout: timeoutMs,
    defaultCallOptions: (context) => (context.isStream ? {} : { deadline: Date.now() + timeoutMs }),
    faultHandling:
      options.hosts.length > 1
        ? { global: failoverAcrossMembers(options.hosts.length), host: () => skipFailedMember(500) }
        : { global: failoverAcrossMembers(1), host: () => failoverAcrossMembers(1) },
    grpcOptions: {
      // Reconnect quickly once etcd is back; the session's own backoff paces the attempts.
      'grpc.initial_reconnect_backoff_ms': 100,
      'grpc.max_reconnect_backoff_ms': 1000,
    },
  };
  const pems = readTlsPems(tls);
  if (pems !== null) {
    result.credentials = {
      rootCertificate: pems.ca,
      ...(pems.key === undefined ? {} : { privateKey: pems.key }),
      ...(pems.cert === undefined ? {} : { certChain: pems.cert }),
    };
  }
  if (options.auth) result.auth = { username: options.auth.username, password: options.auth.password };
  return result;
}
