import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  checkExitCode,
  formatCheckLine,
  formatCheckReport,
  missingCapabilities,
  parseCapEff,
  validateEnvironment,
  versionAtLeast,
  type CheckResult,
} from '../../config/check.ts';

const base = { INTERFACE: 'eth0', HOSTNAME: 'node-1' };

describe('linkctl agent --check: the pure parts', () => {
  it('formats one line per check with ✓, ✗ or -, and a summary', () => {
    const results: CheckResult[] = [
      { name: 'interface', status: 'ok', message: 'eth0 exists and is up' },
      { name: 'etcd', status: 'fail', message: 'ETCD_UNAVAILABLE: refused\n  (details)' },
      { name: 'API port', status: 'skip', message: 'not checked: PORT is invalid' },
    ];
    assert.equal(formatCheckLine(results[0]!), '✓ interface: eth0 exists and is up');
    assert.equal(formatCheckLine(results[1]!), '✗ etcd: ETCD_UNAVAILABLE: refused (details)');
    assert.equal(formatCheckLine(results[2]!), '- API port: not checked: PORT is invalid');
    assert.equal(formatCheckReport(results).split('\n').at(-2), '1 of 3 checks failed');
    assert.equal(checkExitCode(results), 1);
    assert.equal(checkExitCode([results[0]!]), 0);
    assert.equal(formatCheckReport([results[0]!]).split('\n').at(-2), 'all 1 checks passed');
  });

  it('reads the effective capabilities of /proc/self/status', () => {
    const status =
      'Name:\tnode\nCapInh:\t0000000000003000\nCapEff:\t0000000000003000\nCapBnd:\t000001ffffffffff\n';
    assert.equal(parseCapEff(status), 0x3000n);
    assert.deepEqual(missingCapabilities(0x3000n), []);
    assert.deepEqual(missingCapabilities(0x1000n), ['CAP_NET_RAW']);
    assert.deepEqual(missingCapabilities(0x2000n), ['CAP_NET_ADMIN']);
    assert.deepEqual(missingCapabilities(0n), ['CAP_NET_ADMIN', 'CAP_NET_RAW']);
    assert.deepEqual(missingCapabilities(0x1ffffffffffn), []);
    assert.equal(parseCapEff('Name:\tnode\n'), null);
  });

  it('compares etcd versions with 3.3.0', () => {
    assert.equal(versionAtLeast('3.4.23', '3.3.0'), true);
    assert.equal(versionAtLeast('3.3.0', '3.3.0'), true);
    assert.equal(versionAtLeast('3.10.0', '3.3.0'), true);
    assert.equal(versionAtLeast('3.2.32', '3.3.0'), false);
    assert.equal(versionAtLeast('2.3.8', '3.3.0'), false);
    assert.equal(versionAtLeast('v3.5.1', '3.3.0'), true);
    assert.equal(versionAtLeast('garbage', '3.3.0'), false);
  });

  it('a valid environment gives the configuration and no error', () => {
    const result = validateEnvironment(base);
    assert.equal(result.errors.length, 0);
    assert.equal(result.config?.interfaceName, 'eth0');
  });

  it('reports every bad variable, not only the first, each naming the expected form', () => {
    const result = validateEnvironment({
      ...base,
      PORT: 'http',
      LEASE_TTL: '1500ms',
      FAULT_POLICY: 'maybe',
      PASSWORD: 'secret',
      TLS_CERT: '/etc/cert.pem',
      ETCD_USER: 'link',
      METRICS_PUBLIC: 'perhaps',
    });
    assert.equal(result.config, null);
    assert.deepEqual(
      result.errors.map((e) => e.variable).sort(),
      ['ETCD_PASSWORD', 'FAULT_POLICY', 'LEASE_TTL', 'METRICS_PUBLIC', 'PORT', 'TLS_KEY', 'USER'].sort(),
    );
    for (const err of result.errors) {
      assert.match(err.message, new RegExp(`^${err.variable}: `));
      assert.ok(!err.message.includes('\n'));
    }
    assert.match(
      result.errors.find((e) => e.variable === 'PORT')!.message,
      /expected an integer between 1 and 65535/,
    );
    // The checks that do not depend on the bad variables still get a configuration.
    assert.equal(result.fallback?.interfaceName, 'eth0');
  });

  it('a missing INTERFACE is reported and the rest is still read', () => {
    const result = validateEnvironment({ HOSTNAME: 'x', PORT: '0' });
    assert.deepEqual(
      result.errors.map((e) => e.variable),
      ['INTERFACE', 'PORT'],
    );
    assert.ok(result.fallback);
  });

  it('never prints a secret value', () => {
    const result = validateEnvironment({ ...base, ETCD_PASSWORD: 'hunter2' });
    assert.ok(result.errors.every((e) => !e.message.includes('hunter2')));
  });
});
