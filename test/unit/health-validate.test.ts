import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { describeCheck, validateCheck, validateChecks } from '../../adapters/health/validate.ts';
import type { CheckSpecErrorCode } from '../../adapters/health/validate.ts';

function errorsOf(input: unknown): Array<[CheckSpecErrorCode, string]> {
  const result = validateChecks(input);
  return result.ok ? [] : result.errors.map((error) => [error.code, error.field]);
}

void describe('health check validation', () => {
  void it('accepts the LinK v2 TCP shape and the HTTP and EXEC kinds', () => {
    const input = [
      { type: 'TCP', host: '127.0.0.1', port: 80 },
      { type: 'TCP', host: 'db.internal', port: 5432 },
      { type: 'TCP', host: '::1', port: 443 },
      { type: 'HTTP', url: 'http://127.0.0.1:8080/health' },
      { type: 'HTTP', url: 'https://example.test/ready', expected_status: [200, 399], body_contains: 'ok' },
      { type: 'HTTP', url: 'http://127.0.0.1/', expected_status: 204 },
      { type: 'EXEC', command: '/usr/local/bin/check-db', args: ['--quick'] },
      { type: 'EXEC', command: 'true' },
    ];
    assert.deepEqual(validateChecks(input), { ok: true, value: input });
  });

  void it('treats an absent list as no checks and normalises the type case', () => {
    assert.deepEqual(validateChecks(undefined), { ok: true, value: [] });
    assert.deepEqual(validateCheck({ type: 'tcp', host: 'localhost', port: 22 }), {
      ok: true,
      value: { type: 'TCP', host: 'localhost', port: 22 },
    });
  });

  void it('names the field of every error', () => {
    assert.deepEqual(errorsOf({}), [['CHECKS_NOT_ARRAY', 'checks']]);
    assert.deepEqual(errorsOf([null]), [['CHECK_NOT_OBJECT', 'checks[0]']]);
    assert.deepEqual(errorsOf([{ type: 'ICMP' }]), [['CHECK_TYPE', 'checks[0].type']]);
    assert.deepEqual(errorsOf([{ host: 'a', port: 1 }]), [['CHECK_TYPE', 'checks[0].type']]);
    assert.deepEqual(errorsOf([{ type: 'TCP', host: '', port: 80 }]), [['CHECK_HOST', 'checks[0].host']]);
    assert.deepEqual(errorsOf([{ type: 'TCP', host: 'bad host', port: 80 }]), [
      ['CHECK_HOST', 'checks[0].host'],
    ]);
    assert.deepEqual(errorsOf([{ type: 'TCP', host: 'a', port: 0 }]), [['CHECK_PORT', 'checks[0].port']]);
    assert.deepEqual(errorsOf([{ type: 'TCP', host: 'a', port: 65536 }]), [['CHECK_PORT', 'checks[0].port']]);
    assert.deepEqual(errorsOf([{ type: 'TCP', host: 'a', port: 80.5 }]), [['CHECK_PORT', 'checks[0].port']]);
    assert.deepEqual(errorsOf([{ type: 'TCP', host: 'a', port: '80' }]), [['CHECK_PORT', 'checks[0].port']]);
    assert.deepEqual(errorsOf([{ type: 'TCP', host: 'a', port: 65535 }]), []);
    assert.deepEqual(errorsOf([{ type: 'TCP', host: 'a', port: 1, timeout: 3 }]), [
      ['CHECK_UNKNOWN_FIELD', 'checks[0].timeout'],
    ]);
    assert.deepEqual(errorsOf([{ type: 'HTTP', url: 'ftp://127.0.0.1/' }]), [
      ['CHECK_URL_SCHEME', 'checks[0].url'],
    ]);
    assert.deepEqual(errorsOf([{ type: 'HTTP', url: '/health' }]), [['CHECK_URL', 'checks[0].url']]);
    assert.deepEqual(errorsOf([{ type: 'HTTP' }]), [['CHECK_URL', 'checks[0].url']]);
    for (const expected_status of [99, 600, 200.5, '200', [300, 200], [200], [200, 300, 400], [100, 700]]) {
      assert.deepEqual(errorsOf([{ type: 'HTTP', url: 'http://a/', expected_status }]), [
        ['CHECK_EXPECTED_STATUS', 'checks[0].expected_status'],
      ]);
    }
    assert.deepEqual(errorsOf([{ type: 'HTTP', url: 'http://a/', body_contains: '' }]), [
      ['CHECK_BODY_CONTAINS', 'checks[0].body_contains'],
    ]);
    assert.deepEqual(errorsOf([{ type: 'EXEC', command: '' }]), [['CHECK_COMMAND', 'checks[0].command']]);
    assert.deepEqual(errorsOf([{ type: 'EXEC', command: '   ' }]), [['CHECK_COMMAND', 'checks[0].command']]);
    assert.deepEqual(errorsOf([{ type: 'EXEC', command: 'x', args: 'a b' }]), [
      ['CHECK_ARGS', 'checks[0].args'],
    ]);
    assert.deepEqual(errorsOf([{ type: 'EXEC', command: 'x', args: [1] }]), [
      ['CHECK_ARGS', 'checks[0].args'],
    ]);
  });

  void it('reports every error of every check, with the caller-chosen prefix', () => {
    const result = validateChecks(
      [
        { type: 'TCP', host: 'ok', port: 1 },
        { type: 'TCP', host: '', port: 0 },
      ],
      'body.checks',
    );
    assert.equal(result.ok, false);
    assert.deepEqual(!result.ok && result.errors.map((error) => error.field), [
      'body.checks[1].host',
      'body.checks[1].port',
    ]);
  });

  void it('describes checks for logs', () => {
    assert.equal(describeCheck({ type: 'TCP', host: '::1', port: 80 }), 'TCP [::1]:80');
    assert.equal(describeCheck({ type: 'TCP', host: '127.0.0.1', port: 80 }), 'TCP 127.0.0.1:80');
    assert.equal(describeCheck({ type: 'EXEC', command: '/bin/true' }), 'EXEC /bin/true');
  });
});
