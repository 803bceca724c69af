import { existsSync, lstatSync, readFileSync, unlinkSync } from 'node:fs';
import { createServer as createHttpServer } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import type Koa from 'koa';
import { closeApp } from './app.ts';

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
}

export interface ApiServer {
  /** AddressInfo for TCP, the socket path for a Unix socket. */
  readonly address: AddressInfo | string;
  /** `http://127.0.0.1:1313`, `https://[::1]:1313` or `unix:/path/to.sock`. */
  readonly url: string;
  /** Stops accepting, ends SSE streams and open connections, removes the socket file. */
  close(): Promise<void>;
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
  const server: Server = tls
    ? createHttpsServer({ cert: readFileSync(tls.certFile), key: readFileSync(tls.keyFile) }, callback)
    : createHttpServer(callback);
  // Slow clients cannot hold a request open for ever; SSE responses are not affected.
  server.headersTimeout = 10_000;
  server.requestTimeout = 30_000;

  if (socketPath) removeStaleSocket(socketPath);
  await new Promise<void>((resolve, reject) => {
    const onError = (err: Error) => reject(err);
    server.once('error', onError);
    const done = () => {
      server.off('error', onError);
      resolve();
    };
    if (socketPath) server.listen(socketPath, done);
    else if (options.host !== undefined) server.listen(options.port ?? 1313, options.host, done);
    else server.listen(options.port ?? 1313, done);
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
