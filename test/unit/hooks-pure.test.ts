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
import { signBody, verifySignature } from '../../adapters/hooks/sign.ts';
import type { StateChange } from '../../adapters/hooks/types.ts';
import { backoffDelay, webhookBody } from '../../adapters/hooks/webhook.ts';

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

  void it('signs with HMAC-SHA256 in the sha256=<hex> form (RFC 4231 test case 2)', () => {
    assert.equal(
      signBody('Jefe', 'what do ya want for nothing?'),
      'sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843',
    );
    assert.equal(
      verifySignature(
        'Jefe',
        'what do ya want for nothing?',
        signBody('Jefe', 'what do ya want for nothing?'),
      ),
      true,
    );
    assert.equal(verifySignature('Jefe', 'what do ya want for nothing?', undefined), false);
    assert.equal(verifySignature('Jefe', 'what do ya want for nothing?', 'sha256=00'), false);
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
  });
});
