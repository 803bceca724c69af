/**
 * Test network kit: N hosts, each a network namespace with `eth0` on one bridge that itself
 * lives in its own namespace. Built on lab/netns.ts; nothing touches the root namespace.
 *
 *   const net = await createTestNetwork({ hosts: 2 });
 *   after(() => net.destroy());            // plus automatic teardown on exit/SIGINT/SIGTERM
 *   const [a, b] = net.hosts;              // a.ns, a.mac, a.ipv4 = '198.18.0.1', a.cidr6 = '2001:db8::1/64'
 *   await net.exec(a, 'ping', ['-c1', b.ipv4]);
 *   const cap = await net.capture(b, ['arp']);     // tcpdump in b's namespace, frames as bytes
 *   const adapter = await net.adapter(a);          // a NetAdapter running inside a's namespace
 *
 * Addresses: host i (1-based) has 198.18.0.i/24 and 2001:db8::i/64; VIPs for tests should come
 * from 198.18.0.100-254 and 2001:db8::100-. Names are `lkt-<pid>-<random>-h<i>` / `-br`, so
 * parallel runs never collide; destroy() sweeps every namespace with the network's prefix and
 * each new network first sweeps namespaces left by dead test processes.
 */
import { execFileSync, type ChildProcess } from 'node:child_process';
import {
  addAddress,
  addresses,
  capture,
  connectToBridge,
  createBridge,
  createNamespace,
  execIn,
  linkMac,
  neighbours,
  spawnNodeIn,
  sweepNamespaces,
  sweepOrphans,
  uniquePrefix,
  type AddressInfo,
  type Capture,
  type ExecResult,
  type Neighbour,
} from '../../lab/netns.ts';
import { RemoteNetAdapter } from './net-stdio.ts';

export interface TestHost {
  /** Namespace name. */
  ns: string;
  index: number;
  ifName: 'eth0';
  mac: string;
  ipv4: string;
  cidr4: string;
  ipv6: string;
  cidr6: string;
}

export interface AdapterChildOptions {
  /** Defaults to the host's eth0; another name tests a missing interface. */
  interfaceName?: string;
  /** Prefix for the node command, e.g. setpriv to drop capabilities. */
  wrapper?: string[];
}

export interface TestNetwork {
  readonly prefix: string;
  readonly bridgeNs: string;
  readonly hosts: readonly TestHost[];
  exec(host: TestHost, cmd: string, args: string[]): Promise<ExecResult>;
  /** `node --import tsx script args` inside the host's namespace; killed by destroy(). */
  spawnNode(host: TestHost, script: string, args?: string[], wrapper?: string[]): ChildProcess;
  /** A NetAdapter served by a child process in the host's namespace (test/support/net-stdio-main.ts). */
  adapter(host: TestHost, options?: AdapterChildOptions): Promise<RemoteNetAdapter>;
  capture(host: TestHost, filter?: string[]): Promise<Capture>;
  neighbours(host: TestHost): Promise<Neighbour[]>;
  addresses(host: TestHost): Promise<AddressInfo[]>;
  destroy(): Promise<void>;
}

const live = new Map<string, TestNetwork>();
let handlersInstalled = false;

/** Synchronous last resort: on exit there is no event loop left for async teardown. */
function destroyAllSync(): void {
  for (const prefix of live.keys()) {
    try {
      const list = execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' });
      for (const name of list.split('\n').map((l) => l.split(' ')[0] ?? '')) {
        if (name.startsWith(prefix)) execFileSync('ip', ['netns', 'del', name], { stdio: 'ignore' });
      }
    } catch {
      /* best effort while exiting */
    }
  }
  live.clear();
}

function installHandlers(): void {
  if (handlersInstalled) return;
  handlersInstalled = true;
  process.once('exit', destroyAllSync);
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      void Promise.allSettled([...live.values()].map((n) => n.destroy())).finally(() => {
        destroyAllSync();
        process.exit(signal === 'SIGINT' ? 130 : 143);
      });
    });
  }
}

export async function createTestNetwork(options: { hosts: number }): Promise<TestNetwork> {
  if (!Number.isInteger(options.hosts) || options.hosts < 1 || options.hosts > 99) {
    throw new Error('hosts must be between 1 and 99');
  }
  installHandlers();
  await sweepOrphans('lkt');
  const prefix = uniquePrefix('lkt');
  const bridgeNs = `${prefix}br`;
  const children = new Set<ChildProcess>();
  const hosts: TestHost[] = [];
  let destroyed: Promise<void> | undefined;

  const network: TestNetwork = {
    prefix,
    bridgeNs,
    hosts,
    exec: (host, cmd, args) => execIn(host.ns, cmd, args),
    spawnNode(host, script, args = [], wrapper) {
      const child = spawnNodeIn(host.ns, script, args, wrapper ? { wrapper } : {});
      children.add(child);
      child.once('close', () => children.delete(child));
      return child;
    },
    async adapter(host, opts = {}) {
      const interfaceName = opts.interfaceName ?? host.ifName;
      const args = ['--interface', interfaceName];
      const child = network.spawnNode(host, 'test/support/net-stdio-main.ts', args, opts.wrapper);
      const remote = new RemoteNetAdapter(child, interfaceName);
      await remote.whenReady();
      return remote;
    },
    capture: (host, filter = []) => capture(host.ns, host.ifName, filter),
    neighbours: (host) => neighbours(host.ns, host.ifName),
    addresses: (host) => addresses(host.ns, host.ifName),
    destroy() {
      destroyed ??= (async () => {
        for (const child of children) child.kill('SIGKILL');
        await sweepNamespaces(prefix);
        live.delete(prefix);
      })();
      return destroyed;
    },
  };
  live.set(prefix, network);

  try {
    await createNamespace(bridgeNs);
    await createBridge(bridgeNs, 'br0');
    await Promise.all(
      Array.from({ length: options.hosts }, async (_, i) => {
        const index = i + 1;
        const ns = `${prefix}h${index}`;
        await createNamespace(ns);
        await connectToBridge({ ns, ifName: 'eth0', bridgeNs, bridge: 'br0', peerName: `p${index}` });
        await addAddress(ns, 'eth0', `198.18.0.${index}/24`);
        await addAddress(ns, 'eth0', `2001:db8::${index}/64`, { nodad: true });
        hosts[i] = {
          ns,
          index,
          ifName: 'eth0',
          mac: await linkMac(ns, 'eth0'),
          ipv4: `198.18.0.${index}`,
          cidr4: `198.18.0.${index}/24`,
          ipv6: `2001:db8::${index}`,
          cidr6: `2001:db8::${index}/64`,
        };
      }),
    );
  } catch (err) {
    await network.destroy();
    throw err;
  }
  return network;
}

/** Polls `check` until it returns a truthy value or `timeoutMs` passes; for kernel state without events. */
export async function waitUntil<T>(
  check: () => Promise<T> | T,
  options: { timeoutMs?: number; intervalMs?: number; what?: string } = {},
): Promise<NonNullable<T>> {
  const deadline = Date.now() + (options.timeoutMs ?? 5000);
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${options.what ?? 'condition'}`);
    await new Promise((r) => setTimeout(r, options.intervalMs ?? 50));
  }
}
