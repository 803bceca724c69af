import { spawn, execFile } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { accessSync, constants, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { filter, firstValueFrom, timeout } from 'rxjs';
import type { Observable } from 'rxjs';

/**
 * A real etcd for tests and benchmarks (test/support/etcd.ts re-exports it): one member (or a cluster) on free loopback ports, started in ~50 ms with
 * short raft timers, killed and its data removed in `close()` and on process exit. Members can be
 * stopped and started again on the same data dir (etcd down / back) or paused with SIGSTOP (a
 * silent partition). `commandPrefix` (e.g. `['ip', 'netns', 'exec', NS]`) and `listenHost` let the
 * lab run it inside a network namespace.
 */

const execFileAsync = promisify(execFile);

export interface EtcdTlsMaterial {
  dir: string;
  caFile: string;
  serverCertFile: string;
  serverKeyFile: string;
  clientCertFile: string;
  clientKeyFile: string;
}

export interface StartEtcdOptions {
  /** Members in the cluster (1 or 3 usually); default 1. */
  size?: number;
  /** Address to listen on; default 127.0.0.1. */
  listenHost?: string;
  /** Prepended to the etcd and etcdctl commands, e.g. `['ip', 'netns', 'exec', 'ns-etcd']`. */
  commandPrefix?: readonly string[];
  /** Serve clients over TLS with these certificates and require client certificates. */
  tls?: EtcdTlsMaterial;
  /** Ports to use instead of free ones (the lab may want fixed ones). */
  ports?: readonly { client: number; peer: number }[];
  /** Deadline for the cluster to serve (ms), default 10 000. */
  startTimeoutMs?: number;
  /** The etcd binary, default `etcd`. */
  etcdBinary?: string;
  /**
   * Where the data dirs go; default /dev/shm when writable (etcd fsyncs every write: on tmpfs that
   * costs nothing, on this machine's disk 10-100 ms), else the OS temp dir.
   */
  dataRoot?: string;
}

function defaultDataRoot(): string {
  try {
    accessSync('/dev/shm', constants.W_OK);
    return '/dev/shm';
  } catch {
    return tmpdir();
  }
}

export interface EtcdMember {
  readonly name: string;
  readonly clientUrl: string;
  readonly peerUrl: string;
  readonly dataDir: string;
  readonly pid: number | undefined;
  readonly running: boolean;
  /** SIGTERM (SIGKILL after 2 s); keeps the data dir. */
  stop(signal?: NodeJS.Signals): Promise<void>;
  /** Starts again on the same data dir and ports; resolves when it serves. */
  start(): Promise<void>;
  /** SIGSTOP: the member holds its connections open but answers nothing. */
  pause(): void;
  /** SIGCONT. */
  resume(): void;
}

export interface EtcdCluster {
  readonly members: readonly EtcdMember[];
  /** `host:port` of every member, for the etcd3 client's `hosts`. */
  readonly hosts: string[];
  /** Client URLs (`http://` or `https://`). */
  readonly endpoints: string[];
  readonly tls: EtcdTlsMaterial | undefined;
  /** Runs etcdctl against the cluster; resolves with its stdout. */
  etcdctl(args: readonly string[], options?: { user?: string }): Promise<string>;
  /** Stops every member (data kept). */
  stop(): Promise<void>;
  /** Starts every stopped member again. */
  restart(): Promise<void>;
  pause(): void;
  resume(): void;
  /** Kills every member and removes the data dirs. Idempotent. */
  close(): Promise<void>;
}

const live = new Set<ChildProcess>();
const dirs = new Set<string>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    for (const child of live) {
      try {
        child.kill('SIGKILL');
      } catch {
        // gone
      }
    }
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  });
}

