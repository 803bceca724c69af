import { request } from 'node:http';

/** A minimal JSON client for an agent's API on a Unix socket (agents live in namespaces). */

export interface ApiResponse<T = unknown> {
  status: number;
  body: T;
}

export function callAgent<T = unknown>(
  socketPath: string,
  method: string,
  path: string,
  body?: unknown,
  options: { timeoutMs?: number; auth?: { user: string; password: string } } = {},
): Promise<ApiResponse<T>> {
  const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
  const headers: Record<string, string> = { accept: 'application/json' };
  if (payload) {
    headers['content-type'] = 'application/json';
    headers['content-length'] = String(payload.length);
  }
  if (options.auth) {
    headers.authorization = `Basic ${Buffer.from(`${options.auth.user}:${options.auth.password}`).toString('base64')}`;
  }
  return new Promise((resolve, reject) => {
    const req = request(
      { socketPath, method, path, headers, timeout: options.timeoutMs ?? 10_000 },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let parsed: unknown = text;
          try {
            parsed = text ? JSON.parse(text) : null;
          } catch {
            // not JSON (metrics, HTML): keep the text
          }
          resolve({ status: res.statusCode ?? 0, body: parsed as T });
        });
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error(`${method} ${path}: timed out`)));
    req.on('error', reject);
    req.end(payload);
  });
}
