import { readFileSync } from 'node:fs';
import { connect, type ClientHttp2Session, type IncomingHttpHeaders } from 'node:http2';
import { isIP } from 'node:net';
import { otherLiveAgent, type HostClaim } from './host-claim.ts';
import { leaseIdOf } from './host-config.ts';
import { makeKeys, prefixRangeEnd } from './keys.ts';
import {
  bytes,
  bytesList,
  decodeMessage,
  encodeMessage,
  firstMessage,
  frame,
  int64,
  type Decoded,
} from './wire.ts';

/**
 * A restart's first contact with etcd (issue 18 part 6), before the etcd client loads: a crashed
 * agent started again at once finds its VIPs still in the kernel, with what its last refresh left
 * them (1.33–2 s with the default TTL), and loading etcd3, grpc-js and protobufjs alone takes
 * ~0.25 s of a start (more on a loaded machine). So the start first asks etcd, over one HTTP/2
 * connection with hand-encoded messages (wire.ts), the three things it needs to keep those
 * addresses: whether the lease the killed agent left is still alive (one keep-alive renews it),
 * whether no other live agent holds the host name (host-claim.ts, the session's own rule), and
 * which locks are still this host's under it. The session then starts as always and reuses the
 * lease. Best effort within FIRST_CONTACT_BUDGET_MS: any failure (etcd slow or unreachable, a
 * refused certificate or password) answers `none` and the start goes on without it. Kept, the
 * connection stays open as a `LeaseBridge`: the start keeps the lease and the addresses alive
 * through it while the etcd client loads (seconds on a loaded machine), then closes it.
 */

/** The most a start waits for it: a local etcd answers in milliseconds; past that, go on. */
export const FIRST_CONTACT_BUDGET_MS = 1000;

export interface FirstContactOptions {
  hosts: readonly string[];
  prefix: string;
  hostname: string;
  /** LEASE_TTL: a lease granted for longer is not this agent's own (see ask()). */
  leaseTtlSeconds: number;
  tls?: { caFile?: string; certFile?: string; keyFile?: string };
  auth?: { username: string; password: string };
  hostClaim: HostClaim;
  budgetMs?: number;
}

export type FirstContact =
  | {
      kind: 'kept';
      leaseId: string;
      /** performance.now() at which the lease ends at the earliest (the keep-alive's send + TTL). */
      leaseDeadline: number;
      /** CIDRs whose lock names this host under that lease. */
      locksHeld: string[];
      /** The same connection, for more keep-alives while the etcd client loads; close it after. */
      bridge: LeaseBridge;
    }
  | { kind: 'none'; reason: string };

export interface LeaseBridge {
  /** One more keep-alive of the lease: its new deadline (performance.now()), or null if none came. */
  renew(): Promise<number | null>;
  close(): void;
}

export async function firstContact(options: FirstContactOptions): Promise<FirstContact> {
  const budgetMs = options.budgetMs ?? FIRST_CONTACT_BUDGET_MS;
  const opened: ClientHttp2Session[] = [];
  const attempt = open(options, opened)
    .then((session) => ask(session, options, budgetMs))
    .catch((err: unknown): FirstContact => ({ kind: 'none', reason: describe(err) }));
  let answer: FirstContact | undefined;
  try {
    answer = await within(attempt, budgetMs, { kind: 'none', reason: `no answer within ${budgetMs} ms` });
    return answer;
  } finally {
    // Kept: the last one opened is the bridge's (open() stops at the first that connects).
    const bridge = answer?.kind === 'kept' ? opened.at(-1) : undefined;
    for (const session of opened) if (session !== bridge) session.destroy();
  }
}

