import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Context, Next } from 'koa';
import { HttpError } from '../../http/errors.ts';
import { createLoadShedder } from '../../http/load.ts';

/** http/load.ts: what the API takes on at once, and the cheap 503 beyond. */

const ctx = (path = '/ips') => ({ path }) as Context;

describe('load shedding (http/load.ts)', () => {
  it('answers 503 API_BUSY with Retry-After beyond the in-flight limit, never for /healthz', async () => {
    const shed: string[] = [];
    const shedder = createLoadShedder({ inFlight: 2 }, (reason) => shed.push(reason));
    let release = () => undefined as void;
    const held = new Promise<void>((resolve) => (release = resolve));
    const slow: Next = () => held;
    const first = shedder.middleware(ctx(), slow);
    const second = shedder.middleware(ctx(), slow);
    await assert.rejects(
      shedder.middleware(ctx(), () => Promise.resolve()),
      (err: unknown) => {
        assert.ok(err instanceof HttpError);
        assert.equal(err.status, 503);
        assert.equal(err.body['code'], 'API_BUSY');
        assert.equal(err.headers['Retry-After'], '1');
        return true;
      },
    );
    await shedder.middleware(ctx('/healthz'), () => Promise.resolve());
    assert.deepEqual(shed, ['in-flight']);
    release();
    await Promise.all([first, second]);
    await shedder.middleware(ctx(), () => Promise.resolve());
  });

  it('a failed handler frees its slot', async () => {
    const shedder = createLoadShedder({ inFlight: 1 });
    await assert.rejects(shedder.middleware(ctx(), () => Promise.reject(new Error('boom'))));
    await shedder.middleware(ctx(), () => Promise.resolve());
  });

  it('caps SSE streams; a closed one frees its place', () => {
    const shed: string[] = [];
    const shedder = createLoadShedder({ sseStreams: 2 }, (reason) => shed.push(reason));
    assert.equal(shedder.openStream(), true);
    assert.equal(shedder.openStream(), true);
    assert.equal(shedder.openStream(), false);
    assert.deepEqual(shed, ['sse-streams']);
    shedder.closeStream();
    assert.equal(shedder.streams, 1);
    assert.equal(shedder.openStream(), true);
  });
});
