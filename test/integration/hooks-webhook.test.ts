import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHmac, timingSafeEqual } from 'node:crypto';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { describe, it } from 'node:test';
import { createHookRunner } from '../../adapters/hooks/runner.ts';
import { SeenDeliveries, signDelivery, verifyDelivery } from '../../adapters/hooks/sign.ts';
import type { HookRunnerOptions, StateChange, WebhookRetryPolicy } from '../../adapters/hooks/types.ts';
import { httpCall } from '../../lab/api.ts';
import { freePort } from '../support/etcd.ts';
import { Recorder } from '../support/hook-recorder.ts';
import { until } from '../support/until.ts';

const SECRET = 'correct horse battery staple';

interface Received {
  at: number;
  headers: IncomingMessage['headers'];
  body: Buffer;
}

/** A real webhook receiver on 127.0.0.1; `answer` decides each response (it may never answer). */
async function withReceiver(
  answer: (request: Received, index: number, response: ServerResponse) => void,
  run: (url: string, received: Received[]) => Promise<void>,
): Promise<void> {
  const received: Received[] = [];
  const server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const entry = { at: performance.now(), headers: request.headers, body: Buffer.concat(chunks) };
      received.push(entry);
      answer(entry, received.length - 1, response);
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  try {
    await run(`http://127.0.0.1:${(server.address() as AddressInfo).port}/link-events`, received);
  } finally {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}

const ok = (_request: Received, _index: number, response: ServerResponse): void => {
  response.end('thanks');
};

function deliveryHeaders(request: Received) {
  const header = (name: string) => {
    const value = request.headers[name];
    return typeof value === 'string' ? value : undefined;
  };
  return {
    signature: header('x-link-signature'),
    timestamp: header('x-link-timestamp'),
    deliveryId: header('x-link-delivery'),
  };
}

/** The receiver of docs/hooks.md, its code block run as is in a child process. */
async function withDocsReceiver(
  run: (
    port: number,
    verdicts: { delivery: string; verdict: string }[],
    processed: string[],
  ) => Promise<void>,
): Promise<void> {
  const doc = readFileSync(new URL('../../docs/hooks.md', import.meta.url), 'utf8');
  const section = doc.slice(doc.indexOf('### Verifying a delivery'));
  const code = /```js\n([\s\S]*?)```/.exec(section)?.[1];
  assert.ok(code, 'docs/hooks.md has the verifier code block');
  const dir = mkdtempSync(join(tmpdir(), 'link-receiver-'));
  writeFileSync(join(dir, 'receiver.mjs'), code);
  const port = await freePort();
  const child = spawn(process.execPath, [join(dir, 'receiver.mjs')], {
    env: { NOTIFY_WEBHOOK_SECRET: SECRET, PORT: String(port) },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const verdicts: { delivery: string; verdict: string }[] = [];
  const processed: string[] = [];
  createInterface({ input: child.stdout }).on('line', (line) => {
    if (line.startsWith('{')) verdicts.push(JSON.parse(line) as { delivery: string; verdict: string });
    else processed.push(line);
  });
  try {
    await until(
      'the docs receiver listens',
      () =>
        httpCall({ host: '127.0.0.1', port }, 'GET', '/').then(
          () => true,
          () => false,
        ),
      10_000,
    );
    // The readiness probe's own verdict, printed after its answer: wait for it, then forget it.
    await until('the probe is logged', () => verdicts.length > 0, 5000);
    verdicts.length = 0;
    await run(port, verdicts, processed);
  } finally {
    child.kill();
    rmSync(dir, { recursive: true, force: true });
  }
}

const noRetry: WebhookRetryPolicy = { retries: 0, initialDelayMs: 10, maxDelayMs: 10, factor: 2 };

function change(revision: number, vipId = 'vip-a'): StateChange {
  return {
    vipId,
    ip: '198.18.0.10/32',
    from: 'STANDBY',
    to: 'ACTIVATED',
    event: 'elected',
    hostname: 'host-1',
    leaseId: '42',
    revision,
    time: '2026-01-01T00:00:00.000Z',
  };
}

function options(
  url: string,
  recorder: Recorder,
  retry: WebhookRetryPolicy = noRetry,
  timeoutMs = 2000,
): HookRunnerOptions {
  return {
    webhook: { url, secret: SECRET, timeoutMs, retry },
    onSuccess: recorder.onSuccess,
    onFailure: recorder.onFailure,
  };
}

void describe('webhook hook (a real receiver on 127.0.0.1)', () => {
  void it('POSTs the change as JSON, signed over its timestamp, delivery id and exact body bytes', async () => {
    await withReceiver(ok, async (url, received) => {
      const recorder = new Recorder();
      const runner = createHookRunner(options(url, recorder));
      try {
        runner.notify(change(1));
        await recorder.until('delivered', () => recorder.successes.length === 1);
        const [request] = received;
        assert.ok(request);
        assert.equal(request.headers['content-type'], 'application/json');
        assert.deepEqual(JSON.parse(request.body.toString('utf8')), change(1));
        // What a receiver computes, in a few lines of Node (docs/hooks.md shows the same):
        const { signature, timestamp, deliveryId } = deliveryHeaders(request);
        assert.match(String(deliveryId), /^[0-9a-f-]{36}$/);
        assert.ok(Math.abs(Number(timestamp) - Date.now() / 1000) < 5, `timestamp ${timestamp}`);
        const expected =
          'v1=' +
          createHmac('sha256', SECRET)
            .update(`${timestamp}.${deliveryId}.`)
            .update(request.body)
            .digest('hex');
        assert.ok(
          signature?.length === expected.length &&
            timingSafeEqual(Buffer.from(signature), Buffer.from(expected)),
        );
        const headers = deliveryHeaders(request);
        assert.equal(verifyDelivery(SECRET, request.body, headers).ok, true);
        assert.deepEqual(verifyDelivery('another secret', request.body, headers), {
          ok: false,
          reason: 'bad-signature',
        });
        assert.equal(
          verifyDelivery(SECRET, Buffer.concat([request.body, Buffer.from(' ')]), headers).ok,
          false,
        );
      } finally {
        await runner.close(1000);
      }
    });
  });

  void it('retries a 500 with exponential backoff, then succeeds', async () => {
    const answer = (_request: Received, index: number, response: ServerResponse): void => {
      response.statusCode = index < 2 ? 500 : 200;
      response.end();
    };
    await withReceiver(answer, async (url, received) => {
      const recorder = new Recorder();
      const retry: WebhookRetryPolicy = { retries: 4, initialDelayMs: 60, maxDelayMs: 1000, factor: 2 };
      const runner = createHookRunner(options(url, recorder, retry));
      try {
        runner.notify(change(1));
        await recorder.until('delivered after retries', () => recorder.successes.length === 1);
        assert.equal(received.length, 3);
        assert.equal(recorder.successes[0]?.attempts, 3);
        assert.deepEqual(recorder.failures, []);
        assert.deepEqual(
          received.map((request) => request.headers['x-link-attempt']),
          ['1', '2', '3'],
        );
        const deliveries = new Set(received.map((request) => request.headers['x-link-delivery']));
        assert.equal(deliveries.size, 1, 'one delivery id for all attempts');
        for (const request of received) {
          assert.equal(
            verifyDelivery(SECRET, request.body, deliveryHeaders(request)).ok,
            true,
            'each attempt signed',
          );
        }
        const [first, second, third] = received.map((request) => request.at);
        // Waits of 60 then 120 ms (timers may fire a little late, never early; 2 ms of clock slack).
        assert.ok(second! - first! >= 58, `first retry after ${second! - first!} ms`);
        assert.ok(third! - second! >= 118, `second retry after ${third! - second!} ms`);
      } finally {
        await runner.close(1000);
      }
    });
  });

  void it('gives up after the retries and reports the last status; a 400 is not retried', async () => {
    const answer = (request: Received, _index: number, response: ServerResponse): void => {
      const body = JSON.parse(request.body.toString('utf8')) as StateChange;
      response.statusCode = body.revision === 1 ? 503 : 400;
      response.end();
    };
    await withReceiver(answer, async (url, received) => {
      const recorder = new Recorder();
      const retry: WebhookRetryPolicy = { retries: 2, initialDelayMs: 10, maxDelayMs: 20, factor: 2 };
      const runner = createHookRunner(options(url, recorder, retry));
      try {
        runner.notify(change(1));
        runner.notify(change(2));
        await recorder.until('both failed', () => recorder.failures.length === 2);
        assert.deepEqual(
          recorder.failures.map((failure) => [failure.change.revision, failure.error.code, failure.attempts]),
          [
            [1, 'WEBHOOK_STATUS', 3],
            [2, 'WEBHOOK_STATUS', 1],
          ],
        );
        assert.equal(recorder.failures[0]?.error.message, 'webhook answered 503');
        assert.equal(received.length, 4);
      } finally {
        await runner.close(1000);
      }
    });
  });

  void it('times out on a receiver that never answers, and the next change is still delivered', async () => {
    const answer = (request: Received, _index: number, response: ServerResponse): void => {
      const body = JSON.parse(request.body.toString('utf8')) as StateChange;
      if (body.revision !== 1) response.end();
    };
    await withReceiver(answer, async (url) => {
      const recorder = new Recorder();
      const runner = createHookRunner(options(url, recorder, noRetry, 200));
      try {
        runner.notify(change(1));
        runner.notify(change(2));
        await recorder.until('second delivered', () => recorder.successes.length === 1);
        assert.deepEqual(
          recorder.failures.map((failure) => [failure.change.revision, failure.error.code]),
          [[1, 'WEBHOOK_TIMEOUT']],
        );
        assert.equal(recorder.successes[0]?.change.revision, 2);
      } finally {
        await runner.close(1000);
      }
    });
  });

  void it('keeps one VIP’s deliveries in order, one at a time', async () => {
    let inFlight = 0;
    let maxInFlight = 0;
    const answer = (_request: Received, index: number, response: ServerResponse): void => {
      inFlight += 1;
      maxInFlight = Math.max(maxInFlight, inFlight);
      // The first answer is slow: out-of-order delivery would show up.
      setTimeout(
        () => {
          inFlight -= 1;
          response.end();
        },
        index === 0 ? 150 : 0,
      );
    };
    await withReceiver(answer, async (url, received) => {
      const recorder = new Recorder();
      const runner = createHookRunner(options(url, recorder));
      try {
        for (const revision of [1, 2, 3, 4]) runner.notify(change(revision));
        await recorder.until('four delivered', () => recorder.successes.length === 4);
        assert.deepEqual(
          received.map((request) => (JSON.parse(request.body.toString('utf8')) as StateChange).revision),
          [1, 2, 3, 4],
        );
        assert.equal(maxInFlight, 1);
      } finally {
        await runner.close(1000);
      }
    });
  });

  void it('reports an unreachable receiver with its errno', async () => {
    let url = '';
    await withReceiver(ok, (address) => {
      url = address;
      return Promise.resolve();
    });
    // The receiver is closed now: connection refused.
    const recorder = new Recorder();
    const runner = createHookRunner(options(url, recorder));
    try {
      runner.notify(change(1));
      await recorder.until('failed', () => recorder.failures.length === 1);
      assert.equal(recorder.failures[0]?.error.code, 'WEBHOOK_UNREACHABLE');
      assert.equal(recorder.failures[0]?.error.message, 'webhook unreachable: ECONNREFUSED');
    } finally {
      await runner.close(1000);
    }
  });

  void it('close() cancels a delivery waiting for its next retry', async () => {
    let firstAnswered: () => void = () => undefined;
    const answeredOnce = new Promise<void>((resolve) => (firstAnswered = resolve));
    const answer = (_request: Received, _index: number, response: ServerResponse): void => {
      response.statusCode = 503;
      response.end(() => firstAnswered());
    };
    await withReceiver(answer, async (url) => {
      const recorder = new Recorder();
      const retry: WebhookRetryPolicy = { retries: 5, initialDelayMs: 10_000, maxDelayMs: 10_000, factor: 1 };
      const runner = createHookRunner(options(url, recorder, retry));
      runner.notify(change(1));
      let deadline: NodeJS.Timeout | undefined;
      await Promise.race([
        answeredOnce,
        new Promise(
          (_, reject) => (deadline = setTimeout(() => reject(new Error('no request within 3 s')), 3000)),
        ),
      ]);
      clearTimeout(deadline);
      const started = performance.now();
      await runner.close(100);
      assert.ok(performance.now() - started < 1000);
      assert.deepEqual(
        recorder.failures.map((failure) => [failure.error.code, failure.attempts]),
        [['HOOK_CANCELLED', 1]],
      );
    });
  });

  void it('the verifier of docs/hooks.md takes a fresh delivery, refuses it replayed and refuses a stale one', async () => {
    await withDocsReceiver(async (port, verdicts, processed) => {
      // A fresh delivery from the agent's webhook client, straight to the docs' receiver.
      const recorder = new Recorder();
      const runner = createHookRunner(options(`http://127.0.0.1:${port}/link-events`, recorder));
      try {
        runner.notify(change(1));
        await recorder.until('delivered', () => recorder.successes.length === 1);
      } finally {
        await runner.close(1000);
      }
      // The receiver prints after it answered: wait for its lines.
      await until('the verdict', () => verdicts.length >= 1 && processed.length >= 1, 5000);
      assert.deepEqual(
        verdicts.map((v) => v.verdict),
        ['ok'],
      );
      assert.equal(processed.length, 1, 'processed once');

      // A delivery captured on the wire (by a receiver of our own), then sent again, twice.
      let captured: Received | undefined;
      await withReceiver(ok, async (url, received) => {
        const capture = new Recorder();
        const sender = createHookRunner(options(url, capture));
        try {
          sender.notify(change(2));
          await capture.until('captured', () => capture.successes.length === 1);
        } finally {
          await sender.close(1000);
        }
        captured = received[0];
      });
      assert.ok(captured);
      const resend = (request: Received, headers: Record<string, string> = {}) =>
        httpCall({ host: '127.0.0.1', port }, 'POST', '/link-events', {
          headers: {
            'content-type': 'application/json',
            'x-link-signature': String(request.headers['x-link-signature']),
            'x-link-timestamp': String(request.headers['x-link-timestamp']),
            'x-link-delivery': String(request.headers['x-link-delivery']),
            ...headers,
          },
          body: request.body,
        });
      assert.equal((await resend(captured)).status, 204, 'first arrival of the capture: accepted');
      const replayed = await resend(captured);
      assert.equal(replayed.text, 'already processed');
      assert.equal(
        (
          await resend(captured, {
            'x-link-timestamp': String(Number(captured.headers['x-link-timestamp']) + 1),
          })
        ).status,
        401,
        'a refreshed timestamp breaks the signature',
      );

      // A delivery signed 5 min 1 s ago (what a capture replayed later looks like).
      const staleAt = Math.floor(Date.now() / 1000) - 301;
      const body = Buffer.from(JSON.stringify(change(3)));
      const stale = await httpCall({ host: '127.0.0.1', port }, 'POST', '/link-events', {
        headers: {
          'content-type': 'application/json',
          'x-link-delivery': 'd-stale',
          'x-link-timestamp': String(staleAt),
          'x-link-signature': signDelivery(SECRET, staleAt, 'd-stale', body),
        },
        body,
      });
      assert.equal(stale.status, 401);
      assert.equal(stale.text, 'stale');

      await until('five verdicts', () => verdicts.length >= 5, 5000);
      assert.deepEqual(
        verdicts.map((v) => v.verdict),
        ['ok', 'ok', 'replayed', 'bad-signature', 'stale'],
      );
      assert.equal(processed.length, 2, 'the fresh delivery and the capture, each processed once');

      // The reference verifier agrees, on the same captured bytes.
      const seen = new SeenDeliveries();
      const headers = deliveryHeaders(captured);
      assert.equal(verifyDelivery(SECRET, captured.body, headers, { seen }).ok, true);
      seen.remember(String(headers.deliveryId));
      assert.deepEqual(verifyDelivery(SECRET, captured.body, headers, { seen }), {
        ok: false,
        reason: 'replayed',
      });
      assert.deepEqual(
        verifyDelivery(SECRET, captured.body, headers, { nowSeconds: Number(headers.timestamp) + 301 }),
        { ok: false, reason: 'stale' },
      );
    });
  });
});
