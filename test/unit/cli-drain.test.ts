import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import type { DrainStatus } from '../../actors/drain.ts';
import { registerDrainCommands, summary } from '../../cli/drain.ts';
import { runCli } from '../support/cli.ts';

const counts = (over: Partial<DrainStatus['counts']>): DrainStatus['counts'] => ({
  pending: 0,
  'handing-over': 0,
  'handed-over': 0,
  withdrawn: 0,
  kept: 0,
  ...over,
});

/** The agent's answers: POST /drain under way, then two GETs, the last one done with a kept VIP. */
const answers: DrainStatus[] = [
  { drained: true, since: 's', done: false, counts: counts({ 'handing-over': 2 }), vips: [] },
  {
    drained: true,
    since: 's',
    done: false,
    counts: counts({ 'handed-over': 1, 'handing-over': 1 }),
    vips: [],
  },
  {
    drained: true,
    since: 's',
    done: true,
    counts: counts({ 'handed-over': 1, kept: 1 }),
    vips: [{ id: 'vip-1', ip: '198.18.0.9/32', drain: 'kept', reason: 'no other host carries it' }],
  },
];

describe('linkctl drain / undrain', () => {
  let server: Server;
  let host: string;
  const calls: string[] = [];
  before(async () => {
    server = createServer((req, res) => {
      calls.push(`${req.method} ${req.url}`);
      const body =
        req.method === 'DELETE'
          ? { drained: false, done: true, counts: counts({}), vips: [] }
          : answers[
              Math.min(calls.filter((c) => c.endsWith('/drain') && !c.startsWith('DELETE')).length - 1, 2)
            ];
      res.writeHead(req.method === 'POST' ? 202 : 200, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify(body));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    host = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(() => server.close());

  const run = (...args: string[]) => runCli(registerDrainCommands, host, ...args);

  it('--wait prints the progress until done, then the VIPs kept', async () => {
    const { out, code } = await run('drain', '--wait');
    assert.equal(code, 0);
    assert.deepEqual(out.trim().split('\n'), [
      'draining: 0 handed over, 0 withdrawn, 0 kept, 2 handing over, 0 pending',
      'draining: 1 handed over, 0 withdrawn, 0 kept, 1 handing over, 0 pending',
      'drained: 1 handed over, 0 withdrawn, 1 kept, 0 handing over, 0 pending',
      'kept 198.18.0.9/32: no other host carries it',
    ]);
    assert.equal(calls[0], 'POST /drain');
  });

  it('undrain, and a bad --timeout is a usage error', async () => {
    assert.match((await run('undrain')).out, /undrained/);
    assert.equal((await run('drain', '--wait', '--timeout', 'x')).code, 2);
    assert.equal(summary({ drained: false, done: true, counts: counts({}), vips: [] }), 'not drained');
  });
});
