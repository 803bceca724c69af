import { createHash, timingSafeEqual } from 'node:crypto';
import type { Context, Next } from 'koa';
import { HttpError } from './errors.ts';
import type { BasicAuthCredentials } from './types.ts';

/**
 * HTTP basic auth. Both the user and the password are compared in constant time, on SHA-256
 * digests so the lengths never leak either; both comparisons always run.
 */

const REALM = 'Basic realm="LinK", charset="UTF-8"';

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

/** Requires the credentials on every request except those `isPublic` lets through. */
export function basicAuth(expected: BasicAuthCredentials, isPublic: (ctx: Context) => boolean) {
  return async function requireAuth(ctx: Context, next: Next): Promise<void> {
    if (!isPublic(ctx)) {
      const given = parseBasicAuth(ctx.get('authorization') || undefined);
      if (!given || !credentialsMatch(given, expected)) throw unauthorized();
    }
    await next();
  };
}
