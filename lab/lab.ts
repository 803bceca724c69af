import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, openSync, closeSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { callAgent, type ApiResponse } from './api.ts';
import {
  REPO_ROOT,
  addAddress,
  addresses,
  connectToBridge,
  createBridge,
  createNamespace,
  deleteNamespace,
  linkMac,
  listNamespaces,
  run,
  setLinkDown,
  setLinkUp,
  spawnIn,
} from './netns.ts';
import type { Announcement, ProbeRound } from './samples.ts';
import { Client } from './client.ts';
import { ECHO_SERVER, TCP_CLIENT, TcpClient } from './tcp-client.ts';
import { AGENT_BUNDLE, buildAgentBundle } from './bundle.ts';
import { withoutNotifyVariables } from '../adapters/systemd/protocol.ts';

/**
 * The namespace lab: N hosts, an etcd (1 or 3 members) and an observer, each a network
 * namespace with one veth port on a bridge that lives in a namespace of its own. Nothing is
 * created in the root namespace. Agents and etcd run detached, so the lab outlives the command
 * that built it; its layout is saved in `<dir>/lab.json` for later commands (`linkctl lab …`).
 *
 * Addresses (198.18.0.0/24): etcd members .2–.4, hosts .11+, observer .250, client .251; VIPs
 * from .100. IPv6: the client reaches 2001:db8::/32 on-link from its link-local address.
 */

export interface LabSpec {
  name: string;
  hosts: number;
  etcdMembers?: 1 | 3;
  /** Extra environment for every agent (LEASE_TTL, FAULT_POLICY, …). */
  agentEnv?: Record<string, string>;
  /** etcd flags (e.g. a shorter election timeout); default tuned for a fast lab. */
  etcdFlags?: string[];
  /** Folder for logs, state and sockets; default `.lab/<name>` in the repository. */
  dir?: string;
  /**
   * Command prefix for every agent, e.g. `['setpriv', '--reuid=…', …, '--']` to run it
   * unprivileged; it must exec the agent (the agent's pid is the one signalled). Default: none.
   */
  agentWrapper?: string[];
  /**
   * The linkctl that runs the agents (`<it> agent`), e.g. an installed or extracted package's
   * /usr/bin/linkctl. Default: node and the lab's bundle of this checkout, built by `up`.
   */
  linkctl?: string[];
  /** Where etcd keeps its data; default in memory (see etcdDataRoot). Benchmarks put it on disk. */
  etcdDataRoot?: string;
  /**
   * etcd on a second bridge (br1, ETCD_SUBNET): the members live there only, and every host and
   * the observer get a second interface, eth1, on it. The hosts' VIP interface (eth0, on br0)
   * then carries the VIPs alone: cutting it (`cutLink`) leaves the host on etcd, as a host with
   * a separate management network would be. Default: one bridge for everything.
   */
  etcdNetwork?: boolean;
}

export interface LabHost {
  name: string;
  ns: string;
  ip: string;
  mac: string;
  socket: string;
  stateDir: string;
  log: string;
  /** Bridge-side port name (cut it to crash the host, or, with etcdNetwork, its VIP interface only). */
  port: string;
  /** With etcdNetwork: the bridge-side port of the host's eth1 (its way to etcd). */
  etcdPort?: string;
  pid?: number;
}

export interface LabEtcd {
  name: string;
  ns: string;
  ip: string;
  port: string;
  dataDir: string;
  log: string;
  pid?: number;
}

interface LabState {
  spec: LabSpec;
  dir: string;
  prefix: string;
  switchNs: string;
  observer: { ns: string; ip: string; mac: string };
  /** The client namespace (Lab.client), made on first use. */
  client?: { ns: string; ip: string; mac: string };
  etcd: LabEtcd[];
  hosts: LabHost[];
}

export const LAB_SUBNET = '198.18.0.0/24';
export const LAB_PREFIX_LEN = 24;
export const DEFAULT_VIP = '198.18.0.100/32';
/** LabSpec.etcdNetwork's second bridge: etcd members .2–.4, hosts .11+, observer .250. */
export const ETCD_SUBNET_PREFIX = '198.19.0';

const TSX = join(REPO_ROOT, 'node_modules/tsx/dist/esm/index.mjs');

/**
 * etcd's data lives in memory (/dev/shm): a lab etcd on this machine's disk spends milliseconds
 * in every fsync and, under the tests' load, answers reads past the agents' deadlines, which
 * production etcd on SSDs does not. It survives an etcd restart, as on disk; `down` removes it.
 */