export async function freePort(host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.once('error', reject);
    server.listen(0, host, () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

function hostForUrl(host: string): string {
  return host.includes(':') ? `[${host}]` : host;
}

class Member implements EtcdMember {
  private child: ChildProcess | null = null;
  private exited: Promise<void> = Promise.resolve();

  constructor(
    readonly name: string,
    readonly clientUrl: string,
    readonly peerUrl: string,
    readonly dataDir: string,
    private readonly args: () => string[],
    private readonly options: StartEtcdOptions,
  ) {}

  get pid(): number | undefined {
    return this.child?.pid;
  }

  get running(): boolean {
    return this.child !== null;
  }

  async start(): Promise<void> {
    if (this.child !== null) return;
    const prefix = this.options.commandPrefix ?? [];
    const command = [...prefix, this.options.etcdBinary ?? 'etcd', ...this.args()];
    const [file, ...rest] = command;
    const child = spawn(file as string, rest, { stdio: ['ignore', 'ignore', 'pipe'] });
    this.child = child;
    live.add(child);
    this.exited = new Promise((resolve) => {
      child.once('exit', () => {
        live.delete(child);
        if (this.child === child) this.child = null;
        resolve();
      });
    });
    let log = '';
    const deadline = this.options.startTimeoutMs ?? 10_000;
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        cleanup();
        reject(new Error(`etcd ${this.name} not serving within ${deadline} ms:\n${log.slice(-2000)}`));
      }, deadline);
      const onData = (chunk: Buffer) => {
        log += chunk.toString();
        if (log.includes('ready to serve client requests') || log.includes('serving client requests on')) {
          cleanup();
          resolve();
        }
      };
      const onExit = (code: number | null) => {
        cleanup();
        reject(
          new Error(`etcd ${this.name} exited with ${code ?? 'signal'} before serving:\n${log.slice(-2000)}`),
        );
      };
      const cleanup = () => {
        clearTimeout(timer);
        child.stderr?.off('data', onData);
        child.off('exit', onExit);
        // Keep draining its log so the pipe never fills.
        child.stderr?.resume();
      };
      child.stderr?.on('data', onData);
      child.once('exit', onExit);
    });
  }

  async stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    const child = this.child;
    if (child === null) return;
    this.resume();
    child.kill(signal);
    const killer = setTimeout(() => child.kill('SIGKILL'), 2000);
    await this.exited;
    clearTimeout(killer);
  }

  pause(): void {
    this.child?.kill('SIGSTOP');
  }

  resume(): void {
    this.child?.kill('SIGCONT');
  }
}

