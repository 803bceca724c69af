import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';
import { connect, createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { probeExec } from '../../adapters/health/exec.ts';
import { createExecChecksPolicy } from '../../adapters/health/exec-policy.ts';
import { probeHttp } from '../../adapters/health/http.ts';
import { probeTcp } from '../../adapters/health/tcp.ts';
import type { ProbeResult } from '../../adapters/health/types.ts';
import { runCommand } from '../../adapters/process/run-command.ts';
import { createChildSandbox } from '../../adapters/process/sandbox.ts';
import { makeExecChecksDir, type ExecChecksDir } from '../support/exec-dir.ts';

/** Rejects when `promise` has not settled within `ms`: every wait in these tests has a deadline. */
async function within<T>(ms: number, what: string, promise: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no result within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([promise, deadline]);
  } finally {
    clearTimeout(timer);
  }
}

async function listenTcp(): Promise<{ server: Server; port: number }> {
  const server = createServer((socket) => socket.destroy());
  server.listen(0, '127.0.0.1');
  await within(2000, 'tcp listen', once(server, 'listening'));
  return { server, port: (server.address() as AddressInfo).port };
}

async function closeTcp(server: Server): Promise<void> {
  await new Promise<void>((resolve) => server.close(() => resolve()));
}

/** A port on 127.0.0.1 where nothing listens (bound, then released). */
async function closedPort(): Promise<number> {
  const { server, port } = await listenTcp();
  await closeTcp(server);
  return port;
}

/**
 * A listener that never accepts, to make a TCP connect hang honestly on loopback (there is no
 * blackhole route in the test namespace). A child Node process listens with backlog 1 (Node turns 0 into its default 511), prints
 * its port, then blocks its event loop, so the kernel completes handshakes into the accept
 * queue and nobody takes them. We fill the queue's slots ourselves; from then on the kernel drops
 * further SYNs (accept queue full) and the client's connect stays pending until it times out.
 */
async function neverAcceptingListener(): Promise<{ child: ChildProcess; port: number; fillers: Socket[] }> {
  const code = `
    const server = require('node:net').createServer();
    server.listen({ port: 0, host: '127.0.0.1', backlog: 1 }, () => {
      process.stdout.write(server.address().port + '\\n');
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0);
    });`;
  const child = spawn(process.execPath, ['-e', code], { stdio: ['ignore', 'pipe', 'inherit'] });
  const [chunk] = (await within(5000, 'never-accepting listener', once(child.stdout, 'data'))) as [Buffer];
  const port = Number(chunk.toString().trim());
  // Linux queues backlog + 1 connections: two fillers make the queue full.
  const fillers = [connect({ host: '127.0.0.1', port }), connect({ host: '127.0.0.1', port })];
  await within(
    2000,
    'filling the accept queue',
    Promise.all(fillers.map((filler) => once(filler, 'connect'))),
  );
  return { child, port, fillers };
}

void describe('TCP probe (real sockets on 127.0.0.1)', () => {
  void it('is healthy when a server listens', async () => {
    const { server, port } = await listenTcp();
    try {
      const result = await within(2000, 'probe', probeTcp('127.0.0.1', port, { timeoutMs: 1000 }));
      assert.deepEqual(result, { ok: true, reason: 'connected' });
    } finally {
      await closeTcp(server);
    }
  });

  void it('is unhealthy on a closed port', async () => {
    const port = await closedPort();
    const result = await within(2000, 'probe', probeTcp('127.0.0.1', port, { timeoutMs: 1000 }));
    assert.deepEqual(result, { ok: false, reason: 'connect failed: ECONNREFUSED' });
  });

  void it('times out on a listener that never accepts', async () => {
    const { child, port, fillers } = await neverAcceptingListener();
    try {
      const started = performance.now();
      const result = await within(3000, 'probe', probeTcp('127.0.0.1', port, { timeoutMs: 200 }));
      const elapsed = performance.now() - started;
      assert.deepEqual(result, { ok: false, reason: 'connect timed out after 200 ms' });
      assert.ok(elapsed >= 190 && elapsed < 1500, `took ${elapsed} ms`);
    } finally {
      for (const filler of fillers) filler.destroy();
      child.kill('SIGKILL');
    }
  });

  void it('stops at once when aborted', async () => {
    const { child, port, fillers } = await neverAcceptingListener();
    try {
      const controller = new AbortController();
      const pending = probeTcp('127.0.0.1', port, { timeoutMs: 10_000, signal: controller.signal });
      controller.abort();
      assert.deepEqual(await within(1000, 'probe', pending), { ok: false, reason: 'aborted' });
    } finally {
      for (const filler of fillers) filler.destroy();
      child.kill('SIGKILL');
    }
  });
});

