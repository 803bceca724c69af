import type { ProbeResult } from './types.ts';

export interface HttpProbeOptions {
  timeoutMs: number;
  signal?: AbortSignal;
  /** Inclusive range or single status; default [200, 299]. */
  expectedStatus?: number | [number, number];
  /** Healthy only if the body contains this text (searched in the first `maxBodyBytes`). */
  bodyContains?: string;
  /** Default 65536. */
  maxBodyBytes?: number;
}

export const DEFAULT_EXPECTED_STATUS: [number, number] = [200, 299];

function statusMatches(status: number, expected: number | [number, number]): boolean {
  return typeof expected === 'number' ? status === expected : status >= expected[0] && status <= expected[1];
}

function describeExpected(expected: number | [number, number]): string {
  return typeof expected === 'number' ? String(expected) : `${expected[0]}-${expected[1]}`;
}

async function readBounded(body: ReadableStream<Uint8Array>, limit: number): Promise<string> {
  const reader = body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  try {
    while (size < limit) {
      const { done, value } = await reader.read();
      if (done) break;
      const room = limit - size;
      const chunk = value.length > room ? value.subarray(0, room) : value;
      chunks.push(chunk);
      size += chunk.length;
    }
  } finally {
    await reader.cancel().catch(() => undefined);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/** The most useful name for a fetch failure: undici wraps the OS error (`ECONNREFUSED`) in `cause`. */
function failureName(error: unknown): string {
  if (error instanceof Error) {
    const cause: unknown = error.cause;
    if (cause instanceof Error) {
      const code = (cause as NodeJS.ErrnoException).code;
      return code ?? cause.message;
    }
    return error.message;
  }
  return String(error);
}

/**
 * HTTP check: a GET with Node's built-in fetch (undici). Healthy when the status is in the
 * expected range and, if asked, the body contains the text. Redirects are not followed (a 301
 * is judged as a 301). The timeout covers connection, headers and the body read.
 */
export async function probeHttp(url: string, options: HttpProbeOptions): Promise<ProbeResult> {
  const expected = options.expectedStatus ?? DEFAULT_EXPECTED_STATUS;
  const deadline = new AbortController();
  const timer = setTimeout(() => deadline.abort(), options.timeoutMs);
  const signal = options.signal ? AbortSignal.any([deadline.signal, options.signal]) : deadline.signal;
  try {
    const response = await fetch(url, {
      method: 'GET',
      redirect: 'manual',
      signal,
      headers: { 'user-agent': 'link-health-check', accept: '*/*' },
    });
    if (!statusMatches(response.status, expected)) {
      await response.body?.cancel().catch(() => undefined);
      return { ok: false, reason: `status ${response.status}, expected ${describeExpected(expected)}` };
    }
    if (options.bodyContains === undefined) {
      await response.body?.cancel().catch(() => undefined);
      return { ok: true, reason: `status ${response.status}` };
    }
    const limit = options.maxBodyBytes ?? 65536;
    const body = response.body ? await readBounded(response.body, limit) : '';
    return body.includes(options.bodyContains)
      ? { ok: true, reason: `status ${response.status}, body matched` }
      : {
          ok: false,
          reason: `status ${response.status}, body does not contain ${JSON.stringify(options.bodyContains)}`,
        };
  } catch (error) {
    if (deadline.signal.aborted) return { ok: false, reason: `timed out after ${options.timeoutMs} ms` };
    if (options.signal?.aborted) return { ok: false, reason: 'aborted' };
    return { ok: false, reason: `request failed: ${failureName(error)}` };
  } finally {
    clearTimeout(timer);
  }
}
