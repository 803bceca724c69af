import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { LINKCTL, createVethPair, deleteLink } from '../../lab/daemon.ts';
import { freePort } from '../support/etcd.ts';

/**
 * `linkctl agent` reaches etcd first (issue 18 part 6): a crashed agent restarted at once keeps
 * its lease only if it renews it within what is left of its TTL, and its clients only if it
 * renews its addresses within what is left of their lifetime, sooner. So its first connection to
 * etcd (adapters/etcd/first-contact.ts, plain HTTP/2) opens before the etcd client (etcd3,
 * grpc-js, protobufjs), rxjs and the logger are loaded, and long before the actors, xstate, health
 * checks, hooks, journal or API. "etcd" here is a TCP listener that notes when the agent connects;
 * a module hook (its own thread) lists every URL Node loaded. Sources (tsx) or the release
 * build's chunks. Run under scripts/in-netns.sh.
 */

const LATE =
  /\/node_modules\/(etcd3|@grpc|protobufjs|rxjs|winston|xstate|koa|@koa|zod|prom-client)\/|\/(actors\/(?!held-addresses|lifetime)|http|adapters\/health|adapters\/hooks|adapters\/journal)|\/adapters\/etcd\/(session|rpc|errors|options)\.ts$|\/cli\/(agent-serve|logger)\.ts$|\/dist\/(agent-serve|http|etcd|logger|rpc|errors)-\w+\.mjs$/;

describe('linkctl agent: etcd first', { timeout: 60_000 }, () => {
  it('connects to etcd before loading the etcd client, rxjs, the logger, the actors, xstate, health checks, hooks, the journal or the API', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'link-start-order-'));
    const loadedFile = join(dir, 'loaded');
    writeFileSync(loadedFile, '');
    writeFileSync(
      join(dir, 'hooks.mjs'),
      `import { appendFileSync } from 'node:fs';
let file;
export function initialize(data) { file = data.file; }
export async function load(url, context, next) { appendFileSync(file, url + '\\n'); return next(url, context); }
`,
    );
    writeFileSync(
      join(dir, 'register.mjs'),
      `import { register } from 'node:module';
register(new URL('./hooks.mjs', import.meta.url), { data: { file: ${JSON.stringify(loadedFile)} } });
`,
    );
    createVethPair('so-a', 'so-b');
    const server = createServer();
    let atConnect: string[] | null = null;
    const connected = new Promise<void>((resolve) =>
      server.on('connection', (socket) => {
        atConnect ??= readFileSync(loadedFile, 'utf8').trim().split('\n');
        socket.destroy();
        resolve();
      }),
    );
    const port = await freePort();
    await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
    const child = spawn(LINKCTL, ['agent'], {
      env: {
        PATH: process.env['PATH'] ?? '/usr/bin:/bin',
        INTERFACE: 'so-a',
        HOSTNAME: 'so',
        ETCD_HOSTS: `127.0.0.1:${port}`,
        STATE_DIR: join(dir, 'state'),
        PORT: String(await freePort()),
        LOG_FORMAT: 'json',
        NODE_OPTIONS: `--import ${join(dir, 'register.mjs')}`,
      },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    try {
      await Promise.race([
        connected,
        exited.then(() => assert.fail(`the agent exited before connecting to etcd:\n${stderr}`)),
        new Promise((_, reject) =>
          setTimeout(() => reject(new Error('no connection to etcd in 30 s')), 30_000),
        ),
      ]);
      const loaded = atConnect ?? [];
      assert.ok(
        loaded.some(
          (url) => /\/adapters\/etcd\/first-contact\.ts$/.test(url) || /\/dist\/agent-\w+\.mjs$/.test(url),
        ),
        `the hook saw the first contact load:\n${loaded.join('\n')}`,
      );
      assert.deepEqual(
        loaded.filter((url) => LATE.test(url)),
        [],
        'modules loaded before the first connection to etcd that the session has no use for',
      );
    } finally {
      child.kill('SIGKILL');
      await exited;
      server.close();
      deleteLink('so-a');
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