export async function startEtcd(options: StartEtcdOptions = {}): Promise<EtcdCluster> {
  installExitHook();
  const size = options.size ?? 1;
  const host = options.listenHost ?? '127.0.0.1';
  const h = hostForUrl(host);
  const tls = options.tls;
  const scheme = tls ? 'https' : 'http';
  const root = mkdtempSync(join(options.dataRoot ?? defaultDataRoot(), 'link-etcd-'));
  dirs.add(root);
  const ports: { client: number; peer: number }[] = [];
  for (let i = 0; i < size; i++) {
    ports.push(options.ports?.[i] ?? { client: await freePort(host), peer: await freePort(host) });
  }
  const names = ports.map((_, i) => `m${i}`);
  const initialCluster = ports.map((p, i) => `${names[i]}=http://${h}:${p.peer}`).join(',');
  const token = `link-test-${process.pid}-${Date.now()}`;
  const members: Member[] = ports.map((p, i) => {
    const name = names[i] as string;
    const clientUrl = `${scheme}://${h}:${p.client}`;
    const peerUrl = `http://${h}:${p.peer}`;
    const dataDir = join(root, name);
    const args = () => [
      '--name',
      name,
      '--data-dir',
      dataDir,
      '--listen-client-urls',
      clientUrl,
      '--advertise-client-urls',
      clientUrl,
      '--listen-peer-urls',
      peerUrl,
      '--initial-advertise-peer-urls',
      peerUrl,
      '--initial-cluster',
      initialCluster,
      '--initial-cluster-token',
      token,
      '--initial-cluster-state',
      'new',
      '--heartbeat-interval=10',
      '--election-timeout=100',
      '--log-level=info',
      ...(tls
        ? [
            '--cert-file',
            tls.serverCertFile,
            '--key-file',
            tls.serverKeyFile,
            '--trusted-ca-file',
            tls.caFile,
            '--client-cert-auth',
          ]
        : []),
    ];
    return new Member(name, clientUrl, peerUrl, dataDir, args, options);
  });
  let closed = false;
  const cluster: EtcdCluster = {
    members,
    hosts: members.map((m) => m.clientUrl.replace(/^https?:\/\//, '')),
    endpoints: members.map((m) => m.clientUrl),
    tls,
    async etcdctl(args, ctlOptions = {}) {
      const prefix = options.commandPrefix ?? [];
      const command = [
        ...prefix,
        'etcdctl',
        `--endpoints=${members.map((m) => m.clientUrl).join(',')}`,
        '--dial-timeout=2s',
        '--command-timeout=5s',
        ...(tls
          ? [`--cacert=${tls.caFile}`, `--cert=${tls.clientCertFile}`, `--key=${tls.clientKeyFile}`]
          : []),
        ...(ctlOptions.user === undefined ? [] : [`--user=${ctlOptions.user}`]),
        ...args,
      ];
      const [file, ...rest] = command;
      const { stdout } = await execFileAsync(file as string, rest, {
        env: { ...process.env, ETCDCTL_API: '3' },
      });
      return stdout;
    },
    async stop() {
      await Promise.all(members.map((m) => m.stop()));
    },
    async restart() {
      await Promise.all(members.map((m) => m.start()));
    },
    pause() {
      for (const m of members) m.pause();
    },
    resume() {
      for (const m of members) m.resume();
    },
    async close() {
      if (closed) return;
      closed = true;
      await Promise.all(members.map((m) => m.stop('SIGKILL')));
      rmSync(root, { recursive: true, force: true });
      dirs.delete(root);
    },
  };
  try {
    await Promise.all(members.map((m) => m.start()));
  } catch (err) {
    await cluster.close();
    throw err;
  }
  return cluster;
}

async function openssl(args: readonly string[], cwd: string): Promise<void> {
  await execFileAsync('openssl', args, { cwd });
}

/**
 * A CA, a server certificate for 127.0.0.1/localhost (plus `extraSans`) and a client certificate
 * with CN `clientCn`, in a temp dir removed on process exit (or by `removeTlsMaterial`).
 */
export async function makeTlsMaterial(
  options: { clientCn?: string; extraSans?: string[] } = {},
): Promise<EtcdTlsMaterial> {
  installExitHook();
  const dir = mkdtempSync(join(tmpdir(), 'link-etcd-tls-'));
  dirs.add(dir);
  const sans = ['IP:127.0.0.1', 'DNS:localhost', ...(options.extraSans ?? [])].join(',');
  await openssl(
    [
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-keyout',
      'ca.key',
      '-out',
      'ca.crt',
      '-days',
      '2',
      '-subj',
      '/CN=link-test-ca',
    ],
    dir,
  );
  const issue = async (name: string, cn: string) => {
    await openssl(
      [
        'req',
        '-newkey',
        'rsa:2048',
        '-nodes',
        '-keyout',
        `${name}.key`,
        '-out',
        `${name}.csr`,
        '-subj',
        `/CN=${cn}`,
      ],
      dir,
    );
    await openssl(
      [
        'x509',
        '-req',
        '-in',
        `${name}.csr`,
        '-CA',
        'ca.crt',
        '-CAkey',
        'ca.key',
        '-CAcreateserial',
        '-out',
        `${name}.crt`,
        '-days',
        '2',
        '-extfile',
        `${name}.ext`,
      ],
      dir,
    );
  };
  writeFileSync(join(dir, 'server.ext'), `subjectAltName=${sans}\nextendedKeyUsage=serverAuth,clientAuth\n`);
  writeFileSync(join(dir, 'client.ext'), `extendedKeyUsage=clientAuth\n`);
  await issue('server', 'localhost');
  await issue('client', options.clientCn ?? 'root');
  return {
    dir,
    caFile: join(dir, 'ca.crt'),
    serverCertFile: join(dir, 'server.crt'),
    serverKeyFile: join(dir, 'server.key'),
    clientCertFile: join(dir, 'client.crt'),
    clientKeyFile: join(dir, 'client.key'),
  };
}

export function removeTlsMaterial(tls: EtcdTlsMaterial): void {
  rmSync(tls.dir, { recursive: true, force: true });
  dirs.delete(tls.dir);
}

/** The first value of `stream` matching `predicate` within `ms`, or a rejection naming `what`. */
export async function waitFor<T>(
  stream: Observable<T>,
  predicate: (value: T) => boolean,
  ms: number,
  what = 'event',
): Promise<T> {
  try {
    return await firstValueFrom(stream.pipe(filter(predicate), timeout(ms)));
  } catch (err) {
    throw new Error(`no ${what} within ${ms} ms`, { cause: err });
  }
}
