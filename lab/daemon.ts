import { execFileSync, spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { REPO_ROOT } from './netns.ts';

/**
 * Real `linkctl agent` daemons for the API's integration tests and its benchmark: each one a
 * child process on its own interface (one end of a veth pair in the current network namespace,
 * so run under scripts/in-netns.sh), against a real etcd, serving the API on a loopback TCP port
 * and a Unix socket. Ready = its "agent started" log line (an event, not a sleep).
 */

export const LINKCTL = join(REPO_ROOT, 'bin', 'linkctl');

export interface DaemonOptions {
  hostname: string;
  interfaceName: string;
  etcdHosts: readonly string[];
  port: number;
  user?: string;
  password?: string;
  /** Extra environment (LEASE_TTL, HANDOVER_TIMEOUT, METRICS_PUBLIC, …). */
  env?: Record<string, string>;
  /** Deadline for "agent started", 15 s by default. */
  startTimeoutMs?: number;
}

export interface Daemon {
  readonly hostname: string;
  readonly url: string;
  readonly socketPath: string;
  readonly stateDir: string;
  readonly child: ChildProcess;
  /** Log lines so far (JSON, from stderr). */
  readonly logs: string[];
  /** SIGTERM (graceful handover) and wait for exit; SIGKILL after `ms`. Resolves with the exit code. */
  stop(ms?: number): Promise<number | null>;
}

/** A veth pair in the current namespace, both ends up. */
export function createVethPair(a: string, b: string): void {
  execFileSync('ip', ['link', 'add', a, 'type', 'veth', 'peer', 'name', b]);
  execFileSync('ip', ['link', 'set', a, 'up']);
  execFileSync('ip', ['link', 'set', b, 'up']);
  // The kernel reports the carrier of a new veth asynchronously (linkwatch, up to a second): an
  // agent started before it sees its INTERFACE without carrier and, with TRACK_INTERFACE=on,
  // starts its VIPs FAILING. Wait for IFF_LOWER_UP on both ends, bounded.
  const deadline = Date.now() + 3000;
  const pause = new Int32Array(new SharedArrayBuffer(4));
  for (const end of [a, b]) {
    while (!execFileSync('ip', ['-o', 'link', 'show', end], { encoding: 'utf8' }).includes('LOWER_UP')) {
      if (Date.now() > deadline) throw new Error(`veth ${end}: no carrier within 3 s`);
      Atomics.wait(pause, 0, 0, 5);
    }
  }
}

export function deleteLink(name: string): void {
  try {
    execFileSync('ip', ['link', 'del', name], { stdio: 'ignore' });
  } catch {
    // already gone (deleting one end of a veth deletes both)
  }
}

export async function startDaemon(options: DaemonOptions): Promise<Daemon> {
  const stateDir = mkdtempSync(join(tmpdir(), `link-${options.hostname}-`));
  const socketPath = join(stateDir, 'api.sock');
  const env: Record<string, string> = {
    PATH: process.env['PATH'] ?? '/usr/bin:/bin',
    INTERFACE: options.interfaceName,
    HOSTNAME: options.hostname,
    ETCD_HOSTS: options.etcdHosts.join(','),
    PORT: String(options.port),
    API_SOCKET: socketPath,
    STATE_DIR: stateDir,
    LOG_FORMAT: 'json',
    LOG_LEVEL: 'info',
    LEASE_TTL: '2',
    HANDOVER_TIMEOUT: '5',
    ARP_GRATUITOUS_COUNT: '1',
    ...(options.user !== undefined ? { USER: options.user } : {}),
    ...(options.password !== undefined ? { PASSWORD: options.password } : {}),
    ...options.env,
  };
  const child = spawn(LINKCTL, ['agent'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  const logs: string[] = [];
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));

  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(
        new Error(`agent ${options.hostname} did not start within deadline:\n${logs.slice(-10).join('\n')}`),
      );
    }, options.startTimeoutMs ?? 15_000);
    const onLine = (line: string) => {
      logs.push(line);
      if (line.includes('"agent started"')) {
        clearTimeout(timer);
        resolve();
      }
    };
    createInterface({ input: child.stderr }).on('line', onLine);
    createInterface({ input: child.stdout }).on('line', onLine);
    void exited.then((code) => {
      clearTimeout(timer);
      reject(
        new Error(
          `agent ${options.hostname} exited (${code}) before starting:\n${logs.slice(-10).join('\n')}`,
        ),
      );
    });
  });

  let stopping: Promise<number | null> | undefined;
  return {
    hostname: options.hostname,
    url: `http://127.0.0.1:${options.port}`,
    socketPath,
    stateDir,
    child,
    logs,
    stop(ms = 12_000) {
      stopping ??= (async () => {
        if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), ms);
        const code = await exited;
        clearTimeout(timer);
        rmSync(stateDir, { recursive: true, force: true });
        return code;
      })();
      return stopping;
    },
  };
}
