import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { ITxnRequest } from 'etcd3';
import { EtcdConfigStore, parseStoredVip } from '../../adapters/etcd/config-store.ts';
import { EtcdBadValueError, EtcdTimeoutError } from '../../adapters/etcd/errors.ts';
import { makeKeys } from '../../adapters/etcd/keys.ts';
import type { EtcdRpc } from '../../adapters/etcd/rpc.ts';
import type { StoredVip } from '../../adapters/etcd/types.ts';
import { silentLogger } from '../../adapters/logger.ts';
import { prefixRangeEnd } from '../../adapters/etcd/keys.ts';
import { FakeEtcd } from '../support/fake-etcd.ts';

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

/** A transport whose next transaction is lost on the way back (applied) or held (applied later). */
function lossy(rpc: EtcdRpc) {
  let mode: 'applied' | 'held' | null = null;
  const held: ITxnRequest[] = [];
  const wrapped: EtcdRpc = {
    ...rpc,
    txn: async (req) => {
      const now = mode;
      mode = null;
      if (now === 'applied') await rpc.txn(req);
      if (now === 'held') held.push(req);
      if (now !== null) throw new EtcdTimeoutError('txn: no answer in time');
      return rpc.txn(req);
    },
  };
  return {
    rpc: wrapped,
    loseNext: (how: 'applied' | 'held') => (mode = how),
    /** The held request reaches etcd now (a TCP buffer emptied when the partition heals). */
    land: async () => (await rpc.txn(held.shift()!)).succeeded,
  };
}

const keys = makeKeys('/link');
const vip = (n: number, ip = `198.18.0.${n}/32`): StoredVip => ({
  id: `vip-00000000-0000-4000-8000-00000000000${n}`,
  ip,
  checks: [],
});
/** The VIP record keys of a host, as etcd holds them. */
async function records(etcd: FakeEtcd, host = 'h1'): Promise<string[]> {
  const key = Buffer.from(keys.hostPrefix(host));
  const res = await etcd.client('test').range({ key, range_end: prefixRangeEnd(key), keys_only: true });
  return res.kvs.map((kv) => kv.key.toString()).filter((k) => !k.endsWith('/lease'));
}

describe('config store: one record per address (the address index)', () => {
  it('stores the record and its index key in one transaction; a second record of the address is refused', async () => {
    const etcd = new FakeEtcd();
    const a = new EtcdConfigStore(etcd.client('a'), keys, 'h1', silentLogger);
    const b = new EtcdConfigStore(etcd.client('b'), keys, 'h1', silentLogger);
    const [first, second] = await Promise.all([
      a.add(vip(1, '198.18.0.50/32')),
      b.add(vip(2, '198.18.0.50/32')),
    ]);
    const answers = [first, second];
    assert.equal(answers.filter((r) => r.added).length, 1, JSON.stringify(answers));
    const winner = first.added ? vip(1).id : vip(2).id;
    assert.deepEqual(
      answers.find((r) => !r.added),
      { added: false, existingId: winner },
    );
    assert.deepEqual(await records(etcd), [keys.config('h1', winner)]);
    assert.equal(etcd.get(keys.addressIndex('h1', '198.18.0.50/32'))?.value, winner);
    // Another host may carry the same address: the index is per host.
    const other = new EtcdConfigStore(etcd.client('c'), keys, 'h2', silentLogger);
    assert.deepEqual(await other.add(vip(3, '198.18.0.50/32')), { added: true });
  });

  it('delete frees the address; an index key whose record is gone does not hold it', async () => {
    const etcd = new FakeEtcd();
    const store = new EtcdConfigStore(etcd.client('a'), keys, 'h1', silentLogger);
    await store.add(vip(1));
    await store.delete(vip(1));
    assert.equal(etcd.get(keys.addressIndex('h1', vip(1).ip)), undefined);
    assert.deepEqual(await store.add(vip(2, vip(1).ip)), { added: true });
    etcd.delete(keys.config('h1', vip(2).id)); // an operator's etcdctl del
    assert.deepEqual(await store.add(vip(3, vip(1).ip)), { added: true });
    assert.deepEqual(await records(etcd), [keys.config('h1', vip(3).id)]);
  });

  it('list() indexes records written without the index and deletes a second record of one address', async () => {
    const etcd = new FakeEtcd();
    // As LinK before the index (or v2, or etcdctl) wrote them: records only, one address twice.
    etcd.put(keys.config('h1', vip(1).id), JSON.stringify(vip(1, '198.18.0.60/32')));
    etcd.put(keys.config('h1', vip(2).id), JSON.stringify(vip(2)));
    etcd.put(keys.config('h1', vip(3).id), JSON.stringify(vip(3, '198.18.0.60/32')));
    etcd.put(keys.addressIndex('h1', '198.18.0.99/32'), vip(4).id); // its record is gone
    const store = new EtcdConfigStore(etcd.client('a'), keys, 'h1', silentLogger);
    const listed = await store.list();
    assert.deepEqual(listed, [vip(1, '198.18.0.60/32'), vip(2)]);
    assert.deepEqual(await records(etcd), [keys.config('h1', vip(1).id), keys.config('h1', vip(2).id)]);
    assert.equal(etcd.get(keys.addressIndex('h1', '198.18.0.60/32'))?.value, vip(1).id);
    assert.equal(etcd.get(keys.addressIndex('h1', vip(2).ip))?.value, vip(2).id);
    assert.equal(etcd.get(keys.addressIndex('h1', '198.18.0.99/32')), undefined);
    // The next start finds the same.
    assert.deepEqual(await new EtcdConfigStore(etcd.client('b'), keys, 'h1', silentLogger).list(), listed);
    // The index names the record to keep when there is one, whatever its age.
    etcd.put(keys.config('h1', vip(5).id), JSON.stringify(vip(5, vip(2).ip)));
    etcd.put(keys.addressIndex('h1', vip(2).ip), vip(5).id);
    const again = await new EtcdConfigStore(etcd.client('c'), keys, 'h1', silentLogger).list();
    assert.deepEqual(again, [vip(1, '198.18.0.60/32'), vip(5, vip(2).ip)]);
  });
});

