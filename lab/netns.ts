import { execFile, spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';

/**
 * Network namespace primitives over iproute2 (and tcpdump for captures), used by the lab, the
 * integration tests and the benchmarks. Every command runs through execFile (no shell) and
 * targets a named namespace: nothing here ever creates a link or an address in the root
 * namespace. Veth pairs are created with one end directly in each namespace
 * (`ip -n A link add X type veth peer name Y netns B`), so not even transiently.
 */

export const REPO_ROOT = fileURLToPath(new URL('..', import.meta.url));

export class NetnsCommandError extends Error {
  override name = 'NetnsCommandError';
  readonly code = 'NETNS_COMMAND_FAILED';
  constructor(
    readonly command: string[],
    readonly stderr: string,
    readonly exitCode: number | null,
    options?: { cause?: unknown },
  ) {
    super(`${command.join(' ')} failed (exit ${exitCode}): ${stderr.trim()}`, options);
  }
}

export interface ExecResult {
  stdout: string;
  stderr: string;
}

export function run(cmd: string, args: string[], options: { timeoutMs?: number } = {}): Promise<ExecResult> {
  return new Promise((resolve, reject) => {
    execFile(
      cmd,
      args,
      { timeout: options.timeoutMs ?? 30_000, maxBuffer: 16 * 1024 * 1024 },
      (err, stdout, stderr) => {
        if (err) {
          const exitCode = typeof err.code === 'number' ? err.code : null;
          reject(new NetnsCommandError([cmd, ...args], stderr || err.message, exitCode, { cause: err }));
        } else {
          resolve({ stdout, stderr });
        }
      },
    );
  });
}

const ip = (args: string[]): Promise<ExecResult> => run('ip', args);

/**
 * A name prefix unique to this process and call: `<tag>-<pid base36>-<random>-`. The pid lets a
 * later run sweep namespaces whose creator died (see sweepOrphans).
 */
export function uniquePrefix(tag = 'lk'): string {
  return `${tag}-${process.pid.toString(36)}-${randomBytes(3).toString('hex')}-`;
}

export async function listNamespaces(): Promise<string[]> {
  const { stdout } = await ip(['-j', 'netns', 'list']);
  if (stdout.trim() === '') return [];
  const list = JSON.parse(stdout) as { name: string }[];
  return list.map((n) => n.name);
}

/**
 * Creates a namespace with loopback up and IPv6 DAD off (so link-local addresses are usable at
 * once instead of after ~1 s of duplicate address detection).
 */
export async function createNamespace(name: string): Promise<void> {
  await ip(['netns', 'add', name]);
  await ip(['-n', name, 'link', 'set', 'lo', 'up']);
  for (const key of ['net.ipv6.conf.default.accept_dad', 'net.ipv6.conf.all.accept_dad']) {
    await execIn(name, 'sysctl', ['-qw', `${key}=0`]);
  }
}

/** Kills whatever still runs inside, then deletes it. A missing namespace is not an error. */
export async function deleteNamespace(name: string): Promise<void> {
  try {
    const { stdout } = await ip(['netns', 'pids', name]);
    for (const pid of stdout.split(/\s+/).filter(Boolean).map(Number)) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        /* already gone */
      }
    }
  } catch {
    return; // no such namespace
  }
  try {
    await ip(['netns', 'del', name]);
  } catch (err) {
    if (!(err instanceof NetnsCommandError && /No such file/.test(err.stderr))) throw err;
  }
}

/** Deletes every namespace whose name starts with `prefix`; returns their names. */
export async function sweepNamespaces(prefix: string): Promise<string[]> {
  const names = (await listNamespaces()).filter((n) => n.startsWith(prefix));
  await Promise.all(names.map(deleteNamespace));
  return names;
}

