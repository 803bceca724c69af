import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { TurnBatcher } from '../../actors/batcher.ts';

/** A promise for the next turn of the event loop (after setImmediate callbacks queued before it). */
const nextTurn = () => new Promise<void>((resolve) => setImmediate(resolve));

describe('TurnBatcher (the supervisor gets the adds of one turn as one event)', () => {
  it('hands over everything pushed in one turn as one batch, in order', async () => {
    const batches: number[][] = [];
    const batcher = new TurnBatcher<number>(
      (batch) => batches.push(batch),
      () => true,
    );
    for (let i = 0; i < 5; i++) batcher.push(i);
    assert.deepEqual(batches, [], 'nothing before the turn ends');
    await nextTurn();
    assert.deepEqual(batches, [[0, 1, 2, 3, 4]]);
    batcher.push(5);
    await nextTurn();
    assert.deepEqual(batches, [[0, 1, 2, 3, 4], [5]]);
  });

  it('gathers pushes from promise continuations of the same turn', async () => {
    const batches: string[][] = [];
    const batcher = new TurnBatcher<string>(
      (batch) => batches.push(batch),
      () => true,
    );
    // Like concurrent API adds whose etcd puts resolve together.
    await Promise.all(['a', 'b', 'c'].map(async (id) => batcher.push(await Promise.resolve(id))));
    await nextTurn();
    assert.deepEqual(batches, [['a', 'b', 'c']]);
  });

  it('drops what is no longer wanted when the batch goes out', async () => {
    const removed = new Set<string>();
    const batches: string[][] = [];
    const batcher = new TurnBatcher<string>(
      (batch) => batches.push(batch),
      (id) => !removed.has(id),
    );
    batcher.push('a');
    batcher.push('b');
    removed.add('a');
    await nextTurn();
    assert.deepEqual(batches, [['b']]);
  });

  it('flush() hands over at once and cancels the pending turn; an empty flush delivers nothing', async () => {
    const batches: string[][] = [];
    const batcher = new TurnBatcher<string>(
      (batch) => batches.push(batch),
      () => true,
    );
    batcher.flush();
    batcher.push('a');
    batcher.flush();
    assert.deepEqual(batches, [['a']]);
    await nextTurn();
    assert.deepEqual(batches, [['a']], 'the cancelled turn delivers nothing more');
  });
});
