import { connect, createServer, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';

/**
 * A loopback TCP port that forwards every connection to a Unix socket. Lab agents serve their
 * API on a Unix socket in the lab's folder (the filesystem is shared, the network is not), so a
 * process in another network namespace (a test, a browser it drives) reaches an agent through
 * `http://127.0.0.1:<port>`. Bytes are piped as they are: HTTP, SSE and basic auth pass through
 * untouched. When the agent is gone, connections are dropped, as a dead host would.
 */

export interface Forwarder {
  /** `http://127.0.0.1:<port>` */
  readonly url: string;
  readonly port: number;
  readonly socketPath: string;
  /** Stops listening and ends every forwarded connection (SSE streams included). */
  close(): Promise<void>;
}

export interface ForwardOptions {
  /** Loopback address to listen on; 127.0.0.1 by default. */
  host?: string;
  /** 0 (any free port) by default. */
  port?: number;
}

export async function forwardToUnixSocket(
  socketPath: string,
  options: ForwardOptions = {},
): Promise<Forwarder> {
  const host = options.host ?? '127.0.0.1';
  const open = new Set<Socket>();
  const track = (socket: Socket) => {
    open.add(socket);
    socket.once('close', () => open.delete(socket));
  };
  const server = createServer((client) => {
    track(client);
    const upstream = connect(socketPath);
    track(upstream);
    client.setNoDelay(true);
    // Either side failing or closing ends both: no half-open pairs left behind.
    const end = () => {
      client.destroy();
      upstream.destroy();
    };
    client.on('error', end);
    upstream.on('error', end);
    client.on('close', end);
    upstream.on('close', end);
    client.pipe(upstream);
    upstream.pipe(client);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;
  let closing: Promise<void> | undefined;
  return {
    url: `http://${host.includes(':') ? `[${host}]` : host}:${port}`,
    port,
    socketPath,
    close() {
      closing ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const socket of open) socket.destroy();
      });
      return closing;
    },
  };
}
