import { connect } from 'node:net';
import type { ProbeResult } from './types.ts';

export interface TcpProbeOptions {
  timeoutMs: number;
  signal?: AbortSignal;
}

/**
 * TCP check: healthy when a connection to host:port is established within the timeout. The
 * connection is closed at once (no data is sent). A host name is resolved by the system resolver
 * and the resolution counts against the timeout.
 */
export function probeTcp(host: string, port: number, options: TcpProbeOptions): Promise<ProbeResult> {
  return new Promise<ProbeResult>((resolve) => {
    let settled = false;
    const socket = connect({ host, port });
    const done = (result: ProbeResult): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      options.signal?.removeEventListener('abort', onAbort);
      socket.destroy();
      resolve(result);
    };
    const timer = setTimeout(
      () => done({ ok: false, reason: `connect timed out after ${options.timeoutMs} ms` }),
      options.timeoutMs,
    );
    function onAbort(): void {
      done({ ok: false, reason: 'aborted' });
    }
    socket.once('connect', () => done({ ok: true, reason: 'connected' }));
    socket.once('error', (error: NodeJS.ErrnoException) =>
      done({ ok: false, reason: `connect failed: ${error.code ?? error.message}` }),
    );
    if (options.signal?.aborted) onAbort();
    else options.signal?.addEventListener('abort', onAbort, { once: true });
  });
}
