import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  HookCancelledError,
  HookTimeoutError,
  isRetryableHookError,
  WebhookStatusError,
  WebhookTimeoutError,
  WebhookUnreachableError,
} from '../../adapters/hooks/errors.ts';
import { hookEnvironment } from '../../adapters/hooks/exec.ts';
import {
  SeenDeliveries,
  signDelivery,
  verifyDelivery,
  type DeliveryHeaders,
} from '../../adapters/hooks/sign.ts';
import type { StateChange } from '../../adapters/hooks/types.ts';
import { backoffDelay } from '../../adapters/backoff.ts';
import { webhookBody } from '../../adapters/hooks/webhook.ts';

const change: StateChange = {
  vipId: 'vip-1',
  ip: '198.18.0.10/32',
  from: 'ACTIVATED',
  to: 'FAILING',
  event: 'health_check_fail',
  hostname: 'host-1',
  leaseId: null,
  time: '2026-01-01T00:00:00.000Z',
};

void describe('hook helpers', () => {
  void it('backs off exponentially up to the maximum, with optional jitter', () => {
    const policy = { retries: 5, initialDelayMs: 100, maxDelayMs: 1000, factor: 2 };
    assert.deepEqual(
      [1, 2, 3, 4, 5, 6].map((retry) => backoffDelay(policy, retry)),
      [100, 200, 400, 800, 1000, 1000],
    );
    assert.equal(
      backoffDelay({ ...policy, jitter: 0.5 }, 2, () => 1),
      100,
    );
    assert.equal(
      backoffDelay({ ...policy, jitter: 0.5 }, 2, () => 0),
      200,
    );
  });

  void it('retries network failures, timeouts, 408, 429 and 5xx only', () => {
    assert.equal(isRetryableHookError(new WebhookUnreachableError('ECONNREFUSED', new Error('x'))), true);
    assert.equal(isRetryableHookError(new WebhookTimeoutError(100)), true);
    for (const status of [408, 429, 500, 502, 503])
      assert.equal(isRetryableHookError(new WebhookStatusError(status)), true);
    for (const status of [301, 400, 401, 403, 404])
      assert.equal(isRetryableHookError(new WebhookStatusError(status)), false);
    assert.equal(isRetryableHookError(new HookCancelledError()), false);
    assert.equal(isRetryableHookError(new HookTimeoutError('t', '')), false);
  });

  void it('gives every error a stable code and name', () => {
    const error = new WebhookStatusError(503);
    assert.equal(error.code, 'WEBHOOK_STATUS');
    assert.equal(error.name, 'WebhookStatusError');
    assert.equal(error.status, 503);
    assert.equal(new HookCancelledError().code, 'HOOK_CANCELLED');
  });

  void it('signs timestamp, delivery id and body with HMAC-SHA256 as v1=<hex> (RFC 4231 key "Jefe")', () => {
    // HMAC-SHA256("Jefe", "1767268800.d-1.what do ya want for nothing?"), computed with openssl.
    assert.equal(
      signDelivery('Jefe', 1767268800, 'd-1', 'what do ya want for nothing?'),
      'v1=f2baec2a9c4131b4da367e845c51cdf54c11e14746850d7bf7534f1e6a1c02dd',
    );
  });

  void it('verifies a delivery: signature, then ±5 min, then the seen ids', () => {
    const now = 1767268800;
    const body = '{"ip":"198.18.0.10/32"}';
    const headers = (timestamp: number, deliveryId = 'd-1', secret = 'k'): DeliveryHeaders => ({
      signature: signDelivery(secret, timestamp, deliveryId, body),
      timestamp: String(timestamp),
      deliveryId,
    });
    const seen = new SeenDeliveries();
    const verdict = (h: DeliveryHeaders, b = body) => verifyDelivery('k', b, h, { seen, nowSeconds: now });
    assert.deepEqual(verdict(headers(now)), { ok: true, deliveryId: 'd-1', timestamp: now });
    assert.deepEqual(verdict(headers(now - 300)), { ok: true, deliveryId: 'd-1', timestamp: now - 300 });
    assert.deepEqual(verdict(headers(now - 301)), { ok: false, reason: 'stale' });
    assert.deepEqual(verdict(headers(now + 301)), { ok: false, reason: 'future' });
    assert.deepEqual(verdict(headers(now, 'd-1', 'other')), { ok: false, reason: 'bad-signature' });
    assert.deepEqual(verdict(headers(now), body + ' '), { ok: false, reason: 'bad-signature' });
    // The timestamp and the id are signed: changing either breaks the signature.
    assert.deepEqual(verdict({ ...headers(now - 400), timestamp: String(now) }), {
      ok: false,
      reason: 'bad-signature',
    });
    assert.deepEqual(verdict({ ...headers(now), deliveryId: 'd-2' }), { ok: false, reason: 'bad-signature' });
    assert.deepEqual(verdict({ ...headers(now), signature: undefined }), { ok: false, reason: 'unsigned' });
    assert.deepEqual(verdict({ ...headers(now), timestamp: '1e9' }), { ok: false, reason: 'bad-signature' });
    const both = headers(now);
    assert.equal(verdict({ ...both, signature: `v2=abc, ${both.signature}` }).ok, true, 'any listed value');
    seen.remember('d-1', now);
    assert.deepEqual(verdict(headers(now)), { ok: false, reason: 'replayed' });
    assert.equal(verdict(headers(now, 'd-3')).ok, true);
  });

  void it('remembers seen ids for 10 minutes and at most its bound', () => {
    const seen = new SeenDeliveries(100);
    for (let i = 0; i < 1000; i++) seen.remember(`d-${i}`, 1000);
    assert.equal(seen.size, 100);
    assert.equal(seen.has('d-999'), true);
    assert.equal(seen.has('d-0'), false, 'the oldest went first');
    seen.remember('late', 1000 + 601);
    assert.equal(seen.size, 1, 'expired ids are dropped');
  });

  void it('builds the webhook body and the notify environment from the change', () => {
    assert.deepEqual(JSON.parse(webhookBody(change).toString('utf8')), change);
    assert.deepEqual(JSON.parse(webhookBody({ ...change, revision: 12 }).toString('utf8')), {
      ...change,
      revision: 12,
    });
    assert.deepEqual(hookEnvironment({ ...change, leaseId: '42', revision: 12 }), {
      LINK_VIP: '198.18.0.10/32',
      LINK_ID: 'vip-1',
      LINK_FROM: 'ACTIVATED',
      LINK_TO: 'FAILING',
      LINK_EVENT: 'health_check_fail',
      LINK_HOSTNAME: 'host-1',
      LINK_LEASE_ID: '42',
      LINK_REVISION: '12',
      LINK_TIME: '2026-01-01T00:00:00.000Z',
    });
    assert.equal(hookEnvironment(change).LINK_LEASE_ID, '');
    assert.equal(hookEnvironment(change).LINK_REVISION, '');
    assert.equal('LINK_CONFLICT_MAC' in hookEnvironment(change), false, 'a state change has no conflict MAC');
  });

  void it('a conflict reaches the hooks with the other MAC (LINK_CONFLICT_MAC, conflictMac)', () => {
    const conflict = {
      ...change,
      from: 'ACTIVATED',
      to: 'ACTIVATED',
      event: 'conflict',
      conflictMac: '02:00:00:00:00:99',
    };
    assert.equal(hookEnvironment(conflict).LINK_CONFLICT_MAC, '02:00:00:00:00:99');
    assert.equal(hookEnvironment(conflict).LINK_EVENT, 'conflict');
    assert.deepEqual(JSON.parse(webhookBody(conflict).toString('utf8')), conflict);
  });
});
