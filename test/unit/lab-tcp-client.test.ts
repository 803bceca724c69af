import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { analyseTcpReplies } from '../../lab/tcp-client.ts';

describe('lab TCP client: the longest wait between replies', () => {
  it('counts from the last reply before the window, and to its end', () => {
    const replies = [100, 105, 110, 300, 305];
    const drops = [{ t: 200, why: 'ECONNRESET' }];
    assert.deepEqual(analyseTcpReplies(replies, drops, 107, 310), {
      longestGapMs: 190,
      replies: 3,
      drops,
    });
    assert.equal(analyseTcpReplies(replies, [], 0, 1000).longestGapMs, 695, 'silent to the end');
    assert.deepEqual(analyseTcpReplies([], [], 50, 80), { longestGapMs: 30, replies: 0, drops: [] });
  });
});
