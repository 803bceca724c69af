import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { join } from 'node:path';
import { makeKeys } from '../../adapters/etcd/keys.ts';
import type { VipView } from '../../actors/types.ts';
import { httpCall } from '../../lab/api.ts';
import type { Client } from '../../lab/client.ts';
import { Lab } from '../../lab/lab.ts';
import { run, spawnIn } from '../../lab/netns.ts';
import { until } from '../support/until.ts';

/**
 * Issue 15 parts 3 and 4 with LinK v2's own binaries (`LINK_V2_DIR`, the folder of `link` and
 * `link-client` v2.0.3; CI sets it to ../shared/compat/scalingo-link-v2.0.3): a host rolled back
 * from LinK to v2 and forward again after a kill -9 keeps its VIP each way and v2 does not panic
 * (LinK's lease id used to sit under hosts/<host>/, which v2 reads as VIPs); a mixed cluster (v2
 * on h1, LinK on h2 and h3) through API failover, SIGTERM and kill -9 each way, with the lab's
 * client measuring the gap; a stale v2 membership key is no failover target (409 at once).
 * v2 runs with its defaults: it polls every 3 s and its lease is 15 s.
 */

const V2_DIR = process.env['LINK_V2_DIR'];
const VIP = '198.18.0.100/32';
const keys = makeKeys('/link');

/** A v2 agent on a lab host: its own process (the lab knows only LinK agents), log in the lab's folder. */
class V2Agent {
  private readonly child: ChildProcess;
  private readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  constructor(
    private readonly lab: Lab,
    readonly host: string,
  ) {
    const h = lab.host(host);
    const log = createWriteStream(join(lab.dir, `${host}-v2.log`), { flags: 'a' });
    this.child = spawnIn(h.ns, join(V2_DIR!, 'link'), [], {
      env: {
        PATH: process.env['PATH'] ?? '/usr/bin:/bin',
        INTERFACE: 'eth0',
        HOSTNAME: host,
        ETCD_HOSTS: lab.etcd.map((m) => `http://${m.ip}:2379`).join(','),
        PORT: '1313',
      },
    });
    let output = '';
    const keep = (chunk: Buffer) => {
      output = (output + chunk.toString()).slice(-20_000);
      log.write(chunk);
    };
    this.child.stdout!.on('data', keep);
    this.child.stderr!.on('data', keep);
    this.output = () => output;
    this.exited = new Promise((resolve) =>
      this.child.once('exit', (code, signal) => resolve({ code, signal })),
    );
  }
  readonly output: () => string;
  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }
  async stop(signal: NodeJS.Signals): Promise<void> {
    if (this.running) this.child.kill(signal);
    await this.exited;
  }
  /** `link-client` against this agent (it exits 0 even on errors: callers read what it prints). */
  async cli(args: string[]): Promise<string> {
    const { stdout, stderr } = await run('ip', [
      'netns',
      'exec',
      this.lab.host(this.host).ns,
      join(V2_DIR!, 'link-client'),
      '--host',
      '127.0.0.1:1313',
      ...args,
    ]);
    return stdout + stderr;
  }
  /** The VIPs v2 lists: id and status (its table, colours stripped). */
  async list(): Promise<{ id: string; ip: string; status: string }[]> {
    // eslint-disable-next-line no-control-regex
    const text = (await this.cli(['list'])).replace(/\x1b\[[0-9;]*m/g, '');
    return [...text.matchAll(/\|\s*(vip-[0-9a-f-]+)\s*\|\s*(\S+)\s*\|\s*(\w+)\s*\|/g)].map((m) => ({
      id: m[1]!,
      ip: m[2]!,
      status: m[3]!,
    }));
  }
  async serving(): Promise<boolean> {
    return (await this.cli(['list']).catch(() => '')).includes('STATUS');
  }
}