describe('config store: the start migration', () => {
  it('a step whose key changed since the read is left for the next start; the others are done', async () => {
    const etcd = new FakeEtcd();
    etcd.put(keys.config('h1', vip(1).id), JSON.stringify(vip(1, '198.18.0.60/32')));
    etcd.put(keys.config('h1', vip(2).id), JSON.stringify(vip(2)));
    etcd.put(keys.config('h1', vip(3).id), JSON.stringify(vip(3, '198.18.0.60/32')));
    const changed = { ...vip(3, '198.18.0.60/32'), healthcheck_interval: 5 };
    // After the read (the first transaction), before the migration's batch.
    etcd.beforeTxn(() =>
      etcd.beforeTxn(() => etcd.put(keys.config('h1', vip(3).id), JSON.stringify(changed))),
    );
    const store = new EtcdConfigStore(etcd.client('a'), keys, 'h1', silentLogger);
    assert.deepEqual(await store.list(), [vip(1, '198.18.0.60/32'), vip(2)]);
    assert.equal(etcd.get(keys.addressIndex('h1', '198.18.0.60/32'))?.value, vip(1).id);
    assert.equal(etcd.get(keys.addressIndex('h1', vip(2).ip))?.value, vip(2).id);
    assert.equal((await records(etcd)).length, 3);
    await new EtcdConfigStore(etcd.client('b'), keys, 'h1', silentLogger).list();
    assert.deepEqual(await records(etcd), [keys.config('h1', vip(1).id), keys.config('h1', vip(2).id)]);
  });

  it('indexes a large store in a few transactions', async () => {
    const etcd = new FakeEtcd();
    const many = Array.from({ length: 300 }, (_, i) => ({
      id: `vip-00000000-0000-4000-8000-${String(i).padStart(12, '0')}`,
      ip: `198.18.${i >> 8}.${i & 255}/32`,
      checks: [],
    }));
    for (const v of many) etcd.put(keys.config('h1', v.id), JSON.stringify(v));
    const store = new EtcdConfigStore(etcd.client('a'), keys, 'h1', silentLogger);
    assert.equal((await store.list()).length, 300);
    const txns = etcd.calls.filter((c) => c.client === 'a' && c.method === 'txn').length;
    assert.ok(txns <= 1 + Math.ceil(300 / 64), `${txns} transactions`);
    for (const v of many) assert.equal(etcd.get(keys.addressIndex('h1', v.ip))?.value, v.id);
  });
});

