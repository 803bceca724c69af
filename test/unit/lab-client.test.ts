import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { analyseReplies, parsePingLine, parsePingSummary, type EchoReply } from '../../lab/client.ts';

/** The lab client's pure part: ping -D lines into replies, replies into the client's gap. */

describe('lab client: parsing ping -D', () => {
  it('a reply line gives its kernel time in ms and its sequence number', () => {
    assert.deepEqual(
      parsePingLine('[1796226187.741833] 64 bytes from 198.18.0.100: icmp_seq=2 ttl=64 time=0.003 ms'),
      { t: 1796226187741.833, seq: 2, dup: false },
    );
  });

  it('a duplicate reply (a second host answered) is marked', () => {
    const reply = parsePingLine(
      '[1796226187.741900] 64 bytes from 198.18.0.100: icmp_seq=2 ttl=64 time=0.070 ms (DUP!)',
    );
    assert.equal(reply?.dup, true);
    assert.equal(reply?.seq, 2);
  });

  it('IPv6 replies parse too', () => {
    const reply = parsePingLine('[1796226187.5] 64 bytes from 2001:db8::100: icmp_seq=7 ttl=64 time=0.1 ms');
    assert.deepEqual(reply, { t: 1796226187500, seq: 7, dup: false });
  });

  it('headers, errors and statistics are not replies', () => {
    for (const line of [
      'PING 198.18.0.100 (198.18.0.100) 56(84) bytes of data.',
      '[1796226187.8] From 198.18.0.251 icmp_seq=9 Destination Host Unreachable',
      '--- 198.18.0.100 ping statistics ---',
      '41 packets transmitted, 41 received, 0% packet loss, time 199ms',
      '',
    ]) {
      assert.equal(parsePingLine(line), null, line);
    }
  });

  it('the summary line gives transmitted and received', () => {
    assert.deepEqual(parsePingSummary('41 packets transmitted, 40 received, +2 duplicates, 2% packet loss'), {
      transmitted: 41,
      received: 40,
    });
    assert.equal(parsePingSummary('rtt min/avg/max/mdev = 0.010/0.022/0.192/0.026 ms'), null);
  });
});

const replies = (...ts: number[]): EchoReply[] => ts.map((t, i) => ({ t, seq: i + 1, dup: false }));

describe('lab client: the gap', () => {
  it('an outage is a gap across which echoes were lost; a gap with none lost (ping not scheduled) is not', () => {
    // seq 1..4 answered at 0, 5, 10, 200 (no echo lost: ping slept), then 8 lost before 300.
    const seqs = [1, 2, 3, 4, 13, 14];
    const ts = [0, 5, 10, 200, 300, 305];
    const report = analyseReplies(
      ts.map((t, i) => ({ t, seq: seqs[i]!, dup: false })),
      -Infinity,
      305,
    );
    assert.equal(report.longestGap.ms, 190);
    assert.deepEqual(report.longestOutage, { ms: 100, lost: 8 });
    assert.deepEqual(
      analyseReplies(replies(0, 5), 0, 505).longestOutage,
      { ms: 500, lost: null },
      'to the end',
    );
  });

  it('is the longest time between two replies, with its start and end', () => {
    const report = analyseReplies(replies(0, 5, 10, 140, 145, 150), -Infinity, 150);
    assert.deepEqual(report.longestGap, { ms: 130, startT: 10, endT: 140 });
    assert.equal(report.replies, 6);
    assert.equal(report.firstReplyT, 0);
    assert.equal(report.lastReplyT, 150);
  });

  it('runs to the window end when no reply came back', () => {
    const report = analyseReplies(replies(0, 5, 10), -Infinity, 1000);
    assert.deepEqual(report.longestGap, { ms: 990, startT: 10, endT: null });
  });

  it('counts a gap that overlaps the window whole: a fault at fromT opened it at the reply before', () => {
    const report = analyseReplies(replies(0, 500, 505, 510), 100, 510);
    assert.deepEqual(report.longestGap, { ms: 500, startT: 0, endT: 500 });
    assert.equal(report.replies, 3);
  });

  it('does not count gaps outside the window, nor the time before the very first reply', () => {
    const report = analyseReplies(replies(400, 405, 410, 900, 905), 0, 410);
    assert.deepEqual(report.longestGap, { ms: 5, startT: 400, endT: 405 });
  });

  it('counts duplicates apart and never as replies that close a gap', () => {
    const report = analyseReplies(
      [
        { t: 0, seq: 1, dup: false },
        { t: 1, seq: 1, dup: true },
        { t: 200, seq: 41, dup: false },
      ],
      -Infinity,
      200,
    );
    assert.equal(report.duplicates, 1);
    assert.equal(report.replies, 2);
    assert.deepEqual(report.longestGap, { ms: 200, startT: 0, endT: 200 });
  });

  it('no reply at all: the whole window is the gap', () => {
    const report = analyseReplies([], 0, 1000);
    assert.equal(report.replies, 0);
    assert.deepEqual(report.longestGap, { ms: 1000, startT: 0, endT: null });
    assert.equal(report.firstReplyT, null);
  });
});
