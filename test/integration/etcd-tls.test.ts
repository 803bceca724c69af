import assert from 'node:assert/strict';
import { connect, createServer } from 'node:net';
import type { AddressInfo, Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { Subject } from 'rxjs';
import { createEtcdSession, EtcdConfigError } from '../../adapters/etcd/index.ts';
import type { EtcdSessionImpl, EtcdSessionOptions } from '../../adapters/etcd/index.ts';
import type { Logger } from '../../adapters/logger.ts';
import type { ElectionEvent, SessionStatus } from '../../adapters/etcd/types.ts';
import { freePort, makeTlsMaterial, removeTlsMaterial, startEtcd, waitFor } from '../support/etcd.ts';
import type { EtcdCluster, EtcdTlsMaterial } from '../support/etcd.ts';

const decided = (e: ElectionEvent) => e.type === 'elected' || e.type === 'demoted';

/** Counts the session's failed retries, so a test can wait for a few of them (no sleeps). */
function retryCounter(): { logger: Logger; retries$: Subject<number> } {
  const retries$ = new Subject<number>();
  let retries = 0;
  const logger: Logger = {
    debug: (message) => {
      if (message.includes('recovery failed')) retries$.next(++retries);
    },
    info: () => undefined,
    warn: () => undefined,
    error: () => undefined,
  };
  return { logger, retries$ };
}

describe('etcd over TLS with user/password (real etcd)', () => {
  let tls: EtcdTlsMaterial;
  /** Another CA and a client certificate it signed: etcd trusts neither. */
  let foreign: EtcdTlsMaterial;
  let etcd: EtcdCluster;
  const sessions: EtcdSessionImpl[] = [];
  async function session(o: EtcdSessionOptions): Promise<EtcdSessionImpl> {
    const s = await createEtcdSession(o);
    sessions.push(s);
    return s;
  }

  const options = (hostname: string, password = 'pw'): EtcdSessionOptions => ({
    hosts: etcd.endpoints,
    hostname,
    tls: { certFile: tls.clientCertFile, keyFile: tls.clientKeyFile, caFile: tls.caFile },
    auth: { username: 'root', password },
  });

  before(async () => {
    tls = await makeTlsMaterial();
    foreign = await makeTlsMaterial();
    etcd = await startEtcd({ tls });
    await etcd.etcdctl(['user', 'add', 'root:pw']);
    await etcd.etcdctl(['auth', 'enable']);
  });
  after(async () => {
    for (const s of sessions) await s.close({ revoke: true });
    await etcd.close();
    removeTlsMaterial(tls);
    removeTlsMaterial(foreign);
  });

  it('connects with client certificates and user/password, and elects one owner', async () => {
    const a = await session(options('tls-a'));
    const b = await session(options('tls-b'));
    const [ea, eb] = [a.election('198.18.0.10/32'), b.election('198.18.0.10/32')];
    const first = await Promise.all([ea, eb].map((e) => waitFor(e.events$, decided, 3000, 'decision')));
    assert.deepEqual(first.map((e) => e.type).sort(), ['demoted', 'elected']);
    const vip = { id: 'vip-00000000-0000-4000-8000-000000000001', ip: '198.18.0.10/32', checks: [] };
    assert.deepEqual(await a.config.add(vip), { added: true });
    assert.deepEqual(await a.config.list(), [vip]);
    const owner = (await ea.owner()) === 'tls-a' ? a : b;
    const other = owner === a ? eb : ea;
    const takeover = waitFor(other.events$, (e) => e.type === 'elected', 1000, 'takeover');
    await owner.close({ revoke: true });
    await takeover;
    await a.close({ revoke: true });
    await b.close({ revoke: true });
  });

  /**
   * A refused session: in fault with source `config`, the election says `demoted` (never `fault`,
   * which under at-least-one binds the VIP), it retries (slowly) and stays so, and never writes a
   * lock. Resolves with the session's configError.
   */
  async function assertRefused(
    o: EtcdSessionOptions,
    code: string,
  ): Promise<NonNullable<SessionStatus['configError']>> {
    const { logger, retries$ } = retryCounter();
    const retried = waitFor(retries$, (n) => n >= 2, 5000, 'two retries');
    const s = await session({ ...o, logger, retry: { configErrorDelayMs: 100 } });
    const status = s.status();
    assert.equal(status.state, 'fault');
    assert.equal(status.faultSource, 'config');
    assert.ok(status.configError, JSON.stringify(status));
    assert.equal(status.configError.code, code, JSON.stringify(status));
    const vip = '198.18.0.20/32';
    const events: ElectionEvent[] = [];
    const election = s.election(vip);
    election.events$.subscribe((e) => events.push(e));
    await retried;
    assert.ok(events.length > 0, 'the election said something');
    assert.deepEqual(
      events.map((e) => e.type),
      events.map(() => 'demoted'),
      JSON.stringify(events),
    );
    assert.match(events[0]!.reason ?? '', /^etcd configuration error: /);
    assert.equal(election.holdsLock, false);
    assert.equal(s.status().configError?.code, code, 'still refused after the retries');
    assert.equal((await etcd.etcdctl(['get', '--prefix', '/link/default/'])).trim(), '', 'no lock written');
    await s.close({ revoke: false });
    return status.configError;
  }

  it('a wrong password: ETCD_AUTH naming the user, out of the election, the agent keeps running', async () => {
    const refused = await assertRefused(options('tls-bad', 'nope'), 'ETCD_AUTH');
    assert.match(refused.message, /etcd auth: authentication failed for user "root"/);
    assert.doesNotMatch(refused.message, /nope/);
  });

  it("a wrong ETCD_CACERT: ETCD_TLS naming etcd's certificate and the CA file", async () => {
    const o = options('tls-ca');
    const refused = await assertRefused({ ...o, tls: { ...o.tls, caFile: foreign.caFile } }, 'ETCD_TLS');
    assert.match(refused.message, /certificate signed by unknown authority/);
    assert.ok(refused.message.includes(`ETCD_CACERT ${foreign.caFile}`), refused.message);
    assert.match(refused.message, /subject CN=localhost, issuer CN=link-test-ca/);
    assert.match(refused.message, /UNABLE_TO_VERIFY_LEAF_SIGNATURE/);
  });

  it('a client certificate etcd does not trust: ETCD_TLS naming ETCD_TLS_CERT', async () => {
    const o = options('tls-cert');
    const tlsFiles = { caFile: tls.caFile, certFile: foreign.clientCertFile, keyFile: foreign.clientKeyFile };
    const refused = await assertRefused({ ...o, tls: tlsFiles }, 'ETCD_TLS');
    assert.ok(refused.message.includes(`ETCD_TLS_CERT ${foreign.clientCertFile}`), refused.message);
    assert.match(refused.message, /ALERT/);
  });

  it('a user without a role: ETCD_PERMISSION; once granted, the session joins the election', async () => {
    await etcd.etcdctl(['user', 'add', 'late:pw2']);
    const { logger, retries$ } = retryCounter();
    const retried = waitFor(retries$, (n) => n >= 1, 5000, 'a retry');
    const s = await session({
      ...options('tls-late'),
      auth: { username: 'late', password: 'pw2' },
      logger,
      retry: { configErrorDelayMs: 100 },
    });
    assert.equal(s.status().configError?.code, 'ETCD_PERMISSION', JSON.stringify(s.status()));
    assert.match(s.status().configError!.message, /permission denied for user "late"/);
    const election = s.election('198.18.0.21/32');
    const first = await waitFor(election.events$, () => true, 1000, 'first event');
    assert.equal(first.type, 'demoted');
    await retried;
    const alive = waitFor(s.status$, (st) => st.state === 'alive', 5000, 'alive once granted');
    const elected = waitFor(election.events$, (e) => e.type === 'elected', 5000, 'elected once granted');
    await etcd.etcdctl(['role', 'add', 'link-rw']);
    await etcd.etcdctl(['role', 'grant-permission', 'link-rw', '--prefix=true', 'readwrite', '/link/']);
    await etcd.etcdctl(['user', 'grant-role', 'late', 'link-rw']);
    await alive;
    await elected;
    assert.equal(s.status().configError, undefined);
    await s.close({ revoke: true });
  });

  it("etcd back with a certificate the agent does not trust: the outage's fault, then a refusal (demoted)", async () => {
    const ports = { client: await freePort(), peer: await freePort() };
    const first = await startEtcd({ tls, ports: [ports] });
    let second: EtcdCluster | undefined;
    const s = await createEtcdSession({
      hosts: first.endpoints,
      hostname: 'tls-swap',
      tls: { certFile: tls.clientCertFile, keyFile: tls.clientKeyFile, caFile: tls.caFile },
      retry: { configErrorDelayMs: 100 },
    });
    try {
      const election = s.election('198.18.0.22/32');
      const events: ElectionEvent[] = [];
      election.events$.subscribe((e) => events.push(e));
      await waitFor(election.events$, (e) => e.type === 'elected', 3000, 'elected');
      // etcd gone: an outage, `fault` (what at-least-one binds on) is right here.
      const fault = waitFor(election.events$, (e) => e.type === 'fault', 5000, 'fault');
      await first.close();
      await fault;
      // Back on the same address with a certificate of another CA: a configuration error now.
      const refused = waitFor(s.status$, (st) => st.configError?.code === 'ETCD_TLS', 10_000, 'ETCD_TLS');
      second = await startEtcd({ tls: foreign, ports: [ports] });
      await refused;
      await waitFor(election.events$, (e) => e.type === 'demoted', 1000, 'demoted');
      assert.deepEqual(
        events.map((e) => e.type),
        ['elected', 'fault', 'demoted'],
      );
      assert.match(
        events[2]!.reason ?? '',
        /^etcd configuration error: etcd TLS: certificate signed by unknown authority/,
      );
    } finally {
      await s.close({ revoke: false });
      await first.close();
      await second?.close();
    }
  });

  it('an owner whose etcd starts presenting an untrusted certificate: demoted at once, never fault', async () => {
    // A switchable TCP proxy: the session's etcd address moves, in one step, to an etcd whose
    // certificate another CA signed, as if etcd's certificate were replaced under a live agent.
    const untrusted = await startEtcd({ tls: foreign });
    let target = Number(new URL(etcd.endpoints[0]!).port);
    const sockets = new Set<Socket>();
    const proxy = createServer((client) => {
      const upstream = connect(target, '127.0.0.1');
      for (const sock of [client, upstream]) {
        sockets.add(sock);
        sock.on('close', () => sockets.delete(sock));
        sock.on('error', () => undefined);
      }
      client.pipe(upstream).pipe(client);
    });
    await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
    const proxyPort = (proxy.address() as AddressInfo).port;
    const s = await session({ ...options('tls-moved'), hosts: [`https://127.0.0.1:${proxyPort}`] });
    try {
      const election = s.election('198.18.0.23/32');
      const events: ElectionEvent[] = [];
      election.events$.subscribe((e) => events.push(e));
      await waitFor(election.events$, (e) => e.type === 'elected', 3000, 'elected');
      const refused = waitFor(s.status$, (st) => st.configError?.code === 'ETCD_TLS', 5000, 'ETCD_TLS');
      target = Number(new URL(untrusted.endpoints[0]!).port);
      for (const sock of sockets) sock.destroy();
      await refused;
      await waitFor(election.events$, (e) => e.type === 'demoted', 1000, 'demoted');
      assert.deepEqual(
        events.map((e) => e.type),
        ['elected', 'demoted'],
        'the keep-alive failures were classified before the session would have faulted',
      );
    } finally {
      await s.close({ revoke: false });
      for (const sock of sockets) sock.destroy();
      proxy.close();
      await untrusted.close();
    }
  });

  it('an unreadable certificate file is an EtcdConfigError', async () => {
    await assert.rejects(
      createEtcdSession({ ...options('tls-x'), tls: { caFile: '/nonexistent/ca.pem' } }),
      (err: unknown) => err instanceof EtcdConfigError && err.code === 'ETCD_BAD_CONFIG',
    );
  });
});
