import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import type { VipView } from '../../actors/types.ts';
import { httpCall } from '../../lab/api.ts';
import { createVethPair, deleteLink, startDaemon } from '../../lab/daemon.ts';
import type { Daemon } from '../../lab/daemon.ts';
import { freePort, makeTlsMaterial, removeTlsMaterial, startEtcd } from '../support/etcd.ts';
import type { EtcdCluster, EtcdTlsMaterial } from '../support/etcd.ts';
import { until } from '../support/until.ts';

/**
 * A configuration error is not an outage (issue 12, part 4): a real `linkctl agent` under the
 * default `at-least-one` policy, with a VIP in its local cache (STATE_DIR/vips.json), against a
 * real etcd over TLS with auth enabled. With a wrong ETCD_CACERT or a wrong ETCD_PASSWORD it must
 * never bind the cached VIP (the kernel is sampled every 100 ms for 10 s), never write a lock,
 * answer /healthz with 503 naming the configuration error, and say why in one log line. Restarted
 * with the right settings it joins the election and binds the VIP.
 * Run under scripts/in-netns.sh (it creates a veth pair in the current namespace).
 */

const execFileAsync = promisify(execFile);
const IFACE = 'lcfg0';
const PEER = 'lcfg1';
const VIP = '198.18.0.150/32';
const VIP_ID = 'vip-00000000-0000-4000-8000-000000000150';
const HOSTNAME = 'cfg-a';
const SAMPLE_MS = 100;
const WATCH_MS = 10_000;

async function bound(): Promise<boolean> {
  const { stdout } = await execFileAsync('ip', ['-o', 'addr', 'show', 'dev', IFACE]);
  return stdout.includes(` ${VIP} `);
}

/** Samples the kernel every SAMPLE_MS for `ms`; resolves with how many samples saw the VIP. */
async function samplesBound(ms: number): Promise<{ samples: number; bound: number }> {
  const end = Date.now() + ms;
  let samples = 0;
  let seen = 0;
  while (Date.now() < end) {
    const tick = Date.now();
    samples++;
    if (await bound()) seen++;
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, SAMPLE_MS - (Date.now() - tick))));
  }
  return { samples, bound: seen };
}

describe(
  'an etcd configuration error is not an outage (real agent, TLS etcd with auth)',
  { timeout: 120_000 },
  () => {
    let tls: EtcdTlsMaterial;
    let foreign: EtcdTlsMaterial;
    let etcd: EtcdCluster;
    let stateDir: string;
    const daemons: Daemon[] = [];

    before(async () => {
      tls = await makeTlsMaterial();
      foreign = await makeTlsMaterial();
      etcd = await startEtcd({ tls });
      await etcd.etcdctl(['user', 'add', 'root:pw']);
      await etcd.etcdctl(['auth', 'enable']);
      // The VIP is this host's configuration in etcd too, so the restart with good settings has it.
      await etcd.etcdctl([
        'put',
        `/link/hosts/${HOSTNAME}/${VIP_ID}`,
        JSON.stringify({ id: VIP_ID, ip: VIP, checks: [], healthcheck_interval: 0 }),
      ]);
      deleteLink(IFACE);
      createVethPair(IFACE, PEER);
      stateDir = mkdtempSync(join(tmpdir(), 'link-cfg-'));
    });

    after(async () => {
      for (const d of daemons) await d.stop();
      deleteLink(IFACE);
      await etcd?.close();
      if (tls) removeTlsMaterial(tls);
      if (foreign) removeTlsMaterial(foreign);
      if (stateDir) rmSync(stateDir, { recursive: true, force: true });
    });

    async function agent(env: Record<string, string>): Promise<Daemon> {
      // Every run starts from the cache alone, as an agent whose etcd has never been reached.
      writeFileSync(
        join(stateDir, 'vips.json'),
        JSON.stringify([{ id: VIP_ID, ip: VIP, checks: [], healthcheck_interval: 0 }]),
      );
      const daemon = await startDaemon({
        hostname: HOSTNAME,
        interfaceName: IFACE,
        etcdHosts: etcd.endpoints,
        port: await freePort(),
        env: {
          STATE_DIR: stateDir,
          FAULT_POLICY: 'at-least-one',
          ETCD_CACERT: tls.caFile,
          ETCD_TLS_CERT: tls.clientCertFile,
          ETCD_TLS_KEY: tls.clientKeyFile,
          ETCD_USER: 'root',
          ETCD_PASSWORD: 'pw',
          ...env,
        },
      });
      daemons.push(daemon);
      return daemon;
    }

    async function get(daemon: Daemon, path: string) {
      return httpCall({ host: '127.0.0.1', port: Number(new URL(daemon.url).port) }, 'GET', path);
    }

    async function assertStaysOut(daemon: Daemon, code: string, logPattern: RegExp): Promise<void> {
      // From the start on, the cached VIP is never bound while the agent keeps retrying ...
      const sampled = await samplesBound(WATCH_MS);
      assert.ok(sampled.samples >= WATCH_MS / SAMPLE_MS / 2, `only ${sampled.samples} samples`);
      assert.equal(sampled.bound, 0, `the VIP was bound in ${sampled.bound} of ${sampled.samples} samples`);
      // ... and it is in STANDBY: etcd's refusal was a `demoted`, not a `fault`.
      const res = await get(daemon, '/ips');
      const ips = (res.json as { ips?: VipView[] }).ips ?? [];
      assert.deepEqual(
        ips.map((ip) => [ip.ip, ip.status]),
        [[VIP, 'STANDBY']],
      );
      assert.equal(daemon.child.exitCode, null, 'the agent keeps running');

      const health = await get(daemon, '/healthz');
      assert.equal(health.status, 503, health.text);
      const body = health.json as { configError?: { code: string; message: string }; reasons?: string[] };
      assert.equal(body.configError?.code, code, JSON.stringify(body));
      assert.ok(
        body.reasons?.some((r) => r.startsWith(`etcd configuration error (${code})`)),
        JSON.stringify(body),
      );

      const lines = daemon.logs.filter((l) => l.includes("etcd refuses this agent's settings ("));
      assert.equal(lines.length, 1, `one line says why:\n${daemon.logs.join('\n')}`);
      const message = (JSON.parse(lines[0]!) as { message: string }).message;
      assert.match(message, logPattern);
      assert.equal((await etcd.etcdctl(['get', '--prefix', '--keys-only', '/link/default/'])).trim(), '');
      assert.equal((await daemon.stop()) ?? 0, 0);
    }

    it('a wrong ETCD_CACERT: the cached VIP is never bound, /healthz 503, the log names the CA', async () => {
      const daemon = await agent({ ETCD_CACERT: foreign.caFile });
      const escaped = foreign.caFile.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
      await assertStaysOut(
        daemon,
        'ETCD_TLS',
        new RegExp(
          `certificate signed by unknown authority: .*not signed by the CA in ETCD_CACERT ${escaped}`,
        ),
      );
    });

    it('a wrong ETCD_PASSWORD: the same, the log names the user', async () => {
      const daemon = await agent({ ETCD_PASSWORD: 'wrong' });
      await assertStaysOut(daemon, 'ETCD_AUTH', /etcd auth: authentication failed for user "root"/);
    });

    it('restarted with the right settings it joins the election and binds the VIP', async () => {
      const daemon = await agent({});
      await until('the VIP bound', () => bound(), 5000);
      const health = await get(daemon, '/healthz');
      assert.equal(health.status, 200, health.text);
    });
  },
);
