import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  EtcdAuthenticationFailedError,
  EtcdLeaseInvalidError,
  EtcdPermissionDeniedError,
  GRPCDeadlineExceededError,
  GRPCInvalidArgumentError,
  GRPCUnavailableError,
} from 'etcd3';
import type { EtcdAdapterError } from '../../adapters/etcd/errors.ts';
import {
  EtcdAuthError,
  EtcdAuthTokenError,
  EtcdLeaseLostError,
  EtcdPermissionError,
  EtcdTlsError,
  EtcdNotOwnerError,
  EtcdRequestError,
  EtcdTimeoutError,
  EtcdUnavailableError,
  EtcdWatchLostError,
  isConfigurationError,
  isRecoverable,
  translateEtcdError,
} from '../../adapters/etcd/errors.ts';

/** A raw gRPC error as a stream reports it: a plain Error with a numeric status code. */
function grpcError(code: number, message: string): Error {
  return Object.assign(new Error(message), { code });
}

describe('etcd error translation', () => {
  const cases: [string, unknown, new (...args: never[]) => EtcdAdapterError, string, boolean][] = [
    ['typed unavailable', new GRPCUnavailableError('down'), EtcdUnavailableError, 'ETCD_UNAVAILABLE', true],
    [
      'raw status 14',
      grpcError(14, '14 UNAVAILABLE: connect ECONNREFUSED'),
      EtcdUnavailableError,
      'ETCD_UNAVAILABLE',
      true,
    ],
    ['raw status 1 (cancelled)', grpcError(1, '1 CANCELLED'), EtcdUnavailableError, 'ETCD_UNAVAILABLE', true],
    ['deadline', new GRPCDeadlineExceededError('slow'), EtcdTimeoutError, 'ETCD_TIMEOUT', true],
    ['raw status 4', grpcError(4, '4 DEADLINE_EXCEEDED'), EtcdTimeoutError, 'ETCD_TIMEOUT', true],
    ['lease not found', new EtcdLeaseInvalidError('42'), EtcdLeaseLostError, 'ETCD_LEASE_LOST', true],
    ['bad password', new EtcdAuthenticationFailedError('no'), EtcdAuthError, 'ETCD_AUTH', false],
    [
      'raw bad password (status 3, as etcd 3.4 sends it)',
      grpcError(3, '3 INVALID_ARGUMENT: etcdserver: authentication failed, invalid user ID or password'),
      EtcdAuthError,
      'ETCD_AUTH',
      false,
    ],
    ['permission', new EtcdPermissionDeniedError('no'), EtcdPermissionError, 'ETCD_PERMISSION', false],
    [
      'raw status 7',
      grpcError(7, '7 PERMISSION_DENIED: etcdserver: permission denied'),
      EtcdPermissionError,
      'ETCD_PERMISSION',
      false,
    ],
    ['raw status 16', grpcError(16, '16 UNAUTHENTICATED'), EtcdAuthTokenError, 'ETCD_AUTH_TOKEN', false],
    [
      'a wrong CA (the probe handshake)',
      Object.assign(new Error('not signed'), { code: 'UNABLE_TO_VERIFY_LEAF_SIGNATURE' }),
      EtcdTlsError,
      'ETCD_TLS',
      false,
    ],
    [
      'a self-signed etcd',
      Object.assign(new Error('self-signed'), { code: 'DEPTH_ZERO_SELF_SIGNED_CERT' }),
      EtcdTlsError,
      'ETCD_TLS',
      false,
    ],
    [
      'a name mismatch',
      Object.assign(new Error('altnames'), { code: 'ERR_TLS_CERT_ALTNAME_INVALID' }),
      EtcdTlsError,
      'ETCD_TLS',
      false,
    ],
    [
      'etcd refusing the client certificate',
      Object.assign(new Error('alert 42'), { code: 'ERR_SSL_SSLV3_ALERT_BAD_CERTIFICATE' }),
      EtcdTlsError,
      'ETCD_TLS',
      false,
    ],
    [
      'a refused TCP connection is no TLS error',
      Object.assign(new Error('14 UNAVAILABLE: connect ECONNREFUSED'), { code: 14 }),
      EtcdUnavailableError,
      'ETCD_UNAVAILABLE',
      true,
    ],
    ['invalid argument', new GRPCInvalidArgumentError('bad'), EtcdRequestError, 'ETCD_REQUEST_FAILED', false],
    ['anything else', new TypeError('boom'), EtcdRequestError, 'ETCD_REQUEST_FAILED', false],
    ['not an Error', 'weird', EtcdRequestError, 'ETCD_REQUEST_FAILED', false],
  ];
  for (const [name, raw, cls, code, recoverable] of cases) {
    it(`${name} -> ${code}`, () => {
      const err = translateEtcdError(raw, 'txn /link/default/x');
      assert.ok(err instanceof cls, `${err.name} is not ${cls.name}`);
      assert.equal(err.code, code);
      assert.equal(err.name, cls.name);
      assert.equal(err.cause, raw);
      assert.equal(isRecoverable(err), recoverable);
      assert.match(err.message, /^txn \/link\/default\/x: /);
    });
  }

  it('configuration errors are TLS, authentication and permission refusals only', () => {
    const kinds = [
      [new EtcdAuthenticationFailedError('no'), true],
      [new EtcdPermissionDeniedError('no'), true],
      [Object.assign(new Error('x'), { code: 'CERT_HAS_EXPIRED' }), true],
      [grpcError(16, '16 UNAUTHENTICATED: etcdserver: invalid auth token'), false],
      [new GRPCUnavailableError('down'), false],
      [new GRPCDeadlineExceededError('slow'), false],
      [Object.assign(new Error('x'), { code: 'ECONNREFUSED' }), false],
    ] as const;
    for (const [raw, expected] of kinds) {
      assert.equal(isConfigurationError(translateEtcdError(raw, 'op')), expected, String(raw));
    }
  });

  it('names the user etcd refused, never the password', () => {
    const err = translateEtcdError(new EtcdAuthenticationFailedError('no'), 'range /link/hosts/a/lease', {
      user: 'link',
    });
    assert.equal(
      err.message,
      'range /link/hosts/a/lease: etcd auth: authentication failed for user "link" (ETCD_USER, ETCD_PASSWORD)',
    );
    const denied = translateEtcdError(new EtcdPermissionDeniedError('no'), 'put /link/x', { user: 'link' });
    assert.match(denied.message, /^put \/link\/x: etcd auth: permission denied for user "link"/);
  });

  it('adapter errors pass through unchanged', () => {
    const err = new EtcdWatchLostError('gone');
    assert.equal(translateEtcdError(err, 'watch'), err);
    assert.equal(isRecoverable(err), true);
  });

  it('isRecoverable is false for foreign errors and non-recoverable classes', () => {
    assert.equal(isRecoverable(new Error('x')), false);
    assert.equal(isRecoverable(new GRPCUnavailableError('x')), false, 'raw errors must be translated first');
    assert.equal(isRecoverable(new EtcdNotOwnerError('x')), false);
    assert.equal(isRecoverable(undefined), false);
  });
});