async function lockOwner(lab: Lab): Promise<string | null> {
  const out = (await lab.etcdctl(['get', '--print-value-only', keys.lock(VIP)])).trim();
  return out.length === 0 ? null : out;
}

/** Every key under `<prefix>/hosts/<host>/`: v2 reads each as a VIP record. */
async function hostKeys(lab: Lab, host: string): Promise<string[]> {
  const out = await lab.etcdctl(['get', '--prefix', '--keys-only', keys.hostPrefix(host)]);
  return out.split('\n').filter((line) => line.length > 0);
}

/** The moment the lock names `who` (any host when omitted) and the client got an answer after it. */
async function settled(
  lab: Lab,
  client: Client,
  who: (owner: string) => boolean,
  timeoutMs: number,
): Promise<string> {
  const owner = await until(
    'the lock to move',
    async () => {
      const o = await lockOwner(lab);
      return o !== null && who(o) ? o : null;
    },
    timeoutMs,
  );
  await client.waitForReply(timeoutMs);
  return owner;
}

const measured: string[] = [];
function note(line: string): void {
  measured.push(line);
  console.log(`# ${line}`);
}

describe(
  'LinK v2 compatibility, rollback and mixed clusters (real v2 binaries)',
  {
    skip: V2_DIR ? false : 'LINK_V2_DIR is not set (the folder of the v2 link and link-client binaries)',
    timeout: 600_000,
  },
  () => {
    after(() => {
      if (measured.length > 0) console.log(`# compat-v2-cluster measured:\n# ${measured.join('\n# ')}`);
    });

    describe('rollback LinK -> v2 -> LinK on one host after kill -9', () => {
      let lab: Lab;
      let v2: V2Agent | undefined;
      before(async () => {
        lab = await Lab.up({ name: `vm-rb-${process.pid}`, hosts: 1 });
      });
      after(async () => {
        await v2?.stop('SIGKILL');
        await lab?.down();
      });

      it('keeps the VIP each way; v2 starts (no panic) and lists it; a stale v2 key is no failover target', async () => {
        // An earlier LinK release's lease key, as it lay under hosts/<host>/: LinK moves it at start.
        const added = await lab.api<VipView>('h1', 'POST', '/ips', { ip: VIP });
        assert.equal(added.status, 201, JSON.stringify(added.body));
        const id = added.body.id;
        await until('h1 to bind the VIP', async () => (await lab.holders(VIP)).includes('h1'), 15_000);
        assert.deepEqual(
          (await hostKeys(lab, 'h1')).filter((k) => !k.startsWith(`${keys.hostPrefix('h1')}vip-`)),
          [],
          'nothing but VIP records under hosts/h1/',
        );
        const client = await lab.client(VIP);
        try {
          await client.waitForReply(10_000);

          // LinK -> v2 after kill -9.
          const t1 = Date.now();
          await lab.signalAgent('h1', 'SIGKILL');
          v2 = new V2Agent(lab, 'h1');
          const listed = await until(
            'v2 to list the VIP ACTIVATED',
            async () => {
              if (!v2!.running) assert.fail(`v2 exited: ${v2!.output().slice(-2000)}`);
              const vips = await v2!.list().catch(() => []);
              return vips.find((v) => v.ip === VIP && v.status === 'ACTIVATED') ?? null;
            },
            30_000,
            () => v2!.output().slice(-500),
          );
          assert.equal(listed.id, id, 'v2 reads the record LinK wrote');
          await until(
            'h1 to hold the VIP under v2',
            async () => (await lab.holders(VIP)).includes('h1'),
            10_000,
          );
          await client.waitForReply(10_000);
          const toV2 = client.report(t1);
          assert.ok(v2.running, 'v2 still runs');
          assert.doesNotMatch(v2.output(), /panic|invalid json/);
          note(`rollback LinK -> v2 after kill -9: client's longest gap ${toV2.longestGap.ms.toFixed(0)} ms`);

          // v2 -> LinK after kill -9: v2's address stays bound (no handler); LinK reuses v2's lease.
          await until(
            'v2 to rewrite its host record',
            async () => {
              const out = await lab.etcdctl(['get', '--print-value-only', keys.lease('h1')]);
              return out.includes('data_version');
            },
            10_000,
          );
          const t2 = Date.now();
          await v2.stop('SIGKILL');
          await lab.startAgent('h1');
          const view = await until(
            'LinK to own the VIP again',
            async () => {
              const res = await lab.api<{ ips: (VipView & { owner?: boolean })[] }>('h1', 'GET', '/ips');
              return res.body.ips.find((v) => v.ip === VIP && v.status === 'ACTIVATED') ?? null;
            },
            20_000,
          );
          assert.equal(view.id, id);
          await client.waitForReply(10_000);
          const back = client.report(t2);
          assert.equal(await lockOwner(lab), 'h1');
          assert.deepEqual(await lab.holders(VIP), ['h1']);
          note(`rollback v2 -> LinK after kill -9: client's longest gap ${back.longestGap.ms.toFixed(0)} ms`);
          assert.deepEqual(
            (await hostKeys(lab, 'h1')).filter((k) => !k.startsWith(`${keys.hostPrefix('h1')}vip-`)),
            [],
          );

          // A v2 host gone for good: its lease-less key stays (v2 never deletes it on a crash),
          // its host record names a lease etcd no longer knows.
          await lab.etcdctl([
            'put',
            keys.membership(VIP, 'v2-gone'),
            JSON.stringify({ updated_at: new Date(Date.now() - 60_000).toISOString() }),
          ]);
          await lab.etcdctl([
            'put',
            keys.lease('v2-gone'),
            '{"hostname":"v2-gone","lease_id":12345,"data_version":1}',
          ]);
          const started = performance.now();
          const answer = await httpCall(
            { socketPath: lab.host('h1').socket },
            'POST',
            `/ips/${id}/failover`,
            {
              headers: { accept: 'application/json' },
              timeoutMs: 30_000,
            },
          );
          const ms = performance.now() - started;
          assert.equal(answer.status, 409, answer.text);
          assert.equal((answer.json as { code: string }).code, 'NO_OTHER_CANDIDATE');
          assert.match(
            answer.text,
            /v2-gone: its membership key has no lease and the lease its host record names has ended/,
          );
          assert.ok(ms < 2000, `answered at once (${ms.toFixed(0)} ms), not after HANDOVER_TIMEOUT`);
          assert.deepEqual(await lab.holders(VIP), ['h1']);
          note(`stale v2 membership key: 409 NO_OTHER_CANDIDATE in ${ms.toFixed(0)} ms, VIP kept`);
        } finally {
          await client.stop();
        }
      });
    });

    describe('mixed cluster: v2 on h1, LinK on h2 and h3', () => {
      let lab: Lab;
      let v2: V2Agent;
      const ids = new Map<string, string>();
      let client: Client;
      const linkHosts = ['h2', 'h3'];

      before(async () => {
        lab = await Lab.up({ name: `vm-mx-${process.pid}`, hosts: 3 });
        await lab.signalAgent('h1', 'SIGKILL');
        v2 = new V2Agent(lab, 'h1');
        await until(
          'v2 to serve',
          () => v2.serving(),
          20_000,
          () => v2.output().slice(-500),
        );
        for (const host of linkHosts) {
          const res = await lab.api<VipView>(host, 'POST', '/ips', { ip: VIP });
          assert.equal(res.status, 201, JSON.stringify(res.body));
          ids.set(host, res.body.id);
        }
        await v2.cli(['add', VIP]);
        const listed = await until(
          'v2 to list the VIP',
          async () => (await v2.list()).find((v) => v.ip === VIP),
          10_000,
        );
        ids.set('h1', listed.id);
        client = await lab.client(VIP);
        await settled(lab, client, () => true, 20_000);
      });
      after(async () => {
        await client?.stop();
        await v2?.stop('SIGKILL');
        await lab?.down();
      });

      /** A new v2 agent on h1, after the last one ended; its VIP record is the same. */
      async function restartV2(): Promise<void> {
        await v2.stop('SIGKILL');
        v2 = new V2Agent(lab, 'h1');
        await until(
          'v2 to serve',
          () => v2.serving(),
          20_000,
          () => v2.output().slice(-500),
        );
      }

      /** A LinK host owns the VIP (moving it off v2 with v2's own API failover when needed). */
      async function linkOwner(): Promise<string> {
        const owner = await lockOwner(lab);
        if (owner !== null && owner !== 'h1') return owner;
        await v2.cli(['failover', ids.get('h1')!]);
        return settled(lab, client, (o) => o !== 'h1', 20_000);
      }

      /** v2 owns the VIP (moved there with LinK's API failover, the other LinK host stopped, when needed). */
      async function v2Owner(): Promise<void> {
        const owner = await lockOwner(lab);
        if (owner === 'h1') return;
        const other = linkHosts.find((h) => h !== owner)!;
        await lab.signalAgent(other, 'SIGTERM');
        const res = await lab.api(owner!, 'POST', `/ips/${ids.get(owner!)}/failover`);
        assert.equal(res.status, 204, JSON.stringify(res.body));
        await settled(lab, client, (o) => o === 'h1', 10_000);
        await lab.startAgent(other);
      }

      async function oneHolder(what: string): Promise<string> {
        return until(
          `one host to hold the VIP (${what})`,
          async () => {
            const holders = await lab.holders(VIP);
            return holders.length === 1 ? holders[0] : null;
          },
          20_000,
          () => 'several or none',
        );
      }

      it("v2's membership key is lease-less and not refreshed; the lease its host record names lives", async () => {
        const read = async () => lab.etcdctl(['get', '--print-value-only', keys.membership(VIP, 'h1')]);
        const first = await read();
        assert.match(first, /"updated_at"/);
        const record = await lab.etcdctl(['get', '--print-value-only', keys.lease('h1')]);
        const lease = /"lease_id":(\d+)/.exec(record)?.[1];
        assert.ok(lease, record);
        const ttl = await lab.etcdctl(['lease', 'timetolive', BigInt(lease).toString(16)]);
        assert.match(ttl, /remaining\(\d+s\)/, ttl);
        // Over two of v2's polls (3 s): updated_at stays what v2 wrote when it started the VIP.
        const t0 = Date.now();
        await until('two v2 polls', () => Date.now() - t0 > 6500, 10_000);
        note(
          `v2 membership key after ${Date.now() - t0} ms: ${(await read()) === first ? 'unchanged' : 'rewritten'} (${first.trim()})`,
        );
      });

      it('API failover LinK -> v2: the lock freed and v2 woken at once (not its 3 s poll); one owner', async () => {
        const owner = await linkOwner();
        // LinK candidates are offered first: with the other one stopped, v2 is the only one.
        const other = linkHosts.find((h) => h !== owner)!;
        await lab.signalAgent(other, 'SIGTERM');
        await oneHolder('before');
        const t0 = Date.now();
        const res = await lab.api(owner, 'POST', `/ips/${ids.get(owner)}/failover`);
        const answeredMs = Date.now() - t0;
        assert.equal(res.status, 204, JSON.stringify(res.body));
        assert.equal(await settled(lab, client, (o) => o === 'h1', 10_000), 'h1');
        assert.equal(await oneHolder('after'), 'h1');
        const report = client.report(t0);
        note(
          `API failover LinK ${owner} -> v2 h1: answered in ${answeredMs} ms; client's longest gap ${report.longestGap.ms.toFixed(0)} ms, ${report.duplicates} duplicates`,
        );
        assert.ok(report.longestGap.ms < 1500, `one round trip, not v2's poll: ${report.longestGap.ms} ms`);
        await lab.startAgent(other);
      });

      it('API failover v2 -> LinK (v2 frees the lock and wakes its peers); one owner once v2 has polled', async () => {
        await v2Owner();
        await oneHolder('before');
        const t0 = Date.now();
        const out = await v2.cli(['failover', ids.get('h1')!]);
        const owner = await settled(lab, client, (o) => o !== 'h1', 10_000);
        assert.ok(linkHosts.includes(owner), out);
        await oneHolder('after (v2 unbinds at its next poll)');
        const report = client.report(t0);
        note(
          `API failover v2 h1 -> LinK ${owner}: client's longest gap ${report.longestGap.ms.toFixed(0)} ms, ${report.duplicates} duplicates`,
        );
      });

      it('SIGTERM of the LinK owner -> v2 (the other LinK host stopped); one owner', async () => {
        const owner = await linkOwner();
        const other = linkHosts.find((h) => h !== owner)!;
        await lab.signalAgent(other, 'SIGTERM');
        await oneHolder('before');
        const t0 = Date.now();
        await lab.signalAgent(owner, 'SIGTERM');
        assert.equal(await settled(lab, client, (o) => o === 'h1', 20_000), 'h1');
        assert.equal(await oneHolder('after'), 'h1');
        const report = client.report(t0);
        note(`SIGTERM LinK ${owner} -> v2 h1: client's longest gap ${report.longestGap.ms.toFixed(0)} ms`);
        await Promise.all([lab.startAgent(owner), lab.startAgent(other)]);
      });

      it("kill -9 of the v2 owner -> LinK after v2's lease (15 s); v2's address stays bound until v2 starts again", async () => {
        await v2Owner();
        await oneHolder('before');
        const t0 = Date.now();
        await v2.stop('SIGKILL');
        const owner = await settled(lab, client, (o) => o !== 'h1', 30_000);
        const took = Date.now() - t0;
        const holders = await lab.holders(VIP);
        await restartV2();
        assert.equal(await oneHolder('after v2 started again'), owner);
        const report = client.report(t0);
        note(
          `kill -9 v2 h1 -> LinK ${owner}: lock taken after ${took} ms; client's longest gap ${report.longestGap.ms.toFixed(0)} ms (h1's kernel kept answering); holders then: ${holders.join(', ')}`,
        );
      });

      it('kill -9 of the LinK owner -> v2 (the other LinK host stopped); one owner', async () => {
        const owner = await linkOwner();
        const other = linkHosts.find((h) => h !== owner)!;
        await lab.signalAgent(other, 'SIGTERM');
        await oneHolder('before');
        const t0 = Date.now();
        await lab.signalAgent(owner, 'SIGKILL');
        assert.equal(await settled(lab, client, (o) => o === 'h1', 30_000), 'h1');
        assert.equal(await oneHolder('after'), 'h1');
        const report = client.report(t0);
        note(`kill -9 LinK ${owner} -> v2 h1: client's longest gap ${report.longestGap.ms.toFixed(0)} ms`);
        await Promise.all([lab.startAgent(owner), lab.startAgent(other)]);
      });

      it('SIGTERM of the v2 owner -> LinK (v2 has no handler: as kill -9)', async () => {
        assert.equal(await lockOwner(lab), 'h1');
        await oneHolder('before');
        const t0 = Date.now();
        await v2.stop('SIGTERM');
        const owner = await settled(lab, client, (o) => o !== 'h1', 30_000);
        const took = Date.now() - t0;
        const holders = await lab.holders(VIP);
        await restartV2();
        assert.equal(await oneHolder('after v2 started again'), owner);
        const report = client.report(t0);
        note(
          `SIGTERM v2 h1 -> LinK ${owner}: lock taken after ${took} ms; client's longest gap ${report.longestGap.ms.toFixed(0)} ms; holders then: ${holders.join(', ')}`,
        );
      });
    });
  },
);
