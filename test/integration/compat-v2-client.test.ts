import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Lab } from '../../lab/lab.ts';
import { httpCall, type HttpAnswer } from '../../lab/api.ts';
import { addAddress, connectToBridge, createNamespace, execIn } from '../../lab/netns.ts';
import { until } from '../support/until.ts';

/**
 * LinK v2's own `link-client` (Scalingo/link v2.0.3, LINK_V2_DIR) against LinK and, for
 * comparison, against the real v2 agent: each command runs against both, with the same VIPs in
 * the same order, and the outputs must be the same once ids and the server's version are
 * normalised. Where LinK answers differently on purpose (docs/migrating-from-v2.md, "API
 * differences"), the test asserts each side's exact line. Then the requests v2 users make
 * without link-client: curl -d (no JSON Content-Type) and posting back what GET returned.
 *
 * Two labs, so the two clusters share nothing: `va-link` (2 LinK hosts, its etcd) and `va-v2`
 * (its etcd and 2 namespaces on its bridge running v2's `link`). Same addresses in both.
 * Run under scripts/in-netns.sh, as root (v2 binds addresses).
 */

const V2_DIR = process.env['LINK_V2_DIR'];
const USER = 'admin';
const PASSWORD = 'secret';
const AUTH = `Basic ${Buffer.from(`${USER}:${PASSWORD}`).toString('base64')}`;
const ETCD = '198.18.0.2:2379';
const VIP = '198.18.0.100/32';
const SOLO = '198.18.0.101/32';
const ID = /vip-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/g;
const RED = (text: string) => `ESC[31mError: ${text}ESC[0m`;

type Side = 'link' | 'v2';
const SIDES: readonly Side[] = ['link', 'v2'];

interface Cluster {
  /** Network namespace of each host (h1, h2): link-client runs there, against 127.0.0.1:1313. */
  ns: Record<'h1' | 'h2', string>;
}

/** link-client's output with ids and the server's version made comparable. */
function normalise(output: string): string {
  return output.replace(ID, 'vip-ID').replace(/(Server version: \t).*/, '$1VERSION');
}

