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
import { Journal, readJournalFile } from '../../actors/journal.ts';
import { createJournalRecorder } from '../../actors/recorder.ts';
import { replay, stateAt } from '../../actors/replay.ts';

const VIP = { vipId: 'vip-a', ip: '198.18.0.10/32' };

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
      const first = liveAgent(new Journal({ dir }), 'at-least-one');
      first.input.next({ type: 'elected', source: 'etcd' });
      first.actor.stop();
      const journal = new Journal({ dir });
      journal.loadFromDisk();
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
          const agent = liveAgent(new Journal({ dir }), 'at-least-one');
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
          const journal = new Journal({ dir });
          journal.loadFromDisk();
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
      const journal = new Journal({ dir, maxEntries: 10 });
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
});
