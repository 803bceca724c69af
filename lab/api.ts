import { request, type Agent, type IncomingHttpHeaders } from 'node:http';

/** Small HTTP clients for an agent's API: raw answers for tests, JSON for the lab. */

/** `localAddress`: the source address to connect from (a test's second client on 127.0.0.2). */
export type HttpTarget = { socketPath: string } | { host: string; port: number; localAddress?: string };

export interface HttpAnswer {
  status: number;
  headers: IncomingHttpHeaders;
  text: string;
  /** The body parsed as JSON, or undefined when it is not JSON. */
  json: unknown;
}

export interface HttpCallOptions {
  headers?: Record<string, string>;
  body?: string | Buffer;
  agent?: Agent;
  timeoutMs?: number;
}

/** One request; resolves with whatever the server answered (any status). */
export function httpCall(
  target: HttpTarget,
  method: string,
  path: string,
  options: HttpCallOptions = {},
): Promise<HttpAnswer> {
  const headers = { ...options.headers };
  // Node sends a DELETE's body unframed unless told its length.
  if (options.body !== undefined) headers['Content-Length'] = String(Buffer.byteLength(options.body));
  return new Promise((resolve, reject) => {
    const req = request(
      { ...target, method, path, headers, agent: options.agent, timeout: options.timeoutMs ?? 10_000 },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let json: unknown;
          try {
            json = JSON.parse(text) as unknown;
          } catch {
            json = undefined;
          }
          resolve({ status: res.statusCode ?? 0, headers: res.headers, text, json });
        });
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error(`${method} ${path}: timed out`)));
    req.on('error', reject);
    req.end(options.body);
  });
}

export interface ApiResponse<T = unknown> {
  status: number;
  body: T;
}

/** A JSON request to an agent's API on its Unix socket (agents live in namespaces). */
export async function callAgent<T = unknown>(
  socketPath: string,
  method: string,
  path: string,
  body?: unknown,
  options: { timeoutMs?: number; auth?: { user: string; password: string } } = {},
): Promise<ApiResponse<T>> {
  const headers: Record<string, string> = { accept: 'application/json' };
  if (body !== undefined) headers['content-type'] = 'application/json';
  if (options.auth) {
    headers.authorization = `Basic ${Buffer.from(`${options.auth.user}:${options.auth.password}`).toString('base64')}`;
  }
  const answer = await httpCall({ socketPath }, method, path, {
    headers,
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    ...(options.timeoutMs !== undefined ? { timeoutMs: options.timeoutMs } : {}),
  });
  // Not JSON (metrics, HTML, an empty 204): the text.
  return { status: answer.status, body: (answer.json ?? (answer.text || null)) as T };
}