/** Deletes namespaces named by uniquePrefix(tag) whose creating process is gone. */
export async function sweepOrphans(tag = 'lk'): Promise<string[]> {
  const pattern = new RegExp(`^${tag}-([0-9a-z]+)-[0-9a-f]+-`);
  const orphans = (await listNamespaces()).filter((n) => {
    const pid = pattern.exec(n)?.[1];
    return pid !== undefined && !isAlive(parseInt(pid, 36));
  });
  await Promise.all(orphans.map(deleteNamespace));
  return orphans;
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** A bridge inside `ns`, without STP (ports forward at once) or multicast snooping (NDP floods). */
export async function createBridge(ns: string, name = 'br0'): Promise<void> {
  await ip(['-n', ns, 'link', 'add', name, 'type', 'bridge', 'stp_state', '0', 'mcast_snooping', '0']);
  await setLinkUp(ns, name);
}

export interface VethToBridge {
  ns: string;
  ifName: string;
  bridgeNs: string;
  bridge: string;
  /** Name of the bridge-side end; unique within bridgeNs. */
  peerName: string;
}

/** A veth pair from `ns` (named ifName) to a port of the bridge in `bridgeNs`; both ends up. */
export async function connectToBridge(v: VethToBridge): Promise<void> {
  await ip([
    '-n',
    v.ns,
    'link',
    'add',
    v.ifName,
    'type',
    'veth',
    'peer',
    'name',
    v.peerName,
    'netns',
    v.bridgeNs,
  ]);
  await ip(['-n', v.bridgeNs, 'link', 'set', v.peerName, 'master', v.bridge]);
  await setLinkUp(v.bridgeNs, v.peerName);
  await setLinkUp(v.ns, v.ifName);
}

export async function setLinkUp(ns: string, dev: string): Promise<void> {
  await ip(['-n', ns, 'link', 'set', dev, 'up']);
}

export async function setLinkDown(ns: string, dev: string): Promise<void> {
  await ip(['-n', ns, 'link', 'set', dev, 'down']);
}

export async function addAddress(
  ns: string,
  dev: string,
  cidr: string,
  options: { nodad?: boolean } = {},
): Promise<void> {
  await ip(['-n', ns, 'addr', 'add', cidr, 'dev', dev, ...(options.nodad ? ['nodad'] : [])]);
}

export interface AddressInfo {
  family: 'inet' | 'inet6';
  local: string;
  prefixlen: number;
  scope: string;
  valid_life_time?: number;
  preferred_life_time?: number;
}

/** `ip -j -n NS addr show dev DEV`: what the kernel holds right now. */
export async function addresses(ns: string, dev: string): Promise<AddressInfo[]> {
  const { stdout } = await ip(['-j', '-n', ns, 'addr', 'show', 'dev', dev]);
  const links = JSON.parse(stdout) as { addr_info?: AddressInfo[] }[];
  return links.flatMap((l) => l.addr_info ?? []);
}

export async function linkMac(ns: string, dev: string): Promise<string> {
  const { stdout } = await ip(['-j', '-n', ns, 'link', 'show', 'dev', dev]);
  const [link] = JSON.parse(stdout) as { address?: string }[];
  if (!link?.address) throw new Error(`no MAC for ${dev} in ${ns}`);
  return link.address;
}

export interface Neighbour {
  dst: string;
  dev: string;
  lladdr?: string;
  state: string[];
}

export async function neighbours(ns: string, dev?: string): Promise<Neighbour[]> {
  const { stdout } = await ip(['-j', '-n', ns, 'neigh', 'show', ...(dev ? ['dev', dev] : [])]);
  if (stdout.trim() === '') return [];
  return (JSON.parse(stdout) as Neighbour[]).map((n) => ({ ...n, dev: n.dev ?? dev ?? '' }));
}

/** Runs a command to completion inside `ns`. */
export function execIn(
  ns: string,
  cmd: string,
  args: string[],
  options: { timeoutMs?: number } = {},
): Promise<ExecResult> {
  return run('ip', ['netns', 'exec', ns, cmd, ...args], options);
}

/** Starts a long-running command inside `ns`; the caller owns the child (deleteNamespace kills leftovers). */
export function spawnIn(ns: string, cmd: string, args: string[], options: SpawnOptions = {}): ChildProcess {
  return spawn('ip', ['netns', 'exec', ns, cmd, ...args], { stdio: ['pipe', 'pipe', 'pipe'], ...options });
}

/**
 * Starts `node --import tsx SCRIPT ARGS` inside `ns`, from the repository root. `wrapper`
 * prefixes the node command (e.g. `['setpriv', '--bounding-set=-net_admin', '--']`).
 */
export function spawnNodeIn(
  ns: string,
  script: string,
  args: string[] = [],
  options: { wrapper?: string[]; env?: NodeJS.ProcessEnv } = {},
): ChildProcess {
  const [cmd, ...rest] = [...(options.wrapper ?? []), process.execPath, '--import', 'tsx', script, ...args];
  return spawnIn(ns, cmd ?? process.execPath, rest, { cwd: REPO_ROOT, env: options.env ?? process.env });
}

export interface CapturedFrame {
  /** Capture time in microseconds since the epoch (kernel timestamp). */
  timeUs: number;
  data: Buffer;
}

export interface Capture {
  readonly frames: readonly CapturedFrame[];
  /** Resolves once `count` frames match `predicate`, or rejects after `timeoutMs`. */
  waitFor(
    predicate: (frame: CapturedFrame) => boolean,
    count?: number,
    timeoutMs?: number,
  ): Promise<CapturedFrame[]>;
  stop(): Promise<CapturedFrame[]>;
}

/**
 * Captures frames on `dev` inside `ns` with tcpdump writing pcap to a pipe (packet-buffered), and
 * resolves once tcpdump is listening. `filter` is a pcap filter expression split into words.
 */
export function capture(ns: string, dev: string, filter: string[] = []): Promise<Capture> {
  const child = spawnIn(ns, 'tcpdump', ['-i', dev, '-n', '-U', '--immediate-mode', '-w', '-', ...filter]);
  const frames: CapturedFrame[] = [];
  const waiters = new Set<() => void>();
  let pending = Buffer.alloc(0);
  let nanos = false;
  let headerSeen = false;
  child.stdout?.on('data', (chunk: Buffer) => {
    pending = Buffer.concat([pending, chunk]);
    if (!headerSeen) {
      if (pending.length < 24) return;
      nanos = pending.readUInt32LE(0) === 0xa1b23c4d;
      pending = pending.subarray(24);
      headerSeen = true;
    }
    while (pending.length >= 16) {
      const len = pending.readUInt32LE(8);
      if (pending.length < 16 + len) break;
      const sec = pending.readUInt32LE(0);
      const frac = pending.readUInt32LE(4);
      frames.push({
        timeUs: sec * 1e6 + (nanos ? Math.floor(frac / 1000) : frac),
        data: Buffer.from(pending.subarray(16, 16 + len)),
      });
      pending = pending.subarray(16 + len);
    }
    for (const wake of waiters) wake();
  });
  let stderr = '';
  const exited = new Promise<void>((resolve) => child.once('close', () => resolve()));
  const stop = async (): Promise<CapturedFrame[]> => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGINT');
    await exited;
    return frames;
  };
  const handle: Capture = {
    frames,
    stop,
    waitFor(predicate, count = 1, timeoutMs = 5000) {
      return new Promise((resolve, reject) => {
        const check = (): void => {
          const hits = frames.filter(predicate);
          if (hits.length >= count) {
            clearTimeout(timer);
            waiters.delete(check);
            resolve(hits);
          }
        };
        const timer = setTimeout(() => {
          waiters.delete(check);
          reject(
            new Error(
              `capture on ${ns}/${dev}: ${frames.filter(predicate).length}/${count} frames after ${timeoutMs} ms`,
            ),
          );
        }, timeoutMs);
        waiters.add(check);
        check();
      });
    },
  };
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      void stop();
      reject(new Error(`tcpdump in ${ns} did not start: ${stderr}`));
    }, 10_000);
    child.stderr?.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
      if (stderr.includes('listening on')) {
        clearTimeout(timer);
        resolve(handle);
      }
    });
    child.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    void exited.then(() => {
      clearTimeout(timer);
      reject(new Error(`tcpdump in ${ns} exited: ${stderr}`));
    });
  });
}
