import { createHash, timingSafeEqual } from 'node:crypto';
import type { Context, Next } from 'koa';
import { HttpError } from './errors.ts';
import { sourceKey } from './source.ts';
import type { ApiLogger, BasicAuthCredentials } from './types.ts';

/**
 * HTTP basic auth. Both the user and the password are compared in constant time, on SHA-256
 * digests so the lengths never leak either; both comparisons always run.
 *
 * Failed attempts are counted per source (`sourceKey`): a source with `maxFailures` failures
 * within `windowMs` is refused for `blockMs` with a 429, whatever credentials it sends, so a
 * guess cannot be tested while blocked (answering a right guess would make the 429 an oracle).
 * Other sources are not affected. A request without an `Authorization` header is not a failure:
 * it guesses nothing, and a browser sends one before its user types the password.
 */

const REALM = 'Basic realm="LinK", charset="UTF-8"';

/** The stable code of the 429 body. */
export const AUTH_RATE_LIMITED = 'AUTH_RATE_LIMITED';

function digest(value: string): Buffer {
  return createHash('sha256').update(value, 'utf8').digest();
}

/** Parses `Authorization: Basic …`; null when absent or malformed. */
export function parseBasicAuth(header: string | undefined): BasicAuthCredentials | null {
  if (!header) return null;
  const match = /^basic +([A-Za-z0-9+/=._~-]+) *$/i.exec(header);
  if (!match?.[1]) return null;
  const decoded = Buffer.from(match[1], 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon < 0) return null;
  return { user: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
}

export function credentialsMatch(given: BasicAuthCredentials, expected: BasicAuthCredentials): boolean {
  const userOk = timingSafeEqual(digest(given.user), digest(expected.user));
  const passwordOk = timingSafeEqual(digest(given.password), digest(expected.password));
  return userOk && passwordOk;
}

export function unauthorized(): HttpError {
  return new HttpError(401, { error: 'unauthorized' }, { 'WWW-Authenticate': REALM });
}

export function tooManyFailures(retryAfterMs: number): HttpError {
  return new HttpError(
    429,
    { error: 'too many failed authentications from this address: retry later', code: AUTH_RATE_LIMITED },
    { 'Retry-After': String(Math.max(1, Math.ceil(retryAfterMs / 1000))) },
  );
}

export interface AuthGuardOptions {
  /** Failures within `windowMs` that block a source; 20. */
  maxFailures?: number;
  windowMs?: number;
  /** How long a blocked source gets 429; 60 s. */
  blockMs?: number;
  /** Sources remembered at most; the least recently seen is forgotten first. 10,000. */
  maxSources?: number;
  /** At most one "failed" log line per source in this interval (plus one when it is blocked); 60 s. */
  logIntervalMs?: number;
  logger?: ApiLogger;
  /** Called for every failed authentication (the metric). */
  onFailure?: () => void;
  /** Called for every request refused with 429 (the metric). */
  onRefused?: () => void;
  /** Monotonic milliseconds; performance.now by default (tests pass a clock). */
  now?: () => number;
}

interface SourceRecord {
  /** Times of the last `maxFailures` failures, oldest first. */
  failures: number[];
  blockedUntil: number;
  loggedAt: number;
  /** Failures since the last log line. */
  unlogged: number;
}

/** Label of failures that have no source address (the Unix socket): logged, never blocked. */
const NO_ADDRESS = 'unix socket';

/** The per-source table of failed authentications, bounded in memory. */
export class AuthGuard {
  private readonly sources = new Map<string, SourceRecord>();
  private readonly maxFailures: number;
  private readonly windowMs: number;
  private readonly blockMs: number;
  private readonly maxSources: number;
  private readonly logIntervalMs: number;
  private readonly now: () => number;

  constructor(private readonly options: AuthGuardOptions = {}) {
    this.maxFailures = options.maxFailures ?? 20;
    this.windowMs = options.windowMs ?? 60_000;
    this.blockMs = options.blockMs ?? 60_000;
    this.maxSources = options.maxSources ?? 10_000;
    this.logIntervalMs = options.logIntervalMs ?? 60_000;
    this.now = options.now ?? (() => performance.now());
  }

  /** Sources remembered now (tests: the table stays bounded). */
  get size(): number {
    return this.sources.size;
  }

  /** Milliseconds the source is still blocked for; 0 when it is not. */
  blockedFor(source: string | null): number {
    if (source === null) return 0;
    const record = this.sources.get(source);
    const left = record ? record.blockedUntil - this.now() : 0;
    if (left > 0) this.options.onRefused?.();
    return Math.max(0, left);
  }

  /** Records a failed authentication from `source` (null: no address, never blocked). */
  failed(source: string | null): void {
    this.options.onFailure?.();
    const now = this.now();
    const key = source ?? NO_ADDRESS;
    let record = this.sources.get(key);
    if (record) {
      // Re-inserted: the Map's order is then least recently seen first.
      this.sources.delete(key);
    } else {
      record = { failures: [], blockedUntil: 0, loggedAt: -Infinity, unlogged: 0 };
      this.forgetOld(now);
    }
    this.sources.set(key, record);
    record.failures.push(now);
    if (record.failures.length > this.maxFailures) record.failures.shift();
    record.unlogged += 1;

    const oldest = record.failures[0] ?? now;
    const reached = record.failures.length >= this.maxFailures && now - oldest <= this.windowMs;
    if (source !== null && reached && record.blockedUntil <= now) {
      record.blockedUntil = now + this.blockMs;
      this.options.logger?.warn('API source blocked after failed authentications', {
        source: key,
        failures: record.unlogged,
        failuresInWindow: record.failures.length,
        windowSeconds: this.windowMs / 1000,
        blockedSeconds: this.blockMs / 1000,
      });
      record.failures = [];
      record.loggedAt = now;
      record.unlogged = 0;
    } else if (now - record.loggedAt >= this.logIntervalMs) {
      this.options.logger?.warn('API authentication failed', { source: key, failures: record.unlogged });
      record.loggedAt = now;
      record.unlogged = 0;
    }
  }

  /** Drops expired records, then the least recently seen ones while the table is full. */
  private forgetOld(now: number): void {
    for (const [key, record] of this.sources) {
      const last = record.failures.at(-1) ?? -Infinity;
      const expired = record.blockedUntil <= now && now - last > this.windowMs;
      if (!expired && this.sources.size < this.maxSources) break;
      this.sources.delete(key);
    }
  }
}

const AUTHENTICATED = Symbol('authenticated');

/** True when this request carried the right credentials (or the app has none to check). */
export function isAuthenticated(ctx: Context): boolean {
  return (ctx.state as Record<symbol, unknown>)[AUTHENTICATED] === true;
}

/** Marks every request authenticated: the app has no credentials to check. */
export function noAuth() {
  return async function open(ctx: Context, next: Next): Promise<void> {
    (ctx.state as Record<symbol, unknown>)[AUTHENTICATED] = true;
    await next();
  };
}

/**
 * Requires the credentials on every request except those `isPublic` lets through without them.
 * A public request that carries wrong credentials is served as an anonymous one but counted as a
 * failure (its answer differs from an authenticated one's, so it is a guess too).
 */
export function basicAuth(
  expected: BasicAuthCredentials,
  isPublic: (ctx: Context) => boolean,
  guard: AuthGuard = new AuthGuard(),
) {
  return async function requireAuth(ctx: Context, next: Next): Promise<void> {
    const header = ctx.get('authorization');
    const open = isPublic(ctx);
    if (header !== '' || !open) {
      const source = sourceKey(ctx.req.socket.remoteAddress);
      const blockedMs = guard.blockedFor(source);
      if (blockedMs > 0) throw tooManyFailures(blockedMs);
      if (header === '') throw unauthorized();
      const given = parseBasicAuth(header);
      if (given && credentialsMatch(given, expected)) {
        (ctx.state as Record<symbol, unknown>)[AUTHENTICATED] = true;
      } else {
        guard.failed(source);
        if (!open) throw unauthorized();
      }
    }
    await next();
  };
}
