import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { createEtcdSession } from '../../adapters/etcd/index.ts';
import type { EtcdSessionImpl } from '../../adapters/etcd/index.ts';
import type { ElectionEvent } from '../../adapters/etcd/types.ts';
import { startEtcd, waitFor } from '../support/etcd.ts';
import type { EtcdCluster } from '../support/etcd.ts';

const decided = (e: ElectionEvent) => e.type === 'elected' || e.type === 'demoted';
const repoRoot = fileURLToPath(new URL('../..', import.meta.url));

describe('etcd: a 3-member cluster, and nothing left running after close', () => {
  let etcd: EtcdCluster;
  const sessions: EtcdSessionImpl[] = [];

  before(async () => {
    etcd = await startEtcd({ size: 3 });
  });
  after(async () => {
    for (const s of sessions) await s.close({ revoke: true });
    await etcd.close();
  });

  it('one member stopped: still exactly one owner; the other hosts follow a takeover', async () => {
    const all = await Promise.all(
      ['cl-a', 'cl-b', 'cl-c'].map((hostname) => createEtcdSession({ hosts: etcd.hosts, hostname })),
    );
    sessions.push(...all);
    const elections = all.map((s) => s.election('198.18.0.10/32'));
    const first = await Promise.all(elections.map((e) => waitFor(e.events$, decided, 3000, 'decision')));
    assert.equal(first.filter((e) => e.type === 'elected').length, 1);
    await etcd.members[0]!.stop();
    // Whatever a session went through (a keep-alive stream on the stopped member is reopened on
    // another), within a TTL and a margin every host is alive and agrees on one owner.
    await Promise.all(all.map((s) => waitFor(s.status$, (st) => st.state === 'alive', 3000, 'alive')));
    const owner = await elections[0]!.owner();
    const i = all.findIndex((s) => s.hostname === owner);
    assert.ok(i >= 0);
    const others = elections.filter((_, j) => j !== i);
    const next = Promise.race(
      others.map((e) => waitFor(e.events$, (ev) => ev.type === 'elected', 2000, 'takeover')),
    );
    await all[i]!.close({ revoke: true });
    await next;
    await etcd.members[0]!.start();
  });

  it('a process that opens sessions, elects and closes them exits by itself at once', async () => {
    const script = `
      import { createEtcdSession } from './adapters/etcd/index.ts';
      const hosts = ${JSON.stringify(etcd.hosts)};
      const a = await createEtcdSession({ hosts, hostname: 'exit-a' });
      const b = await createEtcdSession({ hosts, hostname: 'exit-b' });
      const subs = [a, b].map((s) => s.election('198.18.0.99/32').events$.subscribe(() => undefined));
      await new Promise((r) => setTimeout(r, 200));
      await a.close({ revoke: true });
      await b.close({ revoke: false });
      console.log(JSON.stringify({ closed: subs.map((s) => s.closed) }));
    `;
    const started = performance.now();
    const { stdout } = await promisify(execFile)(
      process.execPath,
      ['--import', 'tsx', '--input-type=module', '-e', script],
      { cwd: repoRoot, timeout: 10_000 },
    );
    const ms = performance.now() - started;
    assert.deepEqual(JSON.parse(stdout), { closed: [true, true] });
    console.log(`# child process with two sessions ran and exited in ${ms.toFixed(0)} ms`);
    assert.ok(ms < 5000, `the process lingered: ${ms} ms`);
  });
});
