import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { parseStoredVip } from '../../adapters/etcd/config-store.ts';
import { EtcdBadValueError } from '../../adapters/etcd/errors.ts';

describe('stored VIP configuration', () => {
  it('reads a LinK v2 record without checks (Go omitempty) as no checks', () => {
    const vip = parseStoredVip('{"id":"vip-1","ip":"10.0.0.1/32","healthcheck_interval":0}', 'k');
    assert.deepEqual(vip.checks, []);
    assert.equal(vip.ip, '10.0.0.1/32');
  });

  it('keeps the checks it has', () => {
    const raw = '{"id":"vip-1","ip":"10.0.0.1/32","checks":[{"type":"TCP","host":"127.0.0.1","port":80}]}';
    assert.equal(parseStoredVip(raw, 'k').checks.length, 1);
  });

  it('refuses what is not a VIP', () => {
    for (const raw of ['nope', '{"id":1,"ip":"x"}', '{"id":"a","ip":"b","checks":"TCP"}']) {
      assert.throws(() => parseStoredVip(raw, 'k'), EtcdBadValueError);
    }
  });
});
