import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createEtcdSession } from '../../adapters/etcd/index.ts';
import type { EtcdSessionImpl, EtcdSessionOptions } from '../../adapters/etcd/index.ts';
import { firstContact, type FirstContactOptions } from '../../adapters/etcd/first-contact.ts';
import type { HostClaim } from '../../adapters/etcd/host-claim.ts';
import { currentInstance, processRunning } from '../../adapters/process/index.ts';
import { freePort, makeTlsMaterial, removeTlsMaterial, startEtcd, waitFor } from '../support/etcd.ts';
import type { EtcdCluster, EtcdTlsMaterial } from '../support/etcd.ts';

/**
 * adapters/etcd/first-contact.ts against a real etcd: a restart's first keep-alive and lock read
 * over plain HTTP/2 before the etcd client loads. The lease and the locks a session left are
 * found and renewed; another live agent under the host name, a host with no lease, a lease that
 * is gone and an unreachable etcd answer `none` with the reason; over TLS with client
 * certificates and a password it finds the same.
 */

const TTL = 2;
const claim = (): HostClaim => ({ instance: currentInstance(), running: processRunning });
/** A claim from a process on another system: the session's record says this one. */
const foreignClaim = (): HostClaim => ({
  instance: { ...currentInstance(), id: 'another-instance', system: 'another-system' },
  running: () => true,
});

describe('first contact at a restart (real etcd)', () => {
  let etcd: EtcdCluster;
  const sessions: EtcdSessionImpl[] = [];
  async function session(options: EtcdSessionOptions): Promise<EtcdSessionImpl> {
    const s = await createEtcdSession(options, { hostClaim: claim() });
    sessions.push(s);
    return s;
  }
  const contact = (hostname: string, more: Partial<FirstContactOptions> = {}) =>
    firstContact({
      hosts: etcd.hosts,
      prefix: '/link',
      hostname,
      leaseTtlSeconds: TTL,
      hostClaim: { ...claim(), instance: { ...currentInstance(), id: 'restarted', pid: 1 << 22 } },
      ...more,
    });

  before(async () => {
    etcd = await startEtcd();
  });
  after(async () => {
    for (const s of sessions) await s.close({ revoke: true }).catch(() => undefined);
    await etcd.close();
  });

  it('finds the lease a session left, renews it, and names the locks held under it', async () => {
    const owner = await session({ hosts: etcd.hosts, hostname: 'fc-a', leaseTtlSeconds: TTL });
    const other = await session({ hosts: etcd.hosts, hostname: 'fc-b', leaseTtlSeconds: TTL });
    for (const vip of ['198.18.0.10/32', '2001:db8::10/128']) {
      await waitFor(owner.election(vip).events$, (e) => e.type === 'elected', 3000, `fc-a elected ${vip}`);
    }
    await waitFor(other.election('198.18.0.11/32').events$, (e) => e.type === 'elected', 3000, 'fc-b');
    await waitFor(
      owner.election('198.18.0.11/32').events$,
      (e) => e.type === 'demoted',
      3000,
      'fc-a demoted',
    );
    // What a restarted agent would see: the same host name, another process of this system.
    const before = performance.now();
    const found = await contact('fc-a');
    assert.equal(found.kind, 'kept', JSON.stringify(found));
    assert.equal(found.leaseId, owner.status().leaseId);
    assert.deepEqual([...found.locksHeld].sort(), ['198.18.0.10/32', '2001:db8::10/128']);
    assert.ok(
      found.leaseDeadline >= before + TTL * 1000 - 50 &&
        found.leaseDeadline <= performance.now() + TTL * 1000,
    );
    // The bridge: the same connection keeps the lease alive while the etcd client loads.
    const renewedAt = performance.now();
    const deadline = await found.bridge.renew();
    assert.ok(deadline !== null && deadline >= renewedAt + TTL * 1000 - 50, `deadline ${deadline}`);
    found.bridge.close();
    assert.equal(await found.bridge.renew(), null, 'closed, it renews nothing');
  });

  it('another live agent holding the host name, no stored lease, or a lease gone: none, saying why', async () => {
    const running = await session({ hosts: etcd.hosts, hostname: 'fc-c', leaseTtlSeconds: TTL });
    await running.publishHost({
      hostname: 'fc-c',
      interfaceName: 'eth0',
      mac: '02:00:00:00:00:0c',
      addresses: [],
    });
    const taken = await contact('fc-c', { hostClaim: foreignClaim() });
    assert.equal(taken.kind, 'none', JSON.stringify(taken));
    assert.match(taken.reason, /holds the host name/);
    const nobody = await contact('fc-nobody');
    assert.deepEqual(nobody, { kind: 'none', reason: 'no lease stored for this host' });
    const gone = await session({ hosts: etcd.hosts, hostname: 'fc-d', leaseTtlSeconds: TTL });
    const lease = gone.status().leaseId!;
    await etcd.etcdctl(['lease', 'revoke', BigInt(lease).toString(16)]);
    const revoked = await contact('fc-d');
    assert.equal(revoked.kind, 'none', JSON.stringify(revoked));
    assert.match(revoked.reason, new RegExp(`lease ${lease} is gone|not found`));
  });

  it('an etcd that does not answer: none within the budget', async () => {
    const port = await freePort();
    const started = performance.now();
    const answer = await contact('fc-a', { hosts: [`127.0.0.1:${port}`], budgetMs: 300 });
    assert.equal(answer.kind, 'none');
    assert.ok(performance.now() - started < 1000, `${performance.now() - started} ms`);
  });
});

describe('first contact over TLS with user/password (real etcd)', () => {
  let tls: EtcdTlsMaterial;
  let etcd: EtcdCluster;
  let owner: EtcdSessionImpl | undefined;

  before(async () => {
    tls = await makeTlsMaterial();
    etcd = await startEtcd({ tls });
    await etcd.etcdctl(['user', 'add', 'root:pw']);
    await etcd.etcdctl(['auth', 'enable']);
  });
  after(async () => {
    await owner?.close({ revoke: true });
    await etcd.close();
    removeTlsMaterial(tls);
  });

  it('finds the lease and the locks; a wrong password answers none', async () => {
    const tlsFiles = { certFile: tls.clientCertFile, keyFile: tls.clientKeyFile, caFile: tls.caFile };
    owner = await createEtcdSession(
      {
        hosts: etcd.endpoints,
        hostname: 'fc-tls',
        leaseTtlSeconds: TTL,
        tls: tlsFiles,
        auth: { username: 'root', password: 'pw' },
      },
      { hostClaim: claim() },
    );
    await waitFor(owner.election('198.18.0.20/32').events$, (e) => e.type === 'elected', 3000, 'elected');
    const base = {
      hosts: etcd.endpoints,
      prefix: '/link',
      hostname: 'fc-tls',
      leaseTtlSeconds: TTL,
      tls: tlsFiles,
      hostClaim: { ...claim(), instance: { ...currentInstance(), id: 'restarted', pid: 1 << 22 } },
    };
    const found = await firstContact({ ...base, auth: { username: 'root', password: 'pw' } });
    assert.equal(found.kind, 'kept', JSON.stringify(found));
    assert.deepEqual(found.locksHeld, ['198.18.0.20/32']);
    assert.notEqual(
      await found.bridge.renew(),
      null,
      'the bridge keeps the lease alive over TLS, with the token',
    );
    found.bridge.close();
    const refused = await firstContact({ ...base, auth: { username: 'root', password: 'wrong' } });
    assert.equal(refused.kind, 'none');
  });
});
