import { existsSync, lstatSync, readFileSync, unlinkSync } from 'node:fs';
import { createServer as createHttpServer } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import type Koa from 'koa';
import { closeApp } from './app.ts';
import { sourceKey } from './source.ts';

/**
 * How many connections the API holds and how long a client may take, so that idle or slow
 * connections (thousands of them, from one or a few addresses) cannot keep others out:
 *
 * - a source (`sourceKey`: an IPv4 address or an IPv6 /64) holds at most `perSource` open
 *   connections; the next one is destroyed at once, before any byte is read. A global cap alone
 *   would let one attacker fill it;
 * - `total` caps all connections (Node's `maxConnections`), for many sources at once;
 * - a connection must finish its request headers within `headersTimeoutMs` (from its first
 *   byte, or from its accept when it sends nothing) and the whole request within
 *   `requestTimeoutMs`, else 408 and closed; Node checks every `checkIntervalMs` (its default,
 *   30 s, would let dead connections pile up that long); a TLS handshake gets `headersTimeoutMs`;
 * - an idle keep-alive connection is closed after `keepAliveTimeoutMs`.
 *
 * Only the request is timed, never the response: an SSE stream (`GET /ips/:id/events`) stays
 * open as long as its client reads it. It counts as one of its source's connections.
 */
export interface ConnectionLimits {
  perSource: number;
  total: number;
  headersTimeoutMs: number;
  requestTimeoutMs: number;
  keepAliveTimeoutMs: number;
  checkIntervalMs: number;
  /** Accept queue length asked of the kernel (capped by net.core.somaxconn, 4096 by default). */
  backlog: number;
}

export const DEFAULT_CONNECTION_LIMITS: Readonly<ConnectionLimits> = {
  perSource: 64,
  total: 1024,
  headersTimeoutMs: 5_000,
  requestTimeoutMs: 30_000,
  keepAliveTimeoutMs: 5_000,
  checkIntervalMs: 1_000,
  backlog: 4096,
};

export interface ApiServerOptions {
  app: Koa;
  /** TCP port (PORT, 1313 in production; 0 = any free port). Ignored when socketPath is set. */
  port?: number;
  /** Address to listen on; all interfaces when absent (as LinK v2 does). */
  host?: string;
  /** Listen on a Unix socket instead of TCP (agents inside network namespaces in tests/lab). */
  socketPath?: string;
  /** HTTPS with these PEM files (TLS_CERT, TLS_KEY). */
  tls?: { certFile: string; keyFile: string };
  /** Defaults: DEFAULT_CONNECTION_LIMITS. */
  limits?: Partial<ConnectionLimits>;
}

export interface ApiServer {
  /** AddressInfo for TCP, the socket path for a Unix socket. */
  readonly address: AddressInfo | string;
  /** `http://127.0.0.1:1313`, `https://[::1]:1313` or `unix:/path/to.sock`. */
  readonly url: string;
  /** Stops accepting, ends SSE streams and open connections, removes the socket file. */
  close(): Promise<void>;
}

/** Destroys a new connection at once when its source already holds `max`. */
function capConnectionsPerSource(server: Server, max: number): void {
  const open = new Map<string, number>();
  // Prepended: runs before the HTTP server sets the socket up, so a refused one costs nothing more.
  server.prependListener('connection', (socket: Socket) => {
    const source = sourceKey(socket.remoteAddress);
    if (source === null) return;
    const count = open.get(source) ?? 0;
    if (count >= max) {
      socket.destroy();
      return;
    }
    open.set(source, count + 1);
    socket.once('close', () => {
      const left = (open.get(source) ?? 1) - 1;
      if (left <= 0) open.delete(source);
      else open.set(source, left);
    });
  });
}

function removeStaleSocket(path: string): void {
  if (existsSync(path) && lstatSync(path).isSocket()) unlinkSync(path);
}

export async function startApiServer(options: ApiServerOptions): Promise<ApiServer> {
  const { app, socketPath, tls } = options;
  const koaCallback = app.callback();
  const callback = (req: IncomingMessage, res: ServerResponse): void => {
    void koaCallback(req, res);
  };
  const limits: ConnectionLimits = { ...DEFAULT_CONNECTION_LIMITS, ...options.limits };
  const httpOptions = {
    headersTimeout: limits.headersTimeoutMs,
    requestTimeout: limits.requestTimeoutMs,
    keepAliveTimeout: limits.keepAliveTimeoutMs,
    connectionsCheckingInterval: limits.checkIntervalMs,
  };
  const server: Server = tls
    ? createHttpsServer(
        {
          ...httpOptions,
          cert: readFileSync(tls.certFile),
          key: readFileSync(tls.keyFile),
          handshakeTimeout: limits.headersTimeoutMs,
        },
        callback,
      )
    : createHttpServer(httpOptions, callback);
  server.maxConnections = limits.total;
  capConnectionsPerSource(server, limits.perSource);

  if (socketPath) removeStaleSocket(socketPath);
  await new Promise<void>((resolve, reject) => {
    const onError = (err: Error) => reject(err);
    server.once('error', onError);
    const done = () => {
      server.off('error', onError);
      resolve();
    };
    // A deep accept queue: under a connection flood the kernel drops the SYNs that find it full,
    // a legitimate client's too (it retries only after 1 s), while the agent drains it quickly.
    const backlog = limits.backlog;
    if (socketPath) server.listen({ path: socketPath, backlog }, done);
    else if (options.host !== undefined)
      server.listen({ port: options.port ?? 1313, host: options.host, backlog }, done);
    else server.listen({ port: options.port ?? 1313, backlog }, done);
  });

  const address = server.address();
  if (address === null) throw new Error('API server has no address after listen');
  let url: string;
  if (typeof address === 'string') {
    url = `unix:${address}`;
  } else {
    const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
    url = `${tls ? 'https' : 'http'}://${host}:${address.port}`;
  }

  let closing: Promise<void> | undefined;
  return {
    address,
    url,
    close() {
      closing ??= new Promise<void>((resolve, reject) => {
        closeApp(app);
        server.close((err) => {
          if (socketPath) {
            try {
              removeStaleSocket(socketPath);
            } catch {
              // already gone
            }
          }
          if (err) reject(err);
          else resolve();
        });
        server.closeIdleConnections();
        // In-flight requests get a moment; SSE streams were ended by closeApp.
        setTimeout(() => server.closeAllConnections(), 2_000).unref();
      });
      return closing;
    },
  };
}
