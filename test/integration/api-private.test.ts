import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { deleteLink, startDaemon, type Daemon } from '../../lab/daemon.ts';
import {
  NetnsCommandError,
  createNamespace,
  deleteNamespace,
  execIn,
  uniquePrefix,
} from '../../lab/netns.ts';
import { freePort, startEtcd, type EtcdCluster } from '../support/etcd.ts';

/**
 * The API is private unless the operator opens it: an agent started with the defaults answers on
 * loopback only, so another host on its segment (a namespace at the other end of its veth) cannot
 * reach it; the same agent with LISTEN_ADDRESS and PASSWORD can, which proves the path works.
 * Run under scripts/in-netns.sh.
 */

const AGENT_ADDRESS = '198.18.3.1';
const PEER_ADDRESS = '198.18.3.2';

/** What `curl` from the peer namespace gets: an HTTP status, or `refused`. */
async function fromPeer(ns: string, url: string, auth?: string): Promise<string> {
  const args = ['-s', '-o', '/dev/null', '-w', '%{http_code}', '--max-time', '3'];
  if (auth) args.push('-u', auth);
  try {
    const { stdout } = await execIn(ns, 'curl', [...args, url]);
    return stdout.trim();
  } catch (err) {
    // curl exits 7 when the connection is refused.
    if (err instanceof NetnsCommandError && err.exitCode === 7) return 'refused';
    throw err;
  }
}

describe('the API is private by default', { timeout: 90_000 }, () => {
  const peerNs = `${uniquePrefix('lkt')}peer`;
  let etcd: EtcdCluster;
  const daemons: Daemon[] = [];

  before(async () => {
    etcd = await startEtcd();
    await createNamespace(peerNs);
    execFileSync('ip', ['link', 'add', 'privapi0', 'type', 'veth', 'peer', 'name', 'privapi1']);
    execFileSync('ip', ['link', 'set', 'privapi1', 'netns', peerNs]);
    execFileSync('ip', ['addr', 'add', `${AGENT_ADDRESS}/24`, 'dev', 'privapi0']);
    execFileSync('ip', ['link', 'set', 'privapi0', 'up']);
    await execIn(peerNs, 'ip', ['addr', 'add', `${PEER_ADDRESS}/24`, 'dev', 'privapi1']);
    await execIn(peerNs, 'ip', ['link', 'set', 'privapi1', 'up']);
  });

  after(async () => {
    await Promise.all(daemons.map((d) => d.stop()));
    deleteLink('privapi0');
    await deleteNamespace(peerNs);
    await etcd?.stop();
  });

  it('a default agent answers on loopback only', async () => {
    const port = await freePort();
    const daemon = await startDaemon({
      hostname: 'private-host',
      interfaceName: 'privapi0',
      etcdHosts: etcd.hosts,
      port,
    });
    daemons.push(daemon);
    assert.ok(
      daemon.logs.some((line) => line.includes(`http://127.0.0.1:${port}`)),
      'serves on 127.0.0.1',
    );
    assert.equal(await fromPeer(peerNs, `http://${AGENT_ADDRESS}:${port}/healthz`), 'refused');
    const local = execFileSync('curl', [
      '-s',
      '-o',
      '/dev/null',
      '-w',
      '%{http_code}',
      `${daemon.url}/healthz`,
    ]);
    assert.match(String(local), /^(200|503)$/);
    await daemon.stop();
  });

  it('LISTEN_ADDRESS with PASSWORD opens it to other hosts, behind auth', async () => {
    const port = await freePort();
    const daemon = await startDaemon({
      hostname: 'open-host',
      interfaceName: 'privapi0',
      etcdHosts: etcd.hosts,
      port,
      user: 'admin',
      password: 'secret',
      env: { LISTEN_ADDRESS: '0.0.0.0' },
    });
    daemons.push(daemon);
    assert.equal(await fromPeer(peerNs, `http://${AGENT_ADDRESS}:${port}/ips`), '401');
    assert.equal(await fromPeer(peerNs, `http://${AGENT_ADDRESS}:${port}/ips`, 'admin:secret'), '200');
    await daemon.stop();
  });
});
