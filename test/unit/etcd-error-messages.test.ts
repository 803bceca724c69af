import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { GRPCDeadlineExceededError, GRPCInvalidArgumentError, GRPCUnavailableError } from 'etcd3';
import { translateEtcdError } from '../../adapters/etcd/errors.ts';

/**
 * The messages of translated etcd outages: one line naming the endpoint, what failed and what
 * to check, without gRPC's status text (they reach the API's 503 body and linkctl as they are).
 */

/** grpc-js's text for a refused connection, as etcd3 reports it. */
const REFUSED =
  '14 UNAVAILABLE: No connection established. Last error: Error: connect ECONNREFUSED 198.18.0.2:2379. Resolution note: ';

describe('etcd outage messages', () => {
  it('a refused connection names the address, the errno and ETCD_HOSTS', () => {
    const err = translateEtcdError(new GRPCUnavailableError(REFUSED), 'range /link/x', {
      endpoints: ['198.18.0.2:2379', '198.18.0.3:2379'],
    });
    assert.equal(
      err.message,
      'range /link/x: cannot reach 198.18.0.2:2379 (ECONNREFUSED): check ETCD_HOSTS and that etcd runs there',
    );
  });

  it('an unavailable etcd without a socket error names the configured endpoints', () => {
    const err = translateEtcdError(
      new GRPCUnavailableError('14 UNAVAILABLE: Connection dropped'),
      'put /link/y',
      {
        endpoints: ['198.18.0.2:2379', '198.18.0.3:2379'],
      },
    );
    assert.equal(
      err.message,
      'put /link/y: cannot reach 198.18.0.2:2379,198.18.0.3:2379: check ETCD_HOSTS and that etcd runs there',
    );
  });

  it('a deadline says no answer came in time', () => {
    const err = translateEtcdError(
      new GRPCDeadlineExceededError('4 DEADLINE_EXCEEDED: Deadline exceeded after 1.501s,LB pick: 0.001s'),
      'txn /link/z',
      { endpoints: ['198.18.0.2:2379'] },
    );
    assert.match(err.message, /^txn \/link\/z: no answer from 198\.18\.0\.2:2379 in time: check /);
  });

  it('never carries gRPC status text nor more than one line', () => {
    for (const raw of [
      new GRPCUnavailableError(REFUSED),
      new GRPCDeadlineExceededError('4 DEADLINE_EXCEEDED: Deadline exceeded'),
      new GRPCInvalidArgumentError('3 INVALID_ARGUMENT: etcdserver: bad\nsecond line'),
    ]) {
      const { message } = translateEtcdError(raw, 'op');
      assert.doesNotMatch(
        message,
        /UNAVAILABLE|DEADLINE_EXCEEDED|INVALID_ARGUMENT|Resolution note|\n/,
        message,
      );
    }
  });
});
