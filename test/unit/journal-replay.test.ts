import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { Subject } from 'rxjs';
import { createActor, fromEventObservable } from 'xstate';
import { listVipStates, supervisorWith } from '../../machines/agent.ts';
import {
  IP_EVENT_TYPES,
  ipMachine,
  type FaultPolicy,
  type IpEvent,
  type IpState,
} from '../../machines/ip.ts';
import { Journal, journalEntryProblem } from '../../actors/journal.ts';
import type { JournalEntry } from '../../actors/types.ts';
import { createFileJournalStore, readJournalLines } from '../../adapters/journal/file-store.ts';
import { createJournalRecorder } from '../../actors/recorder.ts';
import { replay, stateAt } from '../../actors/replay.ts';

const VIP = { vipId: 'vip-a', ip: '198.18.0.10/32' };

/** The entries a journal file holds, each checked as the journal checks what it loads. */
function readJournalFile(file: string): JournalEntry[] {
  return readJournalLines(file).map((line) => {
    assert.equal(journalEntryProblem(line), undefined, JSON.stringify(line));
    return line as JournalEntry;
  });
}

/** A live agent with one VIP, journaled exactly as actors/agent.ts journals it. */
function liveAgent(journal: Journal, faultPolicy: FaultPolicy) {
  const input = new Subject<IpEvent>();
  const ip = ipMachine.provide({ actors: { inputs: fromEventObservable(() => input) } });
  const actor = createActor(supervisorWith(ip), {
    input: { faultPolicy },
    inspect: createJournalRecorder({
      journal,
      faultPolicy,
      ipOf: (id) => (id === VIP.vipId ? VIP.ip : undefined),
    }),
  }).start();
  actor.send({ type: 'vip.add', vips: [VIP] });
  const state = () => listVipStates(actor.getSnapshot())[0]?.state;
  return { actor, input, state };
}

const eventArb = fc.constantFrom(...IP_EVENT_TYPES);
const policyArb = fc.constantFrom<FaultPolicy>('at-least-one', 'at-most-one');