describe('config store: a refused write never lands', () => {
  const setup = async () => {
    const etcd = new FakeEtcd();
    const wire = lossy(etcd.client('a'));
    const store = new EtcdConfigStore(wire.rpc, keys, 'h1', silentLogger);
    await store.list();
    return { etcd, wire, store };
  };

  it('a delete etcd took but whose answer was lost is put back', async () => {
    const { etcd, wire, store } = await setup();
    await store.add(vip(1));
    wire.loseNext('applied');
    await assert.rejects(store.delete(vip(1)), EtcdTimeoutError);
    assert.deepEqual(store.pendingUndos, [vip(1).id]);
    await store.settle();
    assert.deepEqual(await records(etcd), [keys.config('h1', vip(1).id)]);
    assert.equal(etcd.get(keys.addressIndex('h1', vip(1).ip))?.value, vip(1).id);
    assert.deepEqual(store.pendingUndos, []);
  });

  it('a delete that reaches etcd after its undo fails its comparison', async () => {
    const { etcd, wire, store } = await setup();
    await store.add(vip(1));
    wire.loseNext('held');
    await assert.rejects(store.delete(vip(1)), EtcdTimeoutError);
    await store.settle();
    assert.equal(await wire.land(), false);
    assert.deepEqual(await records(etcd), [keys.config('h1', vip(1).id)]);
  });

  it('a refused add is removed, and its late copy does not land', async () => {
    const { etcd, wire, store } = await setup();
    wire.loseNext('applied');
    await assert.rejects(store.add(vip(1)), EtcdTimeoutError);
    await store.settle();
    assert.deepEqual(await records(etcd), []);
    assert.equal(etcd.get(keys.addressIndex('h1', vip(1).ip)), undefined);
    wire.loseNext('held');
    await assert.rejects(store.add(vip(2, vip(1).ip)), EtcdTimeoutError);
    await store.settle();
    assert.equal(await wire.land(), false);
    assert.deepEqual(await records(etcd), []);
    assert.deepEqual(await store.add(vip(3, vip(1).ip)), { added: true });
  });

  it('a refused update is put back to the last accepted record', async () => {
    const { etcd, wire, store } = await setup();
    await store.add(vip(1));
    const changed = { ...vip(1), checks: [{ type: 'TCP', host: '127.0.0.1', port: 80 }] };
    wire.loseNext('held');
    await assert.rejects(store.update(vip(1), changed), EtcdTimeoutError);
    await store.settle();
    assert.equal(await wire.land(), false);
    assert.deepEqual(JSON.parse(etcd.get(keys.config('h1', vip(1).id))!.value), vip(1));
  });

  it('a write after a refused one of the same VIP lands after its undo, and stays', async () => {
    const { etcd, wire, store } = await setup();
    await store.add(vip(1));
    const first = { ...vip(1), healthcheck_interval: 1 };
    const second = { ...vip(1), healthcheck_interval: 2 };
    wire.loseNext('applied');
    await assert.rejects(store.update(vip(1), first), EtcdTimeoutError);
    // Sent at once, with the undo already scheduled: it waits for the undo, then is applied.
    await store.update(vip(1), second);
    assert.deepEqual(store.pendingUndos, []);
    assert.deepEqual(JSON.parse(etcd.get(keys.config('h1', vip(1).id))!.value), second);
  });

  it('the undo retries by itself until etcd takes it', async () => {
    const { etcd, wire, store } = await setup();
    await store.add(vip(1));
    wire.loseNext('applied');
    await assert.rejects(store.delete(vip(1)), EtcdTimeoutError);
    etcd.down = FakeEtcd.unavailable();
    await assert.rejects(store.settle());
    // A write meanwhile is refused before it is sent (the undo comes first).
    await assert.rejects(store.add(vip(2)));
    etcd.down = null;
    const deadline = Date.now() + 5000;
    while (store.pendingUndos.length > 0 && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 20));
    assert.deepEqual(await records(etcd), [keys.config('h1', vip(1).id)]);
  });

  it('a start fences what an earlier process of the host left in flight', async () => {
    const { etcd, wire, store } = await setup();
    await store.add(vip(1));
    wire.loseNext('held');
    await assert.rejects(store.delete(vip(1)), EtcdTimeoutError);
    // The process exits before its undo; the next one starts, then the old request arrives.
    assert.deepEqual(await new EtcdConfigStore(etcd.client('b'), keys, 'h1', silentLogger).list(), [vip(1)]);
    assert.equal(await wire.land(), false);
    assert.deepEqual(await records(etcd), [keys.config('h1', vip(1).id)]);
  });
});