async function withHttpServer(run: (base: string) => Promise<void>): Promise<void> {
  const server: HttpServer = createHttpServer((request, response) => {
    switch (request.url) {
      case '/ok':
        response.end('service is all good');
        return;
      case '/fail':
        response.statusCode = 500;
        response.end('broken');
        return;
      case '/moved':
        response.statusCode = 301;
        response.setHeader('location', '/ok');
        response.end();
        return;
      case '/hang':
        return; // never answers
      default:
        response.statusCode = 404;
        response.end();
    }
  });
  server.listen(0, '127.0.0.1');
  await within(2000, 'http listen', once(server, 'listening'));
  try {
    await run(`http://127.0.0.1:${(server.address() as AddressInfo).port}`);
  } finally {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}

void describe('HTTP probe (a real server on 127.0.0.1)', () => {
  void it('is healthy on 200, unhealthy on 500 or a redirect, with the status in the reason', async () => {
    await withHttpServer(async (base) => {
      assert.deepEqual(await within(2000, 'ok', probeHttp(`${base}/ok`, { timeoutMs: 1000 })), {
        ok: true,
        reason: 'status 200',
      });
      assert.deepEqual(await within(2000, 'fail', probeHttp(`${base}/fail`, { timeoutMs: 1000 })), {
        ok: false,
        reason: 'status 500, expected 200-299',
      });
      assert.deepEqual(await within(2000, 'moved', probeHttp(`${base}/moved`, { timeoutMs: 1000 })), {
        ok: false,
        reason: 'status 301, expected 200-299',
      });
    });
  });

  void it('honours an expected status or range', async () => {
    await withHttpServer(async (base) => {
      const range = await probeHttp(`${base}/fail`, { timeoutMs: 1000, expectedStatus: [500, 503] });
      assert.equal(range.ok, true);
      const exact = await probeHttp(`${base}/ok`, { timeoutMs: 1000, expectedStatus: 204 });
      assert.deepEqual(exact, { ok: false, reason: 'status 200, expected 204' });
    });
  });

  void it('checks the body for the expected text', async () => {
    await withHttpServer(async (base) => {
      const match = await within(
        2000,
        'match',
        probeHttp(`${base}/ok`, { timeoutMs: 1000, bodyContains: 'all good' }),
      );
      assert.deepEqual(match, { ok: true, reason: 'status 200, body matched' });
      const mismatch = await within(
        2000,
        'mismatch',
        probeHttp(`${base}/ok`, { timeoutMs: 1000, bodyContains: 'ready' }),
      );
      assert.deepEqual(mismatch, { ok: false, reason: 'status 200, body does not contain "ready"' });
    });
  });

  void it('times out on a server that never answers', async () => {
    await withHttpServer(async (base) => {
      const started = performance.now();
      const result = await within(3000, 'hang', probeHttp(`${base}/hang`, { timeoutMs: 200 }));
      const elapsed = performance.now() - started;
      assert.deepEqual(result, { ok: false, reason: 'timed out after 200 ms' });
      assert.ok(elapsed >= 190 && elapsed < 1500, `took ${elapsed} ms`);
    });
  });

  void it('is unhealthy when nothing listens', async () => {
    const port = await closedPort();
    const result = await within(2000, 'refused', probeHttp(`http://127.0.0.1:${port}/`, { timeoutMs: 1000 }));
    assert.deepEqual(result, { ok: false, reason: 'request failed: ECONNREFUSED' });
  });
});

void describe('EXEC probe (real commands from EXEC_CHECKS_DIR, no shell)', () => {
  let checks: ExecChecksDir;
  let exec: (command: string, args: string[], timeoutMs: number) => Promise<ProbeResult>;
  before(() => {
    checks = makeExecChecksDir();
    checks.script('true', '#!/bin/sh\nexit 0\n');
    checks.script('false', '#!/bin/sh\nexit 1\n');
    checks.script('sh', '#!/bin/sh\nexec /bin/sh "$@"\n');
    checks.script('echo', '#!/bin/sh\nexec echo "$@"\n');
    checks.script('sleep', '#!/bin/sh\nexec sleep "$@"\n');
    const options = { policy: createExecChecksPolicy(checks.dir), sandbox: createChildSandbox() };
    exec = (command, args, timeoutMs) => probeExec(command, args, { ...options, timeoutMs });
  });
  after(() => checks.remove());

  void it('true is healthy, false is not', async () => {
    assert.deepEqual(await within(3000, 'true', exec('true', [], 2000)), { ok: true, reason: 'exit code 0' });
    assert.deepEqual(await within(3000, 'false', exec(join(checks.dir, 'false'), [], 2000)), {
      ok: false,
      reason: 'exit code 1',
    });
  });

  void it('captures stderr and stdout in the reason', async () => {
    const result = await within(
      3000,
      'sh',
      exec('sh', ['-c', 'echo "db answered"; echo "replica lag 30s" >&2; exit 3'], 2000),
    );
    assert.deepEqual(result, { ok: false, reason: 'exit code 3: replica lag 30s | db answered' });
  });

  void it('passes arguments verbatim, without a shell', async () => {
    const result = await within(3000, 'echo', exec('echo', ['$HOME', '; false'], 2000));
    assert.deepEqual(result, { ok: true, reason: 'exit code 0: $HOME ; false' });
  });

  void it('kills `sleep 5` at a 200 ms timeout', async () => {
    const started = performance.now();
    const result = await within(3000, 'sleep', exec('sleep', ['5'], 200));
    const elapsed = performance.now() - started;
    assert.deepEqual(result, { ok: false, reason: 'killed after 200 ms timeout' });
    assert.ok(elapsed >= 190 && elapsed < 1500, `took ${elapsed} ms`);
  });

  void it('kills the whole process group, keeping the output written so far', async () => {
    // sh forks sleep, which inherits the pipes: killing sh alone would leave them open 5 s.
    const started = performance.now();
    const result = await within(
      3000,
      'sh+sleep',
      exec('sh', ['-c', 'echo starting; sleep 5; echo never'], 200),
    );
    const elapsed = performance.now() - started;
    assert.deepEqual(result, { ok: false, reason: 'killed after 200 ms timeout: starting' });
    assert.ok(elapsed < 1500, `took ${elapsed} ms`);
  });

  void it('refuses a missing program, and one outside EXEC_CHECKS_DIR, without running it', async () => {
    const missing = await within(3000, 'missing', exec('nonexistent', [], 1000));
    assert.equal(missing.ok, false);
    assert.match(missing.reason, /^refused \(EXEC_NOT_FOUND\): nonexistent cannot be resolved \(ENOENT\)$/);
    const outside = await within(3000, 'outside', exec('/bin/true', [], 1000));
    assert.match(outside.reason, /^refused \(EXEC_OUTSIDE_DIR\): \/bin\/true is outside EXEC_CHECKS_DIR/);
  });

  void it('bounds the captured output', async () => {
    const result = await within(
      5000,
      'yes',
      runCommand('/bin/sh', {
        args: ['-c', 'yes | head -c 100000'],
        timeoutMs: 3000,
        maxOutputBytes: 1000,
        env: { PATH: '/usr/bin:/bin' },
      }),
    );
    assert.equal(result.exitCode, 0);
    assert.equal(result.truncated, true);
    assert.equal(result.stdout.length, 1000);
  });
});
