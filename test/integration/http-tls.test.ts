import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { get as httpGet } from 'node:http';
import { get as httpsGet } from 'node:https';
import { createVethPair, deleteLink, startDaemon, type Daemon } from '../../lab/daemon.ts';
import {
  freePort,
  makeTlsMaterial,
  removeTlsMaterial,
  startEtcd,
  type EtcdCluster,
  type EtcdTlsMaterial,
} from '../support/etcd.ts';

/** The API over HTTPS (TLS_CERT, TLS_KEY) on the real daemon; plain HTTP is then refused. */

describe('API over HTTPS', { timeout: 60_000 }, () => {
  let etcd: EtcdCluster;
  let tls: EtcdTlsMaterial;
  let daemon: Daemon;
  let port: number;

  before(async () => {
    etcd = await startEtcd();
    tls = await makeTlsMaterial();
    createVethPair('tlsvip0', 'tlsvip1');
    port = await freePort();
    daemon = await startDaemon({
      hostname: 'tls-host',
      interfaceName: 'tlsvip0',
      etcdHosts: etcd.hosts,
      port,
      user: 'admin',
      password: 'secret',
      env: { TLS_CERT: tls.serverCertFile, TLS_KEY: tls.serverKeyFile },
    });
  });

  after(async () => {
    await daemon?.stop();
    deleteLink('tlsvip0');
    await etcd?.close();
    if (tls) removeTlsMaterial(tls);
  });

  it('answers over HTTPS with basic auth', async () => {
    const status = await new Promise<number>((resolve, reject) => {
      httpsGet(
        { host: '127.0.0.1', port, path: '/ips', ca: readFileSync(tls.caFile), auth: 'admin:secret' },
        (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        },
      ).on('error', reject);
    });
    assert.equal(status, 200);
  });

  it('does not speak plain HTTP on the TLS port', async () => {
    const outcome = await new Promise<string>((resolve) => {
      httpGet({ host: '127.0.0.1', port, path: '/healthz', timeout: 3000 }, (res) => {
        res.resume();
        resolve(`status ${res.statusCode}`);
      })
        .on('error', () => resolve('refused'))
        .on('timeout', function (this: { destroy(): void }) {
          this.destroy();
        });
    });
    assert.ok(outcome === 'refused' || outcome === 'status 400', outcome);
  });
});