async function ask(
  session: ClientHttp2Session,
  options: FirstContactOptions,
  budgetMs: number,
): Promise<FirstContact> {
  const keys = makeKeys(options.prefix);
  const token = options.auth ? await authenticate(session, options.auth) : undefined;
  const get = async (key: string): Promise<string | null> => {
    const res = await call(session, '/etcdserverpb.KV/Range', encodeMessage([{ no: 1, bytes: key }]), token);
    const kv = bytesList(res, 2)[0];
    return kv === undefined ? null : bytes(decodeMessage(kv), 5).toString();
  };
  const [stored, legacy, record] = await Promise.all([
    get(keys.lease(options.hostname)),
    get(keys.legacyLease(options.hostname)),
    get(keys.agent(options.hostname)),
  ]);
  const other = otherLiveAgent(record, options.hostClaim);
  if (other !== null) return { kind: 'none', reason: `${other} holds the host name` };
  // The session's order (session.ts start): an earlier release's key is the newer one when present.
  const leaseId = leaseIdOf(legacy) ?? leaseIdOf(stored);
  if (leaseId === null) return { kind: 'none', reason: 'no lease stored for this host' };

  const sentAt = performance.now();
  const keepAlive = () =>
    call(
      session,
      '/etcdserverpb.Lease/LeaseKeepAlive',
      encodeMessage([{ no: 1, varint: BigInt(leaseId) }]),
      token,
    );
  const ttl = Number(int64(await keepAlive(), 3));
  if (ttl <= 0) return { kind: 'none', reason: `lease ${leaseId} is gone` };
  // A keep-alive answers the lease's granted TTL. Longer than LEASE_TTL: the bridge lease of a
  // restart (SIGUSR2), whose addresses were given its whole grace; a shorter lifetime would
  // only take time from them.
  if (ttl > options.leaseTtlSeconds) {
    return {
      kind: 'none',
      reason: `lease ${leaseId} has a TTL of ${ttl} s, not LEASE_TTL: a restart's bridge lease`,
    };
  }
  const leaseDeadline = sentAt + ttl * 1000;

  const prefix = Buffer.from(keys.lockPrefix);
  const locks = await call(
    session,
    '/etcdserverpb.KV/Range',
    encodeMessage([
      { no: 1, bytes: prefix },
      { no: 2, bytes: prefixRangeEnd(prefix) },
    ]),
    token,
  );
  const locksHeld: string[] = [];
  for (const raw of bytesList(locks, 2)) {
    const kv = decodeMessage(raw);
    const cidr = keys.cidrOfLock(bytes(kv, 1).toString());
    const mine = bytes(kv, 5).toString() === options.hostname && String(int64(kv, 6)) === leaseId;
    if (cidr !== null && mine) locksHeld.push(cidr);
  }
  const bridge: LeaseBridge = {
    renew: () => {
      const at = performance.now();
      const renewal = keepAlive().then(
        (res) => {
          const granted = Number(int64(res, 3));
          return granted > 0 ? at + Math.min(granted, options.leaseTtlSeconds) * 1000 : null;
        },
        () => null,
      );
      return within(renewal, budgetMs, null);
    },
    close: () => session.destroy(),
  };
  return { kind: 'kept', leaseId, leaseDeadline, locksHeld, bridge };
}

async function authenticate(
  session: ClientHttp2Session,
  auth: { username: string; password: string },
): Promise<string> {
  const res = await call(
    session,
    '/etcdserverpb.Auth/Authenticate',
    encodeMessage([
      { no: 1, bytes: auth.username },
      { no: 2, bytes: auth.password },
    ]),
    undefined,
  );
  return bytes(res, 2).toString();
}

/** The first member that accepts a connection (the etcd client's order); each one tried goes in `opened`. */
async function open(options: FirstContactOptions, opened: ClientHttp2Session[]): Promise<ClientHttp2Session> {
  const tls = options.tls ?? {};
  const pems = {
    ...(tls.caFile ? { ca: readFileSync(tls.caFile) } : {}),
    ...(tls.certFile ? { cert: readFileSync(tls.certFile) } : {}),
    ...(tls.keyFile ? { key: readFileSync(tls.keyFile) } : {}),
  };
  let last: unknown = new Error('no etcd hosts');
  for (const host of options.hosts) {
    const secure = tls.caFile !== undefined || host.startsWith('https://');
    const authority = `${secure ? 'https' : 'http'}://${host.replace(/^https?:\/\//, '')}`;
    try {
      return await new Promise<ClientHttp2Session>((resolve, reject) => {
        // No SNI for an IP address (RFC 6066; Node warns), as grpc-js does.
        const hostPart = new URL(authority).hostname.replace(/^\[|\]$/g, '');
        const session = connect(
          authority,
          secure ? { ...pems, ...(isIP(hostPart) ? { servername: '' } : {}) } : {},
        );
        opened.push(session);
        session.once('connect', () => resolve(session));
        session.once('error', reject);
      });
    } catch (err) {
      last = err;
    }
  }
  throw last;
}

/** One request message, the first response message; a gRPC status other than OK rejects. */
function call(
  session: ClientHttp2Session,
  path: string,
  message: Buffer,
  token: string | undefined,
): Promise<Decoded> {
  return new Promise((resolve, reject) => {
    const req = session.request({
      ':method': 'POST',
      ':path': path,
      'content-type': 'application/grpc',
      te: 'trailers',
      ...(token === undefined ? {} : { token }),
    });
    const chunks: Buffer[] = [];
    let status: IncomingHttpHeaders = {};
    req.on('response', (headers: IncomingHttpHeaders) => (status = headers));
    req.on('trailers', (trailers: IncomingHttpHeaders) => (status = { ...status, ...trailers }));
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('error', reject);
    req.on('end', () => {
      const code = status['grpc-status'];
      if (code !== '0') {
        reject(
          new Error(`${path}: gRPC status ${String(code)} ${String(status['grpc-message'] ?? '')}`.trim()),
        );
        return;
      }
      try {
        resolve(decodeMessage(firstMessage(Buffer.concat(chunks)) ?? Buffer.alloc(0)));
      } catch (err) {
        reject(err instanceof Error ? err : new Error(String(err)));
      }
    });
    req.end(frame(message));
  });
}

/** `promise`'s value, or `fallback` once `ms` have passed (a promise that never rejects). */
async function within<T>(promise: Promise<T>, ms: number, fallback: T): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<T>((resolve) => (timer = setTimeout(() => resolve(fallback), ms)));
  try {
    return await Promise.race([promise, late]);
  } finally {
    clearTimeout(timer);
  }
}

function describe(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
