import type { Context } from 'koa';
import { HttpError, badRequest } from './errors.ts';

/**
 * Reads a JSON request body: at most `limit` bytes (413, checked against Content-Length first and
 * while reading), valid UTF-8 and JSON (400). The Content-Type decides how strict the route's
 * schema is (`BodyStyle`): a declared JSON type is this API's own form; no Content-Type, or curl
 * `-d`'s default `application/x-www-form-urlencoded`, is how LinK v2's clients send JSON (v2 never
 * looked at the header: its Go client sends none); any other type is 415.
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

/**
 * `json`: the client declared JSON (unknown fields are 400). `v2`: it declared nothing JSON, as
 * LinK v2's clients do, so the body is read as v2 read it (unknown top-level fields ignored,
 * http/schemas.ts `parseRequestBody`).
 */
export type BodyStyle = 'json' | 'v2';

export interface JsonBody {
  value: unknown;
  style: BodyStyle;
}

/** curl `-d`'s default type: v2 read such a body as JSON, and so do we when it is JSON. */
const FORM_TYPE = 'application/x-www-form-urlencoded';

/** The body style a Content-Type asks for; null: a type this API does not read (415). */
export function bodyStyleOf(header: string | undefined): BodyStyle | null {
  if (header === undefined || header.trim() === '') return 'v2';
  if (isJsonContentType(header)) return 'json';
  const type = header.split(';')[0]?.trim().toLowerCase();
  return type === FORM_TYPE ? 'v2' : null;
}

const UNSUPPORTED_TYPE = 'Content-Type must be application/json';

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

/** The parsed JSON body (`unknown`: the route's schema decides) and its style. */
export async function readJsonBody(ctx: Context, limit = DEFAULT_BODY_LIMIT): Promise<JsonBody> {
  const hasBody = ctx.request.length > 0 || ctx.get('transfer-encoding') !== '';
  if (!hasBody) throw badRequest('a JSON body is required');
  const header = ctx.get('content-type') || undefined;
  const style = bodyStyleOf(header);
  if (style === null) throw new HttpError(415, { error: UNSUPPORTED_TYPE });
  // A form body that is not JSON is a form: refused as before (415), never read as fields.
  const refuse = (message: string): HttpError =>
    header !== undefined && header.trim() !== '' && style === 'v2'
      ? new HttpError(415, {
          error: `${UNSUPPORTED_TYPE} (a ${FORM_TYPE} body is read only when it is JSON)`,
        })
      : badRequest(message);
  const raw = await readRaw(ctx, limit);
  if (raw.length === 0) throw badRequest('a JSON body is required');
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(raw);
  } catch {
    throw refuse('body is not valid UTF-8');
  }
  try {
    return { value: JSON.parse(text) as unknown, style };
  } catch {
    throw refuse('body is not valid JSON');
  }
}
