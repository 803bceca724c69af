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
  EtcdLeaseLostError,
  EtcdNotOwnerError,
  EtcdRequestError,
  EtcdTimeoutError,
  EtcdUnavailableError,
  EtcdWatchLostError,
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
    ['permission', new EtcdPermissionDeniedError('no'), EtcdAuthError, 'ETCD_AUTH', false],
    ['raw status 16', grpcError(16, '16 UNAUTHENTICATED'), EtcdAuthError, 'ETCD_AUTH', false],
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