describe('journal and replay', () => {
  it('replaying the journal reproduces the live states (property)', () => {
    fc.assert(
      fc.property(fc.array(eventArb, { maxLength: 60 }), policyArb, (events, policy) => {
        const journal = new Journal();
        const agent = liveAgent(journal, policy);
        const liveStates: IpState[] = [];
        for (const type of events) {
          agent.input.next({ type, source: 'test' });
          liveStates.push(agent.state() as IpState);
        }
        const result = replay(journal.entries(VIP.vipId));
        assert.deepEqual(result.mismatches, []);
        assert.deepEqual(
          result.steps.slice(1).map((s) => s.state),
          liveStates,
        );
        assert.equal(result.state, agent.state());
        agent.actor.stop();
      }),
      { numRuns: 300 },
    );
  });

  it('restarts replay at each start entry (agent restart)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'link-journal-'));
    try {
      const first = liveAgent(new Journal({ store: createFileJournalStore(dir) }), 'at-least-one');
      first.input.next({ type: 'elected', source: 'etcd' });
      first.actor.stop();
      const journal = new Journal({ store: createFileJournalStore(dir) });
      journal.load();
      const second = liveAgent(journal, 'at-most-one');
      second.input.next({ type: 'fault', source: 'fence' });
      const entries = journal.entries(VIP.vipId);
      assert.deepEqual(
        entries.map((e) => e.kind),
        ['start', 'event', 'start', 'event'],
      );
      assert.ok(
        entries.every((e, i) => i === 0 || e.seq > entries[i - 1]!.seq),
        'sequence keeps growing',
      );
      assert.equal(replay(entries).state, 'STANDBY');
      assert.equal(stateAt(entries, entries[1]!.seq), 'ACTIVATED');
      second.actor.stop();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a journal with a torn last line still loads (property)', () => {
    fc.assert(
      fc.property(fc.array(eventArb, { minLength: 1, maxLength: 20 }), fc.nat(), (events, cut) => {
        const dir = mkdtempSync(join(tmpdir(), 'link-journal-'));
        try {
          const agent = liveAgent(new Journal({ store: createFileJournalStore(dir) }), 'at-least-one');
          for (const type of events) agent.input.next({ type });
          agent.actor.stop();
          const file = join(dir, `${VIP.vipId}.jsonl`);
          const whole = readJournalFile(file);
          const lastLine = JSON.stringify(whole.at(-1));
          // Tear the last line anywhere inside it, as a crash mid-write would.
          const text = readFileSync(file, 'utf8');
          const tornAt = text.length - 1 - (cut % lastLine.length) - 1;
          writeFileSync(file, text.slice(0, Math.max(tornAt, text.length - lastLine.length)));
          const loaded = readJournalFile(file);
          assert.deepEqual(loaded, whole.slice(0, -1));
          const journal = new Journal({ store: createFileJournalStore(dir) });
          journal.load();
          assert.deepEqual(journal.entries(VIP.vipId), whole.slice(0, -1));
          // Loading repaired the tear: the next entry lands on a line of its own.
          journal.append({
            kind: 'note',
            vipId: VIP.vipId,
            level: 'info',
            code: 'ANNOUNCE_SENT',
            message: 'after tear',
          });
          assert.equal(readJournalFile(file).at(-1)?.kind, 'note');
        } finally {
          rmSync(dir, { recursive: true, force: true });
        }
      }),
      { numRuns: 50 },
    );
  });

  it('is bounded in memory and compacts its file', () => {
    const dir = mkdtempSync(join(tmpdir(), 'link-journal-'));
    try {
      const journal = new Journal({ store: createFileJournalStore(dir), maxEntries: 10 });
      for (let i = 0; i < 100; i++) {
        journal.append({
          kind: 'note',
          vipId: VIP.vipId,
          level: 'info',
          code: 'ANNOUNCE_SENT',
          message: String(i),
        });
      }
      assert.equal(journal.entries(VIP.vipId).length, 10);
      const onDisk = readJournalFile(join(dir, `${VIP.vipId}.jsonl`));
      assert.ok(onDisk.length <= 20, `file holds ${onDisk.length} lines`);
      assert.equal(onDisk.at(-1)?.seq, 100);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('skips a loaded line that is not a journal entry, with a warning', () => {
    const dir = mkdtempSync(join(tmpdir(), 'link-journal-'));
    try {
      const first = new Journal({ store: createFileJournalStore(dir) });
      const note = { kind: 'note', vipId: VIP.vipId, level: 'info', code: 'ANNOUNCE_SENT' } as const;
      const kept = [first.append({ ...note, message: 'one' })];
      const good = JSON.stringify(first.append({ ...note, message: 'two' }));
      kept.push(first.append({ ...note, message: 'three' }));
      const file = join(dir, `${VIP.vipId}.jsonl`);
      const lines = readFileSync(file, 'utf8').split('\n');
      const unknownCode = good.replace('ANNOUNCE_SENT', 'NO_SUCH_CODE');
      const badState = JSON.stringify({
        ...JSON.parse(good),
        kind: 'event',
        event: 'elected',
        from: 'NOWHERE',
        to: 'ACTIVATED',
        source: 'etcd',
      });
      writeFileSync(file, [lines[0], unknownCode, badState, '[1,2]', lines[2], ''].join('\n'));

      const warnings: unknown[] = [];
      const journal = new Journal({
        store: createFileJournalStore(dir),
        logger: { warn: (message, fields) => warnings.push({ message, ...fields }) },
      });
      journal.load();
      assert.deepEqual(journal.entries(VIP.vipId), kept);
      assert.deepEqual(warnings, [
        { message: 'journal line skipped', file, line: 2, vipId: VIP.vipId, problem: 'code' },
        { message: 'journal line skipped', file, line: 3, vipId: VIP.vipId, problem: 'from' },
        { message: 'journal line skipped', file, line: 4, vipId: VIP.vipId, problem: 'not an object' },
      ]);
      assert.equal(journal.append({ ...note, message: 'four' }).seq, 4);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
