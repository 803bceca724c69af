import type { Context } from 'koa';
import { HttpError, badRequest } from './errors.ts';

/**
 * Reads a JSON request body: only `application/json` (415 otherwise), at most `limit` bytes
 * (413, checked against Content-Length first and while reading), valid UTF-8 and JSON (400).
 * Small on purpose: no dependency for what is thirty lines.
 */

export const DEFAULT_BODY_LIMIT = 64 * 1024;

export function isJsonContentType(header: string | undefined): boolean {
  if (!header) return false;
  const [type = '', ...params] = header.split(';').map((p) => p.trim().toLowerCase());
  if (type !== 'application/json' && !/^application\/[a-z0-9.+-]+\+json$/.test(type)) return false;
  for (const param of params) {
    const [name, value] = param.split('=').map((s) => s.trim());
    if (name === 'charset' && value !== 'utf-8' && value !== 'utf8' && value !== '"utf-8"') return false;
  }
  return true;
}

function tooLarge(limit: number): HttpError {
  return new HttpError(413, { error: `request body larger than ${limit} bytes` });
}

/**
 * Over the limit: the rest is read and dropped up to `16 × limit` (so a client still sending
 * gets its 413 instead of a reset connection), beyond that the connection is closed.
 */
async function readRaw(ctx: Context, limit: number): Promise<Buffer> {
  const drainLimit = limit * 16;
  const declared = Number(ctx.get('content-length') || '0');
  if (declared > drainLimit) {
    ctx.set('Connection', 'close');
    throw tooLarge(limit);
  }
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of ctx.req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > drainLimit) {
      ctx.set('Connection', 'close');
      throw tooLarge(limit);
    }
    if (size <= limit) chunks.push(chunk);
  }
  if (size > limit) throw tooLarge(limit);
  return Buffer.concat(chunks);
}

/** The parsed JSON body (`unknown`: the route's schema decides). */
export async function readJsonBody(ctx: Context, limit = DEFAULT_BODY_LIMIT): Promise<unknown> {
  const hasBody = ctx.request.length > 0 || ctx.get('transfer-encoding') !== '';
  if (!hasBody) throw badRequest('a JSON body is required');
  if (!isJsonContentType(ctx.get('content-type') || undefined)) {
    throw new HttpError(415, { error: 'Content-Type must be application/json' });
  }
  const raw = await readRaw(ctx, limit);
  if (raw.length === 0) throw badRequest('a JSON body is required');
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(raw);
  } catch {
    throw badRequest('body is not valid UTF-8');
  }
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw badRequest('body is not valid JSON');
  }
}
