import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DEFAULT_PRIORITY, decodeMember, encodeMember } from '../../adapters/etcd/member.ts';

test('a member value round-trips priority and preemption', () => {
  const info = { hostname: 'h1', priority: 200, preempt: true, preemptDelayMs: 2000 };
  assert.deepEqual(decodeMember('h1', encodeMember(info)), info);
  assert.deepEqual(decodeMember('h2', encodeMember({ hostname: 'h2', priority: 0, preempt: false })), {
    hostname: 'h2',
    priority: 0,
    preempt: false,
  });
});

test("an older LinK's plain hostname and LinK v2's updated_at read as the defaults", () => {
  const defaults = { hostname: 'h1', priority: DEFAULT_PRIORITY, preempt: false };
  assert.deepEqual(decodeMember('h1', Buffer.from('h1')), defaults);
  assert.deepEqual(decodeMember('h1', '{"updated_at":"2026-12-02T10:00:00Z"}'), defaults);
  assert.deepEqual(decodeMember('h1', ''), defaults);
  assert.deepEqual(decodeMember('h1', '{not json'), defaults);
});

test('out-of-range or ill-typed fields read as the defaults; the key names the host', () => {
  for (const priority of [256, -1, 1.5, '200', null]) {
    assert.equal(decodeMember('h1', JSON.stringify({ priority })).priority, DEFAULT_PRIORITY);
  }
  assert.equal(decodeMember('h1', '{"preempt":"yes"}').preempt, false);
  assert.equal(decodeMember('h1', '{"hostname":"other"}').hostname, 'h1');
  assert.equal(decodeMember('h1', '{"preempt":false,"preempt_delay_ms":5}').preemptDelayMs, undefined);
});
