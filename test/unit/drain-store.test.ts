import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { IPutRequest, ITxnRequest } from 'etcd3';
import { EtcdDrainStore, parseDrainRecord } from '../../adapters/etcd/drain-store.ts';
import { EtcdBadValueError, EtcdTimeoutError } from '../../adapters/etcd/errors.ts';
import { makeKeys } from '../../adapters/etcd/keys.ts';
import type { EtcdRpc } from '../../adapters/etcd/rpc.ts';
import { silentLogger } from '../../adapters/logger.ts';
import { until } from '../support/until.ts';

/** A one-key etcd: the drain key's value and mod revision; `failTxns` refuses that many writes. */
function fakeEtcd() {
  const state = { value: null as string | null, mod: 0, revision: 10, failTxns: 0, puts: [] as string[] };
  const kvs = () =>
    state.value === null
      ? []
      : [{ key: Buffer.from('k'), value: Buffer.from(state.value), mod_revision: String(state.mod) }];
  const rpc = {
    range: () => Promise.resolve({ kvs: kvs(), header: { revision: String(state.revision) } }),
    txn: (req: ITxnRequest) => {
      if (state.failTxns > 0) {
        state.failTxns--;
        return Promise.reject(new EtcdTimeoutError('deadline'));
      }
      const compare = req.compare![0]!;
      if (String(compare.mod_revision) !== String(state.mod)) {
        return Promise.resolve({
          succeeded: false,
          header: { revision: String(state.revision) },
          responses: [{ response_range: { kvs: kvs() } }],
        });
      }
      state.value = req.success![0]!.request_put!.value!.toString();
      state.mod = ++state.revision;
      return Promise.resolve({
        succeeded: true,
        header: { revision: String(state.revision) },
        responses: [],
      });
    },
    put: (req: IPutRequest) => {
      state.value = req.value!.toString();
      state.puts.push(state.value);
      state.mod = ++state.revision;
      return Promise.resolve({ header: { revision: String(state.revision) } });
    },
  } as unknown as EtcdRpc;
  return { state, store: new EtcdDrainStore(rpc, makeKeys('/link'), 'h1', silentLogger) };
}

describe('drain store (adapters/etcd/drain-store.ts)', () => {
  it('the key is LinK-own, outside hosts/<host>/ (LinK v2 reads everything there as a VIP)', () => {
    assert.equal(makeKeys('/link').drain('h1'), '/link/drain/h1');
  });

  it('absent reads undrained; a write is conditioned on the revision read', async () => {
    const { state, store } = fakeEtcd();
    assert.deepEqual(await store.read(), { drained: false });
    await store.write({ drained: true, since: 't' });
    assert.deepEqual(JSON.parse(state.value!), { drained: true, since: 't' });
    // Undrain writes the record rather than deleting it: the revision moves on every write.
    await store.write({ drained: false });
    assert.deepEqual(JSON.parse(state.value!), { drained: false });
    assert.deepEqual(await store.read(), { drained: false });
  });

  it('a write of someone else in between: read its revision and write over it', async () => {
    const { state, store } = fakeEtcd();
    await store.read();
    state.value = '{"drained":false}';
    state.mod = ++state.revision;
    await store.write({ drained: true, since: 't' });
    assert.equal((JSON.parse(state.value) as { drained: boolean }).drained, true);
  });

  it('a refused write rejects, and its undo (the previous record) is put until etcd takes it', async () => {
    const { state, store } = fakeEtcd();
    await store.read();
    state.failTxns = 1;
    await assert.rejects(store.write({ drained: true, since: 't' }), EtcdTimeoutError);
    await until('the undo', () => state.puts.length === 1, 2000);
    assert.deepEqual(JSON.parse(state.puts[0]!), { drained: false });
    // A late copy of the refused write compared with the revision before the undo: it fails.
    await store.write({ drained: true, since: 'u' });
    assert.equal((JSON.parse(state.value!) as { since: string }).since, 'u');
  });

  it('a value LinK did not write is a typed error', () => {
    assert.throws(() => parseDrainRecord('nope', 'k'), EtcdBadValueError);
    assert.throws(() => parseDrainRecord('{"drained":"yes"}', 'k'), EtcdBadValueError);
    assert.deepEqual(parseDrainRecord('{"drained":true,"since":"s"}', 'k'), { drained: true, since: 's' });
  });
});
