import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createEtcdSession, EtcdAuthError, EtcdConfigError } from '../../adapters/etcd/index.ts';
import type { EtcdSessionImpl, EtcdSessionOptions } from '../../adapters/etcd/index.ts';
import type { ElectionEvent } from '../../adapters/etcd/types.ts';
import { makeTlsMaterial, removeTlsMaterial, startEtcd, waitFor } from '../support/etcd.ts';
import type { EtcdCluster, EtcdTlsMaterial } from '../support/etcd.ts';

const decided = (e: ElectionEvent) => e.type === 'elected' || e.type === 'demoted';

describe('etcd over TLS with user/password (real etcd)', () => {
  let tls: EtcdTlsMaterial;
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
    etcd = await startEtcd({ tls });
    await etcd.etcdctl(['user', 'add', 'root:pw']);
    await etcd.etcdctl(['auth', 'enable']);
  });
  after(async () => {
    for (const s of sessions) await s.close({ revoke: true });
    await etcd.close();
    removeTlsMaterial(tls);
  });

  it('connects with client certificates and user/password, and elects one owner', async () => {
    const a = await session(options('tls-a'));
    const b = await session(options('tls-b'));
    const [ea, eb] = [a.election('198.18.0.10/32'), b.election('198.18.0.10/32')];
    const first = await Promise.all([ea, eb].map((e) => waitFor(e.events$, decided, 3000, 'decision')));
    assert.deepEqual(first.map((e) => e.type).sort(), ['demoted', 'elected']);
    const vip = { id: 'vip-00000000-0000-4000-8000-000000000001', ip: '198.18.0.10/32', checks: [] };
    await a.config.put(vip);
    assert.deepEqual(await a.config.list(), [vip]);
    const owner = (await ea.owner()) === 'tls-a' ? a : b;
    const other = owner === a ? eb : ea;
    const takeover = waitFor(other.events$, (e) => e.type === 'elected', 1000, 'takeover');
    await owner.close({ revoke: true });
    await takeover;
    await a.close({ revoke: true });
    await b.close({ revoke: true });
  });

  it('a wrong password stops the session at once with EtcdAuthError', async () => {
    await assert.rejects(createEtcdSession(options('tls-bad', 'nope')), (err: unknown) => {
      assert.ok(err instanceof EtcdAuthError, String(err));
      assert.equal(err.code, 'ETCD_AUTH');
      assert.equal(err.recoverable, false);
      return true;
    });
  });

  it('an unreadable certificate file is an EtcdConfigError', async () => {
    await assert.rejects(
      createEtcdSession({ ...options('tls-x'), tls: { caFile: '/nonexistent/ca.pem' } }),
      (err: unknown) => err instanceof EtcdConfigError && err.code === 'ETCD_BAD_CONFIG',
    );
  });
});
