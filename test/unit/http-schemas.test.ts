import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { bodyStyleOf } from '../../http/body.ts';
import {
  createVipBody,
  normaliseVipId,
  parseBodyWith,
  parseRequestBody,
  updateVipBody,
} from '../../http/schemas.ts';

function errorOf(schema: typeof createVipBody | typeof updateVipBody, input: unknown) {
  const result = parseBodyWith(schema, input);
  assert.ok(!result.ok, JSON.stringify(input));
  return result.error;
}

describe('request body schemas', () => {
  it('canonicalises the ip and accepts LinK v2 bodies (checks null, interval 0)', () => {
    const parsed = createVipBody.parse({ ip: '198.18.0.010/24', checks: null, healthcheck_interval: 0 });
    assert.deepEqual(parsed, { ip: '198.18.0.10/24', checks: [], healthcheck_interval: 0 });
    const withChecks = createVipBody.parse({
      ip: '198.18.0.10',
      checks: [{ type: 'TCP', host: '198.18.0.2', port: 80 }],
    });
    assert.deepEqual(withChecks.checks, [{ type: 'TCP', host: '198.18.0.2', port: 80 }]);
  });

  it('names the offending field', () => {
    assert.deepEqual(errorOf(createVipBody, {}), { error: 'ip is required', field: 'ip' });
    assert.deepEqual(errorOf(createVipBody, { ip: '198.18.0.1', colour: 'red' }), {
      error: 'unknown field colour',
      field: 'colour',
    });
    assert.equal(errorOf(createVipBody, { ip: 'nope' }).field, 'ip');
    assert.equal(
      errorOf(createVipBody, { ip: '198.18.0.1', checks: [{ type: 'TCP', host: 'h', port: 0 }] }).field,
      'checks[0].port',
    );
    assert.equal(
      errorOf(createVipBody, { ip: '198.18.0.1', healthcheck_interval: 1.5 }).field,
      'healthcheck_interval',
    );
    assert.equal(
      errorOf(createVipBody, { ip: '198.18.0.1', healthcheck_interval: 3601 }).field,
      'healthcheck_interval',
    );
    assert.equal(errorOf(createVipBody, { ip: '198.18.0.1', checks: 'x' }).field, 'checks');
    assert.deepEqual(errorOf(createVipBody, [1]), { error: 'body must be a JSON object' });
    assert.deepEqual(errorOf(createVipBody, null), { error: 'body must be a JSON object' });
  });

  it('priority 0-255, preempt boolean, preempt_delay 0-3600 s, in POST and PATCH (issue 16)', () => {
    assert.deepEqual(
      createVipBody.parse({ ip: '198.18.0.1', priority: 0, preempt: true, preempt_delay: 0 }),
      {
        ip: '198.18.0.1/32',
        priority: 0,
        preempt: true,
        preempt_delay: 0,
      },
    );
    for (const priority of [256, -1, 1.5, '100', null]) {
      assert.equal(errorOf(updateVipBody, { priority }).field, 'priority');
    }
    assert.equal(errorOf(updateVipBody, { preempt: 'yes' }).field, 'preempt');
    assert.equal(errorOf(createVipBody, { ip: '198.18.0.1', preempt_delay: 3601 }).field, 'preempt_delay');
  });

  it('PATCH takes checks or healthchecks, not both', () => {
    assert.deepEqual(updateVipBody.parse({ healthchecks: null }), { healthchecks: [] });
    assert.equal(errorOf(updateVipBody, { checks: [], healthchecks: [] }).field, 'healthchecks');
    assert.equal(errorOf(updateVipBody, { checks: [{ type: 'EXEC' }] }).field, 'checks[0].command');
  });

  it('ids are vip-<uuid>, case-insensitive', () => {
    assert.equal(
      normaliseVipId('vip-0F0E0D0C-0B0A-4908-8706-050403020100'),
      'vip-0f0e0d0c-0b0a-4908-8706-050403020100',
    );
    for (const bad of [
      'vip-',
      'vip-123',
      '0f0e0d0c-0b0a-4908-8706-050403020100',
      'vip-0f0e0d0c-0b0a-4908-8706-05040302010',
      '../etc',
    ]) {
      assert.equal(normaliseVipId(bad), null, bad);
    }
  });

  it("accepts GET's read-only fields, and ignores unknown ones only in a v2-style body", () => {
    // What LinK v2's link-client sends, and a VIP as GET returns it.
    assert.deepEqual(createVipBody.parse({ id: '', ip: '198.18.0.1/32', healthcheck_interval: 0 }), {
      id: '',
      ip: '198.18.0.1/32',
      healthcheck_interval: 0,
    });
    const got = {
      id: 'vip-0f0e0d0c-0b0a-4908-8706-050403020100',
      ip: '198.18.0.1/32',
      checks: [],
      healthcheck_interval: 0,
      status: 'ACTIVATED',
      owner: true,
    };
    assert.ok(parseBodyWith(createVipBody, got).ok);
    assert.ok(parseBodyWith(updateVipBody, got).ok);
    assert.equal(errorOf(createVipBody, { ...got, owner: 'yes' }).field, 'owner');
    assert.equal(errorOf(createVipBody, { ...got, status: 'ASLEEP' }).field, 'status');
    assert.equal(errorOf(updateVipBody, { ...got, ip: 'nope' }).field, 'ip');

    const extra = { ip: '198.18.0.1', colour: 'red', checks: null };
    const strict = parseRequestBody(createVipBody, extra, 'json');
    assert.deepEqual(strict, {
      parsed: { ok: false, error: { error: 'unknown field colour', field: 'colour' } },
      ignored: [],
    });
    const v2 = parseRequestBody(createVipBody, extra, 'v2');
    assert.deepEqual(v2, {
      parsed: { ok: true, value: { ip: '198.18.0.1/32', checks: [] } },
      ignored: ['colour'],
    });
    // Only the top level is lenient: a check's fields are checked as strictly.
    const nested = parseRequestBody(
      createVipBody,
      { ip: '198.18.0.1', checks: [{ type: 'TCP', host: 'h', port: 1, x: 1 }] },
      'v2',
    );
    assert.equal(nested.parsed.ok, false);
    // PATCH's schema is refined; its fields are still known.
    assert.deepEqual(parseRequestBody(updateVipBody, { healthchecks: null, x: 1 }, 'v2').ignored, ['x']);
    assert.deepEqual(parseRequestBody(createVipBody, [1], 'v2').ignored, []);

    assert.equal(bodyStyleOf(undefined), 'v2');
    assert.equal(bodyStyleOf(''), 'v2');
    assert.equal(bodyStyleOf('application/x-www-form-urlencoded'), 'v2');
    assert.equal(bodyStyleOf('application/json; charset=utf-8'), 'json');
    assert.equal(bodyStyleOf('application/merge-patch+json'), 'json');
    assert.equal(bodyStyleOf('text/plain'), null);
    assert.equal(bodyStyleOf('application/json; charset=latin1'), null);
  });
});