function etcdDataRoot(spec: LabSpec): string {
  return join(spec.etcdDataRoot ?? '/dev/shm', `link-lab-${spec.name}`);
}

function labDir(spec: LabSpec): string {
  return spec.dir ?? join(REPO_ROOT, '.lab', spec.name);
}

function alive(pid: number | undefined): boolean {
  if (!pid) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function waitUntil(
  what: string,
  check: () => Promise<boolean> | boolean,
  timeoutMs: number,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return;
    if (Date.now() > deadline) throw new Error(`lab: timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

function spawnDetached(ns: string, cmd: string, args: string[], log: string, env: NodeJS.ProcessEnv): number {
  const fd = openSync(log, 'a');
  try {
    const child = spawn('ip', ['netns', 'exec', ns, cmd, ...args], {
      cwd: REPO_ROOT,
      env,
      detached: true,
      stdio: ['ignore', fd, fd],
    });
    child.unref();
    if (!child.pid) throw new Error(`lab: could not start ${cmd} in ${ns}`);
    return child.pid;
  } finally {
    closeSync(fd);
  }
}

/**
 * A wrapper for `startAgent` that runs the agent in a mount namespace of its own, private (no
 * mount propagates to or from the machine's), after `setup`, a shell script run in it with the
 * agent's environment (`$STATE_DIR` …): e.g. a small tmpfs over `$STATE_DIR`, or `$STATE_DIR`
 * bound read-only. The script execs the agent, so its pid stays the agent's; a failing command
 * of the script fails the start. `Lab.inAgentMounts` runs a command in that namespace later.
 */
export function ownMountNamespace(setup: string): string[] {
  return [
    'unshare',
    '--mount',
    '--propagation',
    'private',
    '--',
    'sh',
    '-ec',
    `${setup}\nexec "$@"`,
    'mount-ns',
  ];
}

/** The port of the lab's TCP echo servers. */
const DEFAULT_TCP_PORT = 7007;

export class Lab {
  private clientCreating: Promise<string> | undefined;
  /** Echo servers and TCP clients this process started (killed at down()). */
  private readonly tcpProcesses = new Set<ChildProcess>();
  private constructor(private state: LabState) {}

  get name(): string {
    return this.state.spec.name;
  }
  get dir(): string {
    return this.state.dir;
  }
  get hosts(): readonly LabHost[] {
    return this.state.hosts;
  }
  get etcd(): readonly LabEtcd[] {
    return this.state.etcd;
  }
  get observer(): { ns: string; ip: string; mac: string } {
    return this.state.observer;
  }
  get etcdHosts(): string {
    return this.state.etcd.map((m) => `${m.ip}:2379`).join(',');
  }

  host(name: string): LabHost {
    const host = this.state.hosts.find((h) => h.name === name);
    if (!host)
      throw new Error(
        `lab ${this.name}: no host ${name} (hosts: ${this.state.hosts.map((h) => h.name).join(', ')})`,
      );
    return host;
  }

  /** Builds the namespaces, starts etcd and one agent per host; resolves when all serve. */
  static async up(spec: LabSpec): Promise<Lab> {
    const dir = labDir(spec);
    if (existsSync(join(dir, 'lab.json'))) await Lab.load(dir).down();
    rmSync(dir, { recursive: true, force: true });
    rmSync(etcdDataRoot(spec), { recursive: true, force: true });
    mkdirSync(dir, { recursive: true });
    const prefix = `lab-${spec.name}`;
    const state: LabState = {
      spec,
      dir,
      prefix,
      switchNs: `${prefix}-sw`,
      observer: { ns: `${prefix}-obs`, ip: '198.18.0.250', mac: '' },
      etcd: [],
      hosts: [],
    };
    const lab = new Lab(state);
    try {
      await createNamespace(state.switchNs);
      await createBridge(state.switchNs, 'br0');
      const etcdNet = spec.etcdNetwork === true;
      if (etcdNet) await createBridge(state.switchNs, 'br1');
      const connect = async (ns: string, ifName: string, bridge: string, ip: string, port: string) => {
        await connectToBridge({ ns, ifName, bridgeNs: state.switchNs, bridge, peerName: port });
        await addAddress(ns, ifName, `${ip}/${LAB_PREFIX_LEN}`);
        return linkMac(ns, ifName);
      };
      const attach = async (ns: string, ip: string, port: string, bridge = 'br0') => {
        await createNamespace(ns);
        return connect(ns, 'eth0', bridge, ip, port);
      };
      state.observer.mac = await attach(state.observer.ns, state.observer.ip, 'p-obs');
      if (etcdNet) await connect(state.observer.ns, 'eth1', 'br1', `${ETCD_SUBNET_PREFIX}.250`, 'q-obs');
      const members = spec.etcdMembers ?? 1;
      for (let i = 1; i <= members; i++) {
        const member: LabEtcd = {
          name: `e${i}`,
          ns: `${prefix}-e${i}`,
          ip: `${etcdNet ? ETCD_SUBNET_PREFIX : '198.18.0'}.${1 + i}`,
          port: `p-e${i}`,
          dataDir: join(etcdDataRoot(spec), `e${i}.etcd`),
          log: join(dir, `e${i}.log`),
        };
        await attach(member.ns, member.ip, member.port, etcdNet ? 'br1' : 'br0');
        state.etcd.push(member);
      }
      for (let i = 1; i <= spec.hosts; i++) {
        const name = `h${i}`;
        const host: LabHost = {
          name,
          ns: `${prefix}-${name}`,
          ip: `198.18.0.${10 + i}`,
          mac: '',
          socket: join(dir, `${name}.sock`),
          stateDir: join(dir, name),
          log: join(dir, `${name}.log`),
          port: `p-${name}`,
        };
        host.mac = await attach(host.ns, host.ip, host.port);
        if (etcdNet) {
          host.etcdPort = `q-${name}`;
          await connect(host.ns, 'eth1', 'br1', `${ETCD_SUBNET_PREFIX}.${10 + i}`, host.etcdPort);
        }
        state.hosts.push(host);
      }
      lab.save();
      if (!spec.linkctl) await buildAgentBundle();
      for (const member of state.etcd) lab.startEtcdMember(member);
      await lab.waitForEtcd();
      await Promise.all(state.hosts.map((host) => lab.startAgent(host.name)));
      return lab;
    } catch (err) {
      await lab.down();
      throw err;
    }
  }

  /** The lab described by `<dir>/lab.json` (for commands run after `up`). */
  static load(dir: string): Lab {
    const file = join(dir, 'lab.json');
    if (!existsSync(file)) throw new Error(`no lab at ${dir} (run: linkctl lab up)`);
    return new Lab(JSON.parse(readFileSync(file, 'utf8')) as LabState);
  }

  static dirOf(name: string): string {
    return labDir({ name, hosts: 0 });
  }

  private save(): void {
    writeFileSync(join(this.state.dir, 'lab.json'), JSON.stringify(this.state, null, 2));
  }

  private startEtcdMember(member: LabEtcd): void {
    const cluster = this.state.etcd.map((m) => `${m.name}=http://${m.ip}:2380`).join(',');
    const flags = this.state.spec.etcdFlags ?? ['--heartbeat-interval=10', '--election-timeout=100'];
    member.pid = spawnDetached(
      member.ns,
      'etcd',
      [
        '--name',
        member.name,
        '--data-dir',
        member.dataDir,
        '--listen-client-urls',
        `http://${member.ip}:2379`,
        '--advertise-client-urls',
        `http://${member.ip}:2379`,
        '--listen-peer-urls',
        `http://${member.ip}:2380`,
        '--initial-advertise-peer-urls',
        `http://${member.ip}:2380`,
        '--initial-cluster',
        cluster,
        '--initial-cluster-state',
        existsSync(member.dataDir) ? 'existing' : 'new',
        ...flags,
      ],
      member.log,
      process.env,
    );
    this.save();
  }

  private async waitForEtcd(timeoutMs = 15_000): Promise<void> {
    await waitUntil(
      'etcd to serve',
      async () => {
        try {
          const { stdout } = await run('ip', [
            'netns',
            'exec',
            this.state.observer.ns,
            'etcdctl',
            `--endpoints=${this.state.etcd.map((m) => `http://${m.ip}:2379`).join(',')}`,
            '--dial-timeout=300ms',
            '--command-timeout=500ms',
            'endpoint',
            'health',
          ]);
          return !stdout.includes('unhealthy');
        } catch {
          return false;
        }
      },
      timeoutMs,
    );
  }

  /** Runs etcdctl from the observer against the lab's etcd. */
  async etcdctl(args: string[]): Promise<string> {
    const endpoints = this.state.etcd.map((m) => `http://${m.ip}:2379`).join(',');
    const { stdout } = await run('ip', [
      'netns',
      'exec',
      this.state.observer.ns,
      'etcdctl',
      `--endpoints=${endpoints}`,
      ...args,
    ]);
    return stdout;
  }

  /**
   * Starts (or restarts) the agent of a host; resolves when its API answers. `wrapper` (default:
   * the spec's agentWrapper) prefixes the node command and must exec it.
   */
  async startAgent(
    name: string,
    env: Record<string, string> = {},
    wrapper: readonly string[] = this.state.spec.agentWrapper ?? [],
  ): Promise<void> {
    const host = this.host(name);
    if (alive(host.pid)) throw new Error(`lab: the agent of ${name} is already running (pid ${host.pid})`);
    mkdirSync(host.stateDir, { recursive: true });
    rmSync(host.socket, { force: true });
    const linkctl = this.state.spec.linkctl ?? [process.execPath, AGENT_BUNDLE];
    const [command, ...args] = [...wrapper, ...linkctl, 'agent'];
    host.pid = spawnDetached(host.ns, command, args, host.log, {
      // A lab started from a systemd service: its agents must not notify for that service.
      ...withoutNotifyVariables(process.env),
      INTERFACE: 'eth0',
      HOSTNAME: name,
      ETCD_HOSTS: this.etcdHosts,
      STATE_DIR: host.stateDir,
      API_SOCKET: host.socket,
      PORT: '1313',
      LOG_FORMAT: 'json',
      LOG_LEVEL: 'info',
      ...this.state.spec.agentEnv,
      ...env,
    });
    this.save();
    await waitUntil(
      `the agent of ${name} to serve`,
      async () => {
        if (!alive(host.pid)) throw new Error(`lab: the agent of ${name} exited; see ${host.log}`);
        return (await this.api(name, 'GET', '/healthz').catch(() => null)) !== null;
      },
      20_000,
    );
  }

  /** Sends a signal to a host's agent; with wait, resolves once it has exited. */
  async signalAgent(name: string, signal: NodeJS.Signals, wait = true): Promise<void> {
    const host = this.host(name);
    const pid = host.pid;
    if (!alive(pid)) return;
    // `ip netns exec` execs the command, so the pid is the agent itself.
    process.kill(pid!, signal);
    if (wait && signal !== 'SIGSTOP' && signal !== 'SIGCONT') {
      await waitUntil(`the agent of ${name} to exit`, () => !alive(pid), 15_000);
    }
  }

  /**
   * Runs a command in the mount namespace of a host's running agent (one started with
   * `ownMountNamespace`): fill or free its STATE_DIR, remount it read-only, look at it.
   */
  async inAgentMounts(name: string, command: string[]): Promise<string> {
    const pid = this.host(name).pid;
    if (!alive(pid)) throw new Error(`lab: the agent of ${name} is not running`);
    const { stdout } = await run('nsenter', ['--target', String(pid), '--mount', '--', ...command]);
    return stdout;
  }

  agentRunning(name: string): boolean {
    return alive(this.host(name).pid);
  }

  /** A call to the host's API, with the credentials the agents run with (agentEnv USER/PASSWORD). */
  api<T = unknown>(name: string, method: string, path: string, body?: unknown): Promise<ApiResponse<T>> {
    const { USER: user, PASSWORD: password } = this.state.spec.agentEnv ?? {};
    const auth = user !== undefined && password !== undefined ? { auth: { user, password } } : {};
    return callAgent<T>(this.host(name).socket, method, path, body, auth);
  }

  /** The host's switch port goes down: the host is gone for everyone (a crash, seen from outside). */
  async cutLink(name: string): Promise<void> {
    await setLinkDown(this.state.switchNs, this.host(name).port);
  }

  async restoreLink(name: string): Promise<void> {
    await setLinkUp(this.state.switchNs, this.host(name).port);
  }

  /** Cuts one host from etcd only (it still reaches the other hosts and the observer). */
  async partition(name: string): Promise<void> {
    const host = this.host(name);
    for (const member of this.state.etcd) {
      await run('ip', ['-n', host.ns, 'route', 'replace', 'blackhole', `${member.ip}/32`]);
    }
  }

  async heal(name: string): Promise<void> {
    const host = this.host(name);
    for (const member of this.state.etcd) {
      await run('ip', ['-n', host.ns, 'route', 'del', 'blackhole', `${member.ip}/32`]).catch(() => undefined);
    }
  }

  async stopEtcd(member?: string, signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    for (const m of this.state.etcd.filter((e) => !member || e.name === member)) {
      if (!alive(m.pid)) continue;
      const pid = m.pid!;
      process.kill(pid, signal);
      await waitUntil(`etcd ${m.name} to exit`, () => !alive(pid), 10_000);
    }
  }

  /**
   * Sends a signal to every running etcd member (or one): SIGSTOP freezes etcd as a stalled disk
   * or a paused VM does (connections stay open, nothing answers), SIGCONT resumes it. Returns at
   * once; for a kill that must be waited on, use stopEtcd.
   */
  signalEtcd(signal: NodeJS.Signals, member?: string): void {
    for (const m of this.state.etcd.filter((e) => !member || e.name === member)) {
      if (alive(m.pid)) process.kill(m.pid!, signal);
    }
  }

  async startEtcd(member?: string): Promise<void> {
    for (const m of this.state.etcd.filter((e) => !member || e.name === member)) {
      if (!alive(m.pid)) this.startEtcdMember(m);
    }
    await this.waitForEtcd();
  }

  /** Hosts whose kernel holds `cidr` on eth0 right now. */
  async holders(cidr: string): Promise<string[]> {
    const address = cidr.split('/')[0];
    const held = await Promise.all(
      this.state.hosts.map(async (host) =>
        (await addresses(host.ns, 'eth0').catch(() => [])).some((a) => a.local === address)
          ? host.name
          : null,
      ),
    );
    return held.filter((name): name is string => name !== null);
  }

  hostOfMac(mac: string): string | undefined {
    return this.state.hosts.find((h) => h.mac === mac)?.name;
  }

  /** Starts the ARP observer for a VIP; it samples every intervalMs until stopped. */
  observe(cidr: string, intervalMs = 10): Observation {
    const child = spawnIn(this.state.observer.ns, process.execPath, [
      '--import',
      TSX,
      join(REPO_ROOT, 'lab/observer.ts'),
      'eth0',
      this.state.observer.ip,
      cidr.split('/')[0]!,
      String(intervalMs),
    ]);
    return new Observation(child, intervalMs);
  }

  /**
   * Starts a client of the VIP (lab/client.ts): `ping -D` every intervalMs (≤ 5 ms: the client's
   * gap is then precise to 5 ms) from the client namespace, a namespace of its own on the bridge
   * with an ordinary kernel neighbour table. IPv6 VIPs are pinged from the client's link-local
   * address over an on-link route, so the hosts need no global address of their own. Several
   * clients at once share the namespace (and its neighbour table).
   */
  async client(cidr: string, intervalMs = 5): Promise<Client> {
    const vip = cidr.split('/')[0]!;
    const ns = await this.clientNamespace();
    const child = spawnIn(ns, 'ping', ['-D', '-n', '-i', String(intervalMs / 1000), vip]);
    return new Client(child, ns, vip, intervalMs);
  }

  /**
   * An echo server on `port` in every host's namespace (all addresses, so on the VIP wherever it
   * is bound), for `tcpClient`. Idempotent per port.
   */
  tcpEchoServers(port = DEFAULT_TCP_PORT): void {
    for (const host of this.state.hosts) {
      const child = spawnIn(host.ns, process.execPath, ['-e', ECHO_SERVER, String(port)]);
      this.tcpProcesses.add(child);
    }
  }

  /**
   * A TCP client of the VIP (lab/tcp-client.ts) in the client namespace: one connection sending
   * a small request every `intervalMs`, connecting again when it is reset. Needs tcpEchoServers.
   */
  async tcpClient(cidr: string, port = DEFAULT_TCP_PORT, intervalMs = 5): Promise<TcpClient> {
    const ns = await this.clientNamespace();
    const child = spawnIn(ns, process.execPath, [
      '-e',
      TCP_CLIENT,
      cidr.split('/')[0]!,
      String(port),
      String(intervalMs),
    ]);
    this.tcpProcesses.add(child);
    return new TcpClient(child);
  }

  /** One namespace however many clients start at once. */
  private clientNamespace(): Promise<string> {
    if (this.state.client) return Promise.resolve(this.state.client.ns);
    this.clientCreating ??= this.createClientNamespace().finally(() => (this.clientCreating = undefined));
    return this.clientCreating;
  }

  private async createClientNamespace(): Promise<string> {
    const client = { ns: `${this.state.prefix}-cl`, ip: '198.18.0.251', mac: '' };
    await createNamespace(client.ns);
    await connectToBridge({
      ns: client.ns,
      ifName: 'eth0',
      bridgeNs: this.state.switchNs,
      bridge: 'br0',
      peerName: 'p-cl',
    });
    await addAddress(client.ns, 'eth0', `${client.ip}/${LAB_PREFIX_LEN}`);
    await run('ip', ['-n', client.ns, '-6', 'route', 'add', '2001:db8::/32', 'dev', 'eth0']);
    client.mac = await linkMac(client.ns, 'eth0');
    this.state.client = client;
    this.save();
    return client.ns;
  }

  /** Kills agents and etcd, deletes every namespace and the lab's folder (LINK_LAB_KEEP=1 keeps its logs). Idempotent. */
  async down(): Promise<void> {
    for (const child of this.tcpProcesses) child.kill('SIGKILL');
    this.tcpProcesses.clear();
    for (const pid of [...this.state.hosts.map((h) => h.pid), ...this.state.etcd.map((e) => e.pid)]) {
      if (alive(pid)) process.kill(pid!, 'SIGKILL');
    }
    const namespaces = (await listNamespaces()).filter((ns) => ns.startsWith(`${this.state.prefix}-`));
    await Promise.all(namespaces.map((ns) => deleteNamespace(ns)));
    rmSync(etcdDataRoot(this.state.spec), { recursive: true, force: true });
    // Logs and state go with the lab, unless someone wants to read them afterwards.
    if (process.env['LINK_LAB_KEEP'] === '1') rmSync(join(this.state.dir, 'lab.json'), { force: true });
    else rmSync(this.state.dir, { recursive: true, force: true });
  }
}

/** A running observer: probe rounds and announcements as they arrive. */
export class Observation {
  readonly rounds: ProbeRound[] = [];
  readonly announcements: Announcement[] = [];
  private readonly exited: Promise<void>;
  private readonly waiters = new Set<() => void>();

  constructor(
    private readonly child: ChildProcess,
    /** Probe interval (ms). */
    readonly intervalMs: number,
  ) {
    const lines = createInterface({ input: child.stdout! });
    lines.on('line', (line) => {
      const sample = JSON.parse(line) as
        ({ kind: 'round' } & ProbeRound) | ({ kind: 'announce' } & Announcement);
      if (sample.kind === 'round') this.rounds.push({ t: sample.t, macs: sample.macs });
      else this.announcements.push({ t: sample.t, mac: sample.mac });
      for (const wake of this.waiters) wake();
    });
    this.exited = new Promise((resolve) => child.once('close', () => resolve()));
  }

  /** Resolves with the first round matching `predicate` after now, or rejects at the deadline. */
  waitForRound(predicate: (round: ProbeRound) => boolean, timeoutMs: number): Promise<ProbeRound> {
    const start = this.rounds.length;
    return new Promise((resolve, reject) => {
      const check = () => {
        const found = this.rounds.slice(start).find(predicate);
        if (found) {
          cleanup();
          resolve(found);
        }
      };
      const timer = setTimeout(() => {
        cleanup();
        reject(new Error(`observer: no matching round within ${timeoutMs} ms`));
      }, timeoutMs);
      const cleanup = () => {
        clearTimeout(timer);
        this.waiters.delete(check);
      };
      this.waiters.add(check);
    });
  }

  /** The observer's clock now (the last round's time). */
  get now(): number {
    return this.rounds.at(-1)?.t ?? 0;
  }

  /**
   * The MAC that answered alone in every round of the last `ms` (observer time), else null; at
   * least a third of the rounds the interval promises must be there (a stalled observer proves nothing).
   */
  steadyMac(ms: number): string | null {
    const end = this.now;
    let count = 0;
    let mac: string | undefined;
    for (let i = this.rounds.length - 1; i >= 0 && this.rounds[i]!.t >= end - ms; i--) {
      const round = this.rounds[i]!;
      if (round.macs.length !== 1 || (mac !== undefined && round.macs[0] !== mac)) return null;
      mac = round.macs[0];
      count++;
    }
    return count >= ms / this.intervalMs / 3 && mac !== undefined ? mac : null;
  }

  async stop(): Promise<void> {
    if (this.child.exitCode === null) this.child.kill('SIGTERM');
    await this.exited;
  }
}
