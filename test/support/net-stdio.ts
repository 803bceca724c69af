import { readdirSync } from 'node:fs';
import { createInterface } from 'node:readline';
import v8 from 'node:v8';
import vm from 'node:vm';
import type { Readable, Writable } from 'node:stream';
import type { ChildProcess } from 'node:child_process';
import {
  NetError,
  type AddressLifetime,
  type AnnounceOptions,
  type ConflictReport,
  type InterfaceAddress,
  type NetAdapter,
} from '../../adapters/net/index.ts';

/**
 * A NetAdapter served over JSON lines, so a process in the root namespace (a test, a benchmark,
 * the lab) can drive an adapter that lives in another namespace: the adapter itself never
 * switches namespaces, it runs in a child started with `ip netns exec` (see net-stdio-main.ts).
 *
 * Request: {"id":1,"op":"bind","args":["198.18.0.10/24",{"lifetimeSec":5}]}
 * Reply:   {"id":1,"ok":true,"result":null} | {"id":1,"ok":false,"error":{name,code,message}}
 * The first line the server writes is {"ready":true}.
 */

export interface SerializedNetError {
  name: string;
  code: string;
  message: string;
  interfaceName?: string;
}

export function serializeNetError(err: unknown): SerializedNetError {
  if (err instanceof NetError) {
    return {
      name: err.name,
      code: err.code,
      message: err.message,
      ...(err.interfaceName === undefined ? {} : { interfaceName: err.interfaceName }),
    };
  }
  return { name: 'Error', code: 'UNKNOWN', message: err instanceof Error ? err.message : String(err) };
}

/** Rebuilds an error that crossed the process boundary; keeps name and code. */
export function deserializeNetError(data: SerializedNetError): NetError {
  const err = new NetError(
    data.code,
    data.message,
    data.interfaceName ? { interfaceName: data.interfaceName } : {},
  );
  err.name = data.name;
  return err;
}

type Op =
  | 'bind'
  | 'refresh'
  | 'refreshMany'
  | 'unbind'
  | 'isBound'
  | 'announce'
  | 'probeConflict'
  | 'addresses'
  | 'hardwareAddress'
  | 'close'
  | 'stats';

interface Request {
  id: number;
  op: Op;
  args: unknown[];
}

type Reply = { id: number; ok: true; result: unknown } | { id: number; ok: false; error: SerializedNetError };

export interface ProcessStats {
  rss: number;
  heapUsed: number;
  external: number;
  /** Open file descriptors: a leaked socket shows here long before it shows in RSS. */
  fds: number;
}

export async function serveNetAdapter(adapter: NetAdapter, input: Readable, output: Writable): Promise<void> {
  const write = (msg: unknown): void => {
    output.write(`${JSON.stringify(msg)}\n`);
  };
  write({ ready: true });
  const lines = createInterface({ input, crlfDelay: Infinity });
  for await (const line of lines) {
    if (line.trim() === '') continue;
    const req = JSON.parse(line) as Request;
    let reply: Reply;
    try {
      reply = { id: req.id, ok: true, result: (await dispatch(adapter, req)) ?? null };
    } catch (err) {
      reply = { id: req.id, ok: false, error: serializeNetError(err) };
    }
    write(reply);
    if (req.op === 'close') break;
  }
  await adapter.close();
}

// The arguments come from JSON; the adapter validates each of them before any system call.
function dispatch(adapter: NetAdapter, { op, args }: Request): Promise<unknown> {
  const a = args[0] as string;
  // JSON turns an absent option object into null; the adapter validates what is inside.
  const options: unknown = args[1] ?? undefined;
  switch (op) {
    case 'bind':
      return adapter.bind(a, options as AddressLifetime | undefined);
    case 'refresh':
      return adapter.refresh(a, options as AddressLifetime);
    case 'refreshMany':
      // A Map does not survive JSON: failures travel as [cidr, message] pairs.
      return adapter
        .refreshMany(args[0] as string[], options as AddressLifetime)
        .then((failures) => [...failures].map(([cidr, err]) => [cidr, err.message]));
    case 'unbind':
      return adapter.unbind(a);
    case 'isBound':
      return adapter.isBound(a);
    case 'announce':
      return adapter.announce(a, options as AnnounceOptions | undefined);
    case 'probeConflict':
      return adapter.probeConflict(a, options as { timeoutMs?: number } | undefined);
    case 'addresses':
      return adapter.addresses();
    case 'hardwareAddress':
      return adapter.hardwareAddress();
    case 'close':
      return adapter.close();
    case 'stats': {
      if ((options as { gc?: boolean } | undefined)?.gc) collectGarbage();
      const m = process.memoryUsage();
      return Promise.resolve<ProcessStats>({
        rss: m.rss,
        heapUsed: m.heapUsed,
        external: m.external,
        fds: readdirSync('/proc/self/fd').length,
      });
    }
    default:
      return Promise.reject(new Error(`unknown op ${String(op)}`));
  }
}

