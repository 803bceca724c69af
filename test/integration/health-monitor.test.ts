import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer as createHttpServer } from 'node:http';
import { createServer, type AddressInfo, type Server } from 'node:net';
import { after, before, describe, it } from 'node:test';
import type { Subscription } from 'rxjs';
import { createExecChecksPolicy } from '../../adapters/health/exec-policy.ts';
import { createHealthMonitor } from '../../adapters/health/monitor.ts';
import { createProbe } from '../../adapters/health/probe.ts';
import type { HealthEvent, HealthMonitor, HealthMonitorOptions } from '../../adapters/health/types.ts';
import { createChildSandbox } from '../../adapters/process/sandbox.ts';
import { makeExecChecksDir, type ExecChecksDir } from '../support/exec-dir.ts';

/** Collects a stream's events; `next(ms)` waits for the next one with a deadline. */
class EventQueue {
  private readonly buffered: HealthEvent[] = [];
  private waiter: ((event: HealthEvent) => void) | undefined;

  push(event: HealthEvent): void {
    if (this.waiter) {
      const waiter = this.waiter;
      this.waiter = undefined;
      waiter(event);
    } else {
      this.buffered.push(event);
    }
  }

  next(ms: number): Promise<HealthEvent> {
    const event = this.buffered.shift();
    if (event) return Promise.resolve(event);
    return new Promise<HealthEvent>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiter = undefined;
        reject(new Error(`no health event within ${ms} ms`));
      }, ms);
      this.waiter = (received) => {
        clearTimeout(timer);
        resolve(received);
      };
    });
  }
}

async function listen(server: Server, port = 0): Promise<number> {
  server.listen(port, '127.0.0.1');
  await once(server, 'listening');
  return (server.address() as AddressInfo).port;
}

const fast: HealthMonitorOptions = { intervalMs: 50, timeoutMs: 200, fallCount: 2, riseCount: 2 };

void describe('health monitor with real probes', () => {
  // EXEC checks run from an EXEC_CHECKS_DIR made the way an operator would.
  let checks: ExecChecksDir;
  let monitorHealth: HealthMonitor;
  before(() => {
    checks = makeExecChecksDir();
    checks.script('true', '#!/bin/sh\nexit 0\n');
    checks.script('sleep', '#!/bin/sh\nexec sleep "$@"\n');
    monitorHealth = createHealthMonitor({
      probe: createProbe({ execPolicy: createExecChecksPolicy(checks.dir), sandbox: createChildSandbox() }),
    });
  });
  after(() => checks.remove());

  void it('follows a TCP service going down and coming back', async () => {
    let server = createServer((socket) => socket.destroy());
    const port = await listen(server);
    const events = new EventQueue();
    let subscription: Subscription | undefined;
    try {
      subscription = monitorHealth([{ type: 'TCP', host: '127.0.0.1', port }], fast).subscribe((event) =>
        events.push(event),
      );
      const first = await events.next(2000);
      assert.equal(first.type, 'health_check_success');

      await new Promise<void>((resolve) => server.close(() => resolve()));
      const down = await events.next(2000);
      assert.equal(down.type, 'health_check_fail');
      assert.match(
        down.reason ?? '',
        /^2 failed round\(s\) in a row; TCP 127\.0\.0\.1:\d+: connect failed: ECONNREFUSED$/,
      );

      server = createServer((socket) => socket.destroy());
      await listen(server, port);
      const up = await events.next(2000);
      assert.equal(up.type, 'health_check_success');
    } finally {
      subscription?.unsubscribe();
      if (server.listening) await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });

  void it('needs every check to pass: TCP, HTTP and EXEC together', async () => {
    const tcp = createServer((socket) => socket.destroy());
    const tcpPort = await listen(tcp);
    let healthy = true;
    const http = createHttpServer((_request, response) => {
      response.statusCode = healthy ? 200 : 503;
      response.end(healthy ? 'ready' : 'draining');
    });
    http.listen(0, '127.0.0.1');
    await once(http, 'listening');
    const httpPort = (http.address() as AddressInfo).port;
    const events = new EventQueue();
    let subscription: Subscription | undefined;
    try {
      subscription = monitorHealth(
        [
          { type: 'TCP', host: '127.0.0.1', port: tcpPort },
          { type: 'HTTP', url: `http://127.0.0.1:${httpPort}/health`, body_contains: 'ready' },
          { type: 'EXEC', command: 'true' },
        ],
        { ...fast, riseCount: 1 },
      ).subscribe((event) => events.push(event));
      assert.equal((await events.next(2000)).type, 'health_check_success');

      healthy = false;
      const down = await events.next(2000);
      assert.equal(down.type, 'health_check_fail');
      assert.match(down.reason ?? '', /HTTP http:\/\/127\.0\.0\.1:\d+\/health: status 503, expected 200-299/);
      assert.doesNotMatch(down.reason ?? '', /TCP|EXEC/);
    } finally {
      subscription?.unsubscribe();
      http.closeAllConnections();
      await new Promise<void>((resolve) => http.close(() => resolve()));
      await new Promise<void>((resolve) => tcp.close(() => resolve()));
    }
  });

  void it('fails on an EXEC check that hangs, killed at the timeout each round', async () => {
    const events = new EventQueue();
    const started = performance.now();
    const subscription = monitorHealth([{ type: 'EXEC', command: 'sleep', args: ['5'] }], {
      intervalMs: 50,
      timeoutMs: 100,
      fallCount: 2,
      riseCount: 1,
    }).subscribe((event) => events.push(event));
    try {
      const down = await events.next(3000);
      assert.equal(down.type, 'health_check_fail');
      assert.match(down.reason ?? '', /EXEC sleep: killed after 100 ms timeout/);
      // Two rounds of at most timeout each, never overlapping.
      assert.ok(performance.now() - started >= 200, 'two rounds of 100 ms cannot finish sooner');
    } finally {
      subscription.unsubscribe();
    }
  });

  void it('with no checks says healthy once and completes', () => {
    const events: HealthEvent[] = [];
    let completed = false;
    monitorHealth([], fast).subscribe({
      next: (event) => events.push(event),
      complete: () => (completed = true),
    });
    assert.deepEqual(events, [
      { type: 'health_check_success', source: 'health', reason: 'no health checks' },
    ]);
    assert.equal(completed, true);
  });
});
