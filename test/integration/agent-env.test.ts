import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

/** `linkctl agent` with a bad environment stops at once with one line naming the variable. */

const LINKCTL = fileURLToPath(new URL('../../bin/linkctl', import.meta.url));

function runAgent(env: Record<string, string>) {
  const { PATH, HOME } = process.env;
  return spawnSync(LINKCTL, ['agent'], { env: { PATH, HOME, ...env }, encoding: 'utf8', timeout: 30_000 });
}

describe('linkctl agent: bad environment', () => {
  const cases: Array<[string, Record<string, string>]> = [
    ['INTERFACE', {}],
    ['PORT', { INTERFACE: 'eth0', PORT: 'eighty' }],
    ['FAULT_POLICY', { INTERFACE: 'eth0', FAULT_POLICY: 'sometimes' }],
    ['LEASE_TTL', { INTERFACE: 'eth0', LEASE_TTL: '-3' }],
    ['ETCD_HOSTS', { INTERFACE: 'eth0', ETCD_HOSTS: 'http://exa mple:2379' }],
    ['PASSWORD', { INTERFACE: 'eth0', LISTEN_ADDRESS: '0.0.0.0' }],
    ['BIND_ADDRESS', { INTERFACE: 'eth0', BIND_ADDRESS: '0.0.0.0' }],
  ];
  for (const [variable, env] of cases) {
    it(`names ${variable}`, () => {
      const result = runAgent(env);
      assert.equal(result.status, 2, result.stderr);
      const lines = result.stderr.trim().split('\n');
      assert.equal(lines.length, 1, result.stderr);
      assert.match(lines[0]!, new RegExp(`^linkctl agent: ${variable}: `));
      assert.doesNotMatch(result.stderr, /\bat .*\.ts:\d+/, 'no stack trace');
    });
  }

  it('names PASSWORD and LISTEN_ADDRESS when the API would be open without auth', () => {
    const result = runAgent({ INTERFACE: 'eth0', LISTEN_ADDRESS: '::' });
    assert.equal(result.status, 2, result.stderr);
    assert.match(result.stderr, /^linkctl agent: PASSWORD: .*LISTEN_ADDRESS \(::\) is not loopback/);
  });

  it('names the interface when it does not exist', () => {
    const result = runAgent({ INTERFACE: 'nosuch0', STATE_DIR: '/tmp/link-env-test' });
    assert.equal(result.status, 1, result.stderr);
    assert.equal(result.stderr.trim().split('\n').length, 1, result.stderr);
    assert.match(result.stderr, /ENODEV.*nosuch0/);
  });
});