/**
 * Full GC before a memory sample, so soak tests measure leaks, not garbage V8 has not collected
 * yet. Exposing gc at run time avoids needing node flags in every child's command line.
 */
function collectGarbage(): void {
  v8.setFlagsFromString('--expose-gc');
  const gc = vm.runInNewContext('gc') as () => void;
  gc();
}

/** The client side: a NetAdapter whose calls run in `child` (started with net-stdio-main.ts). */
export class RemoteNetAdapter implements NetAdapter {
  private nextId = 1;
  private readonly pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  private readonly ready: Promise<void>;
  private readonly exited: Promise<void>;
  private stderr = '';

  constructor(
    private readonly child: ChildProcess,
    readonly interfaceName: string,
  ) {
    if (!child.stdout || !child.stdin) throw new Error('the adapter child needs piped stdin and stdout');
    child.stderr?.on('data', (c: Buffer) => {
      this.stderr = (this.stderr + c.toString()).slice(-4000);
    });
    this.exited = new Promise((resolve) => child.once('close', () => resolve()));
    this.ready = new Promise((resolve, reject) => {
      const lines = createInterface({ input: child.stdout! });
      lines.on('line', (line) => {
        const msg = JSON.parse(line) as Reply | { ready: true };
        if ('ready' in msg) return resolve();
        const waiter = this.pending.get(msg.id);
        this.pending.delete(msg.id);
        if (!waiter) return;
        if (msg.ok) waiter.resolve(msg.result);
        else waiter.reject(deserializeNetError(msg.error));
      });
      void this.exited.then(() => {
        const err = new Error(
          `adapter child exited (${child.exitCode ?? child.signalCode}): ${this.stderr.trim()}`,
        );
        reject(err);
        for (const w of this.pending.values()) w.reject(err);
        this.pending.clear();
      });
    });
  }

  /** Resolves when the child has created its adapter. */
  whenReady(): Promise<void> {
    return this.ready;
  }

  private async call<T>(op: Op, ...args: unknown[]): Promise<T> {
    await this.ready;
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
      this.child.stdin!.write(`${JSON.stringify({ id, op, args })}\n`);
    });
  }

  bind(cidr: string, lifetime?: AddressLifetime): Promise<void> {
    return this.call('bind', cidr, lifetime);
  }
  refresh(cidr: string, lifetime: AddressLifetime): Promise<void> {
    return this.call('refresh', cidr, lifetime);
  }
  async refreshMany(cidrs: readonly string[], lifetime: AddressLifetime): Promise<Map<string, Error>> {
    const failures = await this.call<[string, string][]>('refreshMany', cidrs, lifetime);
    return new Map(failures.map(([cidr, message]) => [cidr, new Error(message)]));
  }
  unbind(cidr: string): Promise<void> {
    return this.call('unbind', cidr);
  }
  isBound(cidr: string): Promise<boolean> {
    return this.call('isBound', cidr);
  }
  announce(cidr: string, options?: AnnounceOptions): Promise<void> {
    return this.call('announce', cidr, options);
  }
  probeConflict(cidr: string, options?: { timeoutMs?: number }): Promise<ConflictReport | null> {
    return this.call('probeConflict', cidr, options);
  }
  addresses(): Promise<InterfaceAddress[]> {
    return this.call('addresses');
  }
  hardwareAddress(): Promise<string> {
    return this.call('hardwareAddress');
  }
  /** Memory of the child process, for soak tests; `gc` collects garbage first. */
  stats(options: { gc?: boolean } = {}): Promise<ProcessStats> {
    return this.call('stats', options);
  }

  /** Closes the remote adapter and waits for the child to exit (killing it after 5 s). */
  async close(): Promise<void> {
    if (this.child.exitCode === null && this.child.signalCode === null) {
      try {
        await this.call('close');
      } catch {
        /* the child is gone already */
      }
      this.child.stdin?.end();
      const timer = setTimeout(() => this.child.kill('SIGKILL'), 5000);
      await this.exited;
      clearTimeout(timer);
    }
  }
}
