import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { JournalEntry } from '../../actors/types.ts';
import type { IpEventType, IpState } from '../../machines/ip.ts';
import {
  cursorForKey,
  firstStep,
  normalise,
  replayCaption,
  stepBack,
  stepForward,
  stepSeqs,
  viewAt,
} from '../../http/ui/timeline.ts';

/** Time travel over a journal: stepping, live, and the state from the pure machine. */

const T = '2026-01-01T00:00:00.000Z';
const VIP = 'vip-00000000-0000-4000-8000-000000000000';

function start(seq: number): JournalEntry {
  return {
    kind: 'start',
    seq,
    time: T,
    vipId: VIP,
    ip: '198.18.0.100/32',
    faultPolicy: 'at-least-one',
    state: 'BOOTING',
  };
}
function event(seq: number, type: IpEventType, from: IpState, to: IpState): JournalEntry {
  return { kind: 'event', seq, time: T, vipId: VIP, event: type, source: 'etcd', from, to };
}
function note(seq: number): JournalEntry {
  return {
    kind: 'note',
    seq,
    time: T,
    vipId: VIP,
    level: 'info',
    code: 'ANNOUNCE_SENT',
    message: 'announced',
  };
}

// start, elected, note, demoted, health_check_fail: steps 1, 2, 4, 5.
const journal: JournalEntry[] = [
  start(1),
  event(2, 'elected', 'BOOTING', 'ACTIVATED'),
  note(3),
  event(4, 'demoted', 'ACTIVATED', 'STANDBY'),
  event(5, 'health_check_fail', 'STANDBY', 'FAILING'),
];

describe('timeline stepping', () => {
  it('steps over start and event entries, not notes', () => {
    assert.deepEqual(stepSeqs(journal), [1, 2, 4, 5]);
  });

  it('steps back from live to the state before the latest step, then to the start', () => {
    assert.equal(stepBack(journal, null), 4);
    assert.equal(stepBack(journal, 4), 2);
    assert.equal(stepBack(journal, 2), 1);
    assert.equal(stepBack(journal, 1), 1, 'stays on the first step');
  });

  it('steps forward and returns to live on the last step', () => {
    assert.equal(stepForward(journal, 1), 2);
    assert.equal(stepForward(journal, 2), 4);
    assert.equal(stepForward(journal, 4), null, 'the last step is now');
    assert.equal(stepForward(journal, null), null);
  });

  it('normalises a cursor: on a note to the step before, on the last step or beyond to live', () => {
    assert.equal(normalise(journal, 3), 2);
    assert.equal(normalise(journal, 5), null);
    assert.equal(normalise(journal, 99), null);
    assert.equal(normalise(journal, null), null);
  });

  it('handles empty and one-step journals', () => {
    assert.equal(stepBack([], null), null);
    assert.equal(stepForward([], null), null);
    assert.equal(firstStep([]), null);
    assert.equal(stepBack([start(1)], null), 1);
    assert.equal(normalise([start(1)], 1), null);
    assert.deepEqual(viewAt([], null), {
      cursor: null,
      entry: undefined,
      position: 0,
      steps: 0,
      state: null,
      recorded: null,
      replayed: false,
    });
  });

  it('maps the arrow keys, Home and End', () => {
    assert.equal(cursorForKey(journal, null, 'ArrowLeft'), 4);
    assert.equal(cursorForKey(journal, 2, 'ArrowRight'), 4);
    assert.equal(cursorForKey(journal, 4, 'Home'), 1);
    assert.equal(cursorForKey(journal, 2, 'End'), null);
    assert.equal(cursorForKey(journal, 2, 'a'), undefined);
  });
});

describe('timeline view: the state at the cursor, replayed through the machine', () => {
  it('replays each step', () => {
    const states = [1, 2, 4, null].map((cursor) => viewAt(journal, cursor));
    assert.deepEqual(
      states.map((v) => [v.cursor, v.position, v.steps, v.state, v.recorded, v.replayed]),
      [
        [1, 1, 4, 'BOOTING', 'BOOTING', true],
        [2, 2, 4, 'ACTIVATED', 'ACTIVATED', true],
        [4, 3, 4, 'STANDBY', 'STANDBY', true],
        [null, 4, 4, 'FAILING', 'FAILING', true],
      ],
    );
    assert.equal(viewAt(journal, 2).entry?.seq, 2);
    assert.equal(viewAt(journal, null).entry?.seq, 5);
  });

  it('shows what the machine does, even when the journal recorded something else', () => {
    // A journal claiming FAILING → ACTIVATED on `elected`: the machine stays FAILING.
    const forged = [
      start(1),
      event(2, 'health_check_fail', 'BOOTING', 'FAILING'),
      event(3, 'elected', 'FAILING', 'ACTIVATED'),
    ];
    const view = viewAt(forged, null);
    assert.equal(view.state, 'FAILING');
    assert.equal(view.recorded, 'ACTIVATED');
  });

  it('falls back to the recorded state when the journal in memory lost its start', () => {
    const trimmed = journal.slice(3);
    const view = viewAt(trimmed, null);
    assert.equal(view.state, 'FAILING');
    assert.equal(view.replayed, false);
  });

  it('restarts the replay at a later start (an agent restart)', () => {
    const restarted = [...journal, start(6), event(7, 'demoted', 'BOOTING', 'STANDBY')];
    assert.equal(viewAt(restarted, 6).state, 'BOOTING');
    assert.equal(viewAt(restarted, null).state, 'STANDBY');
  });
});

describe('replay caption', () => {
  it('names the entry it highlights: its seq, its event and move, and the state', () => {
    assert.equal(
      replayCaption(viewAt(journal, 4), '10:00:01.250'),
      'Replaying step 3 of 4: entry #4, demoted (ACTIVATED → STANDBY) at 10:00:01.250 — state STANDBY, replayed through the machine',
    );
    assert.match(
      replayCaption(viewAt(journal, 1), 'T'),
      /^Replaying step 1 of 4: entry #1, start \(actor started in BOOTING\) at T — state BOOTING,/,
    );
    assert.match(
      replayCaption(viewAt(journal.slice(3), 4), 'T'),
      /entry #4, .* as recorded \(journal start not in memory\)$/,
    );
  });
});