describe(
  'LinK v2 link-client against LinK and against v2',
  { skip: V2_DIR ? false : 'LINK_V2_DIR is not set (the folder of the v2 link and link-client binaries)' },
  () => {
    let linkLab: Lab;
    let v2Lab: Lab;
    const v2Agents: ChildProcess[] = [];
    const clusters = {} as Record<Side, Cluster>;

    /** Runs `link-client ARGS` in the host's namespace; returns stdout + stderr (it exits 0 on errors). */
    async function lc(side: Side, host: 'h1' | 'h2', args: string[], password = PASSWORD): Promise<string> {
      const { stdout, stderr } = await execIn(clusters[side].ns[host], join(V2_DIR!, 'link-client'), [
        '--host',
        '127.0.0.1:1313',
        '-u',
        USER,
        '-p',
        password,
        ...args,
      ]);
      // Colours kept, made visible (ESC[31m…): they are part of what link-client prints.
      return (stdout + stderr).trimEnd().replaceAll('\x1b', 'ESC');
    }

    /** The same command against both clusters: [LinK's output, v2's output], normalised. */
    async function both(host: 'h1' | 'h2', args: string[]): Promise<[string, string]> {
      const [link, v2] = await Promise.all(SIDES.map(async (side) => normalise(await lc(side, host, args))));
      return [link!, v2!];
    }

    async function same(host: 'h1' | 'h2', args: string[]): Promise<string> {
      const [link, v2] = await both(host, args);
      assert.equal(link, v2, `link-client ${args.join(' ')} on ${host}`);
      return link;
    }

    /** The VIP ids link-client add printed, per side, by `host/key` (each host has its own id). */
    const ids: Record<Side, Record<string, string>> = { link: {}, v2: {} };
    const idOf = (side: Side, host: 'h1' | 'h2', key: string): string => {
      const id = ids[side][`${host}/${key}`];
      assert.ok(id, `no ${key} added on ${side} ${host}`);
      return id;
    };
    async function add(host: 'h1' | 'h2', key: string, args: string[]): Promise<void> {
      const outputs = await Promise.all(SIDES.map((side) => lc(side, host, ['add', ...args])));
      SIDES.forEach((side, i) => {
        const id = outputs[i]!.match(ID)?.[0];
        assert.ok(id, `${side}: add ${args.join(' ')}: ${outputs[i]}`);
        ids[side][`${host}/${key}`] = id;
      });
      assert.equal(normalise(outputs[0]!), normalise(outputs[1]!));
    }

    /** A request to a host's API: LinK's through its socket, v2's by curl in the host's namespace. */
    async function http(
      side: Side,
      host: 'h1' | 'h2',
      method: string,
      path: string,
      options: { body?: string; headers?: Record<string, string> } = {},
    ): Promise<HttpAnswer> {
      const headers = { Authorization: AUTH, ...options.headers };
      if (side === 'link') {
        return httpCall({ socketPath: linkLab.host(host).socket }, method, path, {
          headers,
          ...(options.body !== undefined ? { body: options.body } : {}),
        });
      }
      // curl itself, as a v2 user would: -d without -H sends application/x-www-form-urlencoded.
      const args = ['-s', '-o', '-', '-w', '\n%{http_code}', '-X', method];
      for (const [name, value] of Object.entries(headers)) args.push('-H', `${name}: ${value}`);
      if (options.body !== undefined) args.push('--data-binary', options.body);
      args.push(`http://127.0.0.1:1313${path}`);
      const { stdout } = await execIn(clusters.v2.ns[host], 'curl', args);
      const cut = stdout.lastIndexOf('\n');
      const text = stdout.slice(0, cut);
      let json: unknown;
      try {
        json = JSON.parse(text) as unknown;
      } catch {
        json = undefined;
      }
      return { status: Number(stdout.slice(cut + 1)), headers: {}, text, json };
    }

    async function status(side: Side, host: 'h1' | 'h2', key: string): Promise<string> {
      const out = await lc(side, host, ['get', idOf(side, host, key)]);
      return /Status:\tESC\[\d+m([A-Z]+)ESC/.exec(out)?.[1] ?? out;
    }

    /** Waits until `key` is ACTIVATED on `owner` and STANDBY on the other host, on both sides. */
    async function settled(key: string, owner: 'h1' | 'h2'): Promise<void> {
      const other = owner === 'h1' ? 'h2' : 'h1';
      await Promise.all(
        SIDES.map((side) => {
          let seen = '';
          return until(
            `${side}: ${key} ACTIVATED on ${owner}, STANDBY on ${other}`,
            async () => {
              const [mine, theirs] = await Promise.all([status(side, owner, key), status(side, other, key)]);
              seen = `${owner} ${mine}, ${other} ${theirs}`;
              return mine === 'ACTIVATED' && theirs === 'STANDBY';
            },
            // v2 polls every KEEPALIVE_INTERVAL (3 s): a demoted v2 host notices within one.
            10_000,
            () => seen,
          );
        }),
      );
    }

    before(async () => {
      linkLab = await Lab.up({ name: 'va-link', hosts: 2, agentEnv: { USER, PASSWORD } });
      clusters.link = { ns: { h1: linkLab.host('h1').ns, h2: linkLab.host('h2').ns } };
      // No LinK agent in this lab (linkctl is never run with 0 hosts): its etcd and bridge only.
      v2Lab = await Lab.up({ name: 'va-v2', hosts: 0, linkctl: ['false'] });
      clusters.v2 = { ns: { h1: 'lab-va-v2-h1', h2: 'lab-va-v2-h2' } };
      for (const [i, host] of (['h1', 'h2'] as const).entries()) {
        const ns = clusters.v2.ns[host];
        // Named with the lab's prefix: v2Lab.down() deletes them with the rest.
        await createNamespace(ns);
        await connectToBridge({
          ns,
          ifName: 'eth0',
          bridgeNs: 'lab-va-v2-sw',
          bridge: 'br0',
          peerName: `p-${host}`,
        });
        await addAddress(ns, 'eth0', `198.18.0.${11 + i}/24`);
        const log = openSync(join(v2Lab.dir, `${host}.log`), 'a');
        const child = spawn('ip', ['netns', 'exec', ns, join(V2_DIR!, 'link')], {
          env: {
            PATH: process.env['PATH'] ?? '/usr/bin:/bin',
            INTERFACE: 'eth0',
            HOSTNAME: `v2-${host}`,
            ETCD_HOSTS: `http://${ETCD}`,
            PORT: '1313',
            USER,
            PASSWORD,
          },
          stdio: ['ignore', log, log],
        });
        closeSync(log);
        v2Agents.push(child);
      }
      for (const host of ['h1', 'h2'] as const) {
        await until(
          `v2 agent on ${host} to serve`,
          async () => !(await lc('v2', host, ['list'])).includes('Error'),
          10_000,
        );
      }
    });

    after(async () => {
      // v2 has no SIGTERM handler; its addresses go with its namespace.
      for (const child of v2Agents) if (child.exitCode === null) child.kill('SIGKILL');
      await Promise.all([linkLab?.down(), v2Lab?.down()]);
    });

    it('version, list, add (with and without checks and --healthcheck-interval), get print the same', async () => {
      assert.match(await same('h1', ['version']), /^Client version: \tdev\nServer version: \tVERSION$/);
      const empty = await same('h1', ['list']);
      assert.match(empty, /\| ID \| IP \| STATUS \| CHECKS \|/);
      await add('h1', 'vip', [VIP]);
      await add('h2', 'vip', [VIP]);
      await add('h1', 'solo', [SOLO, 'TCP', ETCD, '--healthcheck-interval', '7']);
      await settled('vip', 'h1');
      await until(
        'solo ACTIVATED on both',
        async () =>
          (await Promise.all(SIDES.map((s) => status(s, 'h1', 'solo')))).every((s) => s === 'ACTIVATED'),
        10_000,
      );
      const list = await same('h1', ['list']);
      assert.match(list, /198\.18\.0\.101\/32 \| ESC\[32mACTIVATEDESC\[0m \| TCP - 198\.18\.0\.2:2379/);
      await same('h2', ['list']);
      const [link, v2] = await Promise.all(
        SIDES.map((side) => lc(side, 'h1', ['get', idOf(side, 'h1', 'solo')])),
      );
      assert.equal(normalise(link!), normalise(v2!));
      assert.match(
        normalise(link!),
        /^ID:\tvip-ID\nStatus:\tESC\[32mACTIVATEDESC\[0m\nChecks:\n - Type: TCP, Host: 198\.18\.0\.2, Port: 2379$/,
      );
      // link-client does not print the interval: both agents stored the one it sent.
      const stored = await Promise.all(
        SIDES.map((side) => http(side, 'h1', 'GET', `/ips/${idOf(side, 'h1', 'solo')}`)),
      );
      assert.deepEqual(
        stored.map((a) => (a.json as { ip: { healthcheck_interval: number } }).ip.healthcheck_interval),
        [7, 7],
      );
    });

    it('update-healthchecks set, replace and clear print the same, and get shows each', async () => {
      for (const checks of [['TCP', ETCD], ['TCP', ETCD, 'TCP', '198.18.0.2:2380'], []]) {
        const outputs = await Promise.all(
          SIDES.map((side) => lc(side, 'h1', ['update-healthchecks', idOf(side, 'h1', 'vip'), ...checks])),
        );
        assert.equal(
          normalise(outputs[0]!),
          normalise(outputs[1]!),
          `update-healthchecks ${checks.join(' ')}`,
        );
        assert.match(outputs[0]!, /successfully updated/);
        const gets = await Promise.all(SIDES.map((side) => lc(side, 'h1', ['get', idOf(side, 'h1', 'vip')])));
        assert.equal(normalise(gets[0]!), normalise(gets[1]!));
      }
    });

    it('unknown id, wrong credentials, bad input: the same lines, or the documented ones', async () => {
      const unknown = 'vip-00000000-0000-4000-8000-000000000000';
      assert.equal(await same('h1', ['get', unknown]), RED('not found'));
      assert.equal(await same('h1', ['destroy', unknown]), RED('not found'));
      assert.equal(await same('h1', ['failover', unknown]), RED('not found'));
      assert.equal(await same('h1', ['get', 'nope']), RED('not found'));
      assert.equal(
        await same('h1', ['update-healthchecks', unknown, 'TCP', ETCD]),
        RED("fail to update the IP healthchecks 'vip-ID': not found"),
      );
      // Documented differences (docs/migrating-from-v2.md): LinK's 401 body is JSON with `error`,
      // which link-client prints; v2's was text.
      const [link401, v2401] = await Promise.all(SIDES.map((side) => lc(side, 'h1', ['list'], 'wrong')));
      assert.equal(v2401, RED('Unexpected status code: 401'));
      assert.equal(link401, RED('unauthorized'));
      // A duplicate: v2 400 "IP already assigned", LinK 409 naming the VIP that has it.
      const [linkDup, v2Dup] = await both('h1', ['add', VIP]);
      assert.equal(v2Dup, RED('IP already assigned'));
      assert.equal(linkDup, RED(`${VIP} is already assigned (vip-ID)`));
      const [linkBad, v2Bad] = await both('h1', ['add', '198.18.0.300/32']);
      assert.equal(v2Bad, RED('invalid IP'));
      assert.match(linkBad, /^ESC\[31mError: ip "198\.18\.0\.300\/32" .+ESC\[0m$/);
      const [linkPort, v2Port] = await both('h1', ['add', '198.18.0.102/32', 'TCP', '198.18.0.2:0']);
      assert.equal(v2Port, RED('health check port cannot be negative'));
      assert.equal(linkPort, RED('checks[0].port must be an integer from 1 to 65535'));
    });

    it('failover: refusals keep v2 words in msg; the owner hands over and both print "Request sent."', async () => {
      // Not the owner: v2 400 {"msg"}; LinK 409 {"error","code","owner","msg"}, link-client prints error.
      const [linkNot, v2Not] = await Promise.all(
        SIDES.map((side) => lc(side, 'h2', ['failover', idOf(side, 'h2', 'vip')])),
      );
      assert.equal(v2Not, RED('this node is not master of this IP'));
      assert.match(linkNot!, /^ESC\[31mError: .+ESC\[0m$/);
      const refused = await http('link', 'h2', 'POST', `/ips/${idOf('link', 'h2', 'vip')}/failover`);
      assert.equal(refused.status, 409);
      assert.deepEqual(
        { code: (refused.json as { code: string }).code, msg: (refused.json as { msg: string }).msg },
        { code: 'NOT_OWNER', msg: 'this node is not master of this IP' },
      );
      const v2Refused = await http('v2', 'h2', 'POST', `/ips/${idOf('v2', 'h2', 'vip')}/failover`);
      assert.deepEqual(
        [v2Refused.status, v2Refused.json],
        [400, { msg: 'this node is not master of this IP' }],
      );

      // Nobody else carries it.
      const [linkSolo, v2Solo] = await Promise.all(
        SIDES.map((side) => lc(side, 'h1', ['failover', idOf(side, 'h1', 'solo')])),
      );
      assert.equal(v2Solo, RED('no other nodes are listening for this IP'));
      assert.match(linkSolo!, /^ESC\[31mError: .+ESC\[0m$/);
      const solo = await http('link', 'h1', 'POST', `/ips/${idOf('link', 'h1', 'solo')}/failover`);
      assert.equal(solo.status, 409);
      assert.equal((solo.json as { msg: string }).msg, 'no other nodes are listening for this IP');

      const [linkOk, v2Ok] = await Promise.all(
        SIDES.map((side) => lc(side, 'h1', ['failover', idOf(side, 'h1', 'vip')])),
      );
      assert.equal(linkOk, v2Ok);
      assert.equal(linkOk, 'ESC[32mRequest sent.ESC[0m');
      await settled('vip', 'h2');
    });

    it('curl -d without Content-Type, and posting back what GET returned, are accepted as by v2', async () => {
      const body = JSON.stringify({ ip: '198.18.0.103/32' });
      // curl -d: application/x-www-form-urlencoded; the Go client: no Content-Type at all.
      for (const headers of [{ 'Content-Type': 'application/x-www-form-urlencoded' }, {}] as Record<
        string,
        string
      >[]) {
        const answers = await Promise.all(
          SIDES.map((side) => http(side, 'h2', 'POST', '/ips', { body, headers })),
        );
        assert.deepEqual(
          answers.map((a) => a.status),
          [201, 201],
          answers.map((a) => a.text).join(' | '),
        );
        for (const [i, side] of SIDES.entries()) {
          const id = (answers[i]!.json as { id: string }).id;
          assert.equal((await http(side, 'h2', 'DELETE', `/ips/${id}`)).status, 204);
        }
      }
      // A body that does not parse stays a 4xx (v2: 400 "invalid json").
      const broken = await Promise.all(
        SIDES.map((side) =>
          http(side, 'h2', 'POST', '/ips', {
            body: '{"ip":',
            headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
          }),
        ),
      );
      assert.equal(broken[1]!.status, 400);
      assert.equal(broken[0]!.status, 415);
      assert.equal((await http('link', 'h2', 'POST', '/ips', { body: '{"ip":' })).status, 400);

      // Unknown fields: ignored (and named) without a JSON Content-Type, as v2 did; 400 with one.
      const loose = await http('link', 'h2', 'POST', '/ips', {
        body: JSON.stringify({ ip: '198.18.0.104/32', colour: 'red' }),
      });
      assert.equal(loose.status, 201, loose.text);
      assert.equal(loose.headers['ignored-fields'], 'colour');
      assert.equal(
        (await http('link', 'h2', 'DELETE', `/ips/${(loose.json as { id: string }).id}`)).status,
        204,
      );
      const strict = await http('link', 'h2', 'POST', '/ips', {
        body: JSON.stringify({ ip: '198.18.0.104/32', colour: 'red' }),
        headers: { 'Content-Type': 'application/json' },
      });
      assert.deepEqual(
        [strict.status, strict.json],
        [400, { error: 'unknown field colour', field: 'colour' }],
      );

      // What GET returned, posted back: to another host (a new VIP there) and to its own path.
      const got = await http('link', 'h1', 'GET', `/ips/${idOf('link', 'h1', 'solo')}`);
      const vip = (got.json as { ip: Record<string, unknown> }).ip;
      assert.deepEqual(Object.keys(vip).sort(), [
        'checks',
        'healthcheck_interval',
        'id',
        'ip',
        'owner',
        'preempt',
        'preempt_delay',
        'priority',
        'status',
      ]);
      for (const headers of [{ 'Content-Type': 'application/json' }, {}] as Record<string, string>[]) {
        const copy = await http('link', 'h2', 'POST', '/ips', { body: JSON.stringify(vip), headers });
        assert.equal(copy.status, 201, copy.text);
        const created = copy.json as { id: string; ip: string; checks: unknown };
        assert.notEqual(created.id, vip['id']);
        assert.deepEqual([created.ip, created.checks], [vip['ip'], vip['checks']]);
        assert.equal((await http('link', 'h2', 'DELETE', `/ips/${created.id}`)).status, 204);
        const put = await http('link', 'h1', 'PUT', `/ips/${idOf('link', 'h1', 'solo')}`, {
          body: JSON.stringify(vip),
          headers,
        });
        assert.equal(put.status, 200, put.text);
      }
      // …but not to another VIP's path: id and ip must name the VIP they are sent to.
      const elsewhere = await http('link', 'h1', 'PUT', `/ips/${idOf('link', 'h1', 'vip')}`, {
        body: JSON.stringify(vip),
        headers: { 'Content-Type': 'application/json' },
      });
      assert.equal(elsewhere.status, 400);
      assert.equal((elsewhere.json as { field: string }).field, 'id');
      const otherIp = await http('link', 'h1', 'PUT', `/ips/${idOf('link', 'h1', 'vip')}`, {
        body: JSON.stringify({ ...vip, id: '' }),
        headers: { 'Content-Type': 'application/json' },
      });
      assert.deepEqual([otherIp.status, (otherIp.json as { field: string }).field], [400, 'ip']);
    });

    it('destroy prints the same, and the VIPs are gone on both', async () => {
      for (const host of ['h1', 'h2'] as const) {
        for (const key of host === 'h1' ? ['vip', 'solo'] : ['vip']) {
          const outputs = await Promise.all(
            SIDES.map((side) => lc(side, host, ['destroy', idOf(side, host, key)])),
          );
          assert.equal(normalise(outputs[0]!), normalise(outputs[1]!), `destroy ${key} on ${host}`);
        }
        await same(host, ['list']);
      }
    });
  },
);
