import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Journal, MAX_SEQ, journalEntryProblem } from '../../actors/journal.ts';
import { STORAGE_LOG_EVERY_MS, WriteStatus } from '../../actors/write-status.ts';
import { VipCacheWriter } from '../../actors/vip-cache-writer.ts';
import type { JournalEntry } from '../../actors/types.ts';
import { createFileVipCache } from '../../adapters/cache/vip-cache.ts';
import {
  createFileJournalStore,
  loadJournalDir,
  parseJournalText,
  type JournalStore,
} from '../../adapters/journal/file-store.ts';
import { StorageError, storageWrite } from '../../adapters/storage-error.ts';

/**
 * Issue 18 part 2: a failed write to STATE_DIR never reaches the journal's or the cache's
 * caller, is said once (then rate-limited) with its path, and is made good once writes work
 * again; what loads from STATE_DIR is checked line by line, naming the file and the line.
 */

const VIP = 'vip-a';
const note = { kind: 'note', vipId: VIP, level: 'info', code: 'ANNOUNCE_SENT' } as const;

function withDir(run: (dir: string) => void): void {
  const dir = mkdtempSync(join(tmpdir(), 'link-storage-'));
  try {
    run(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function recordingLogger() {
  const lines: { level: string; message: string; fields?: Record<string, unknown> }[] = [];
  const at =
    (level: string) =>
    (message: string, fields?: Record<string, unknown>): void =>
      void lines.push({ level, message, ...(fields ? { fields } : {}) });
  return {
    lines,
    logger: { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') },
  };
}

/** A store whose writes fail with `code` while `failing` is set, recording what it was given. */
function flakyStore() {
  const written: { op: string; vipId: string; count: number }[] = [];
  const state = { failing: 'ENOSPC' as string | null };
  const fail = (vipId: string, op: string) => {
    if (state.failing)
      throw new StorageError(state.failing, `/state/journal/${vipId}.jsonl`, op, {
        cause: new Error(`${state.failing}: no space left on device, write`),
      });
  };
  const store: JournalStore = {
    load: () => ({ journals: [], problems: [] }),
    append: (vipId) => {
      fail(vipId, 'append');
      written.push({ op: 'append', vipId, count: 1 });
    },
    rewrite: (vipId, lines) => {
      fail(vipId, 'rewrite');
      written.push({ op: 'rewrite', vipId, count: lines.length });
    },
    forget: (vipId) => fail(vipId, 'remove'),
    close: () => undefined,
  };
  return { store, written, state };
}

describe('storage faults: the journal', () => {
  it('a failing store never throws to the caller: entries stay in memory and live, the status names the path', () => {
    const { store, state, written } = flakyStore();
    const { logger, lines } = recordingLogger();
    const journal = new Journal({ store, logger });
    const live: JournalEntry[] = [];
    journal.entries$.subscribe((e) => live.push(e));
    for (let i = 0; i < 5; i++) journal.append({ ...note, message: String(i) });
    assert.equal(journal.entries(VIP).length, 5);
    assert.equal(live.length, 5);
    const health = journal.writeStatus.health();
    assert.equal(health.writable, false);
    assert.equal(
      health.failures,
      1,
      'one failed write: the VIP is dirty, the next entries wait for the retry',
    );
    assert.equal(health.error?.code, 'ENOSPC');
    assert.equal(health.error?.path, `/state/journal/${VIP}.jsonl`);
    assert.match(
      health.error?.message ?? '',
      /ENOSPC: cannot append \/state\/journal\/vip-a\.jsonl: no space left/,
    );
    assert.deepEqual(
      lines.map((l) => l.level),
      ['error'],
      'one log line, at error, for the first failure',
    );
    assert.equal(written.length, 0);

    state.failing = null;
    // Another VIP's write works: the first one's file still misses entries, so not yet writable.
    journal.append({ ...note, vipId: 'vip-b', message: 'b' });
    assert.equal(journal.writeStatus.writable, false);
    journal.close();
  });

  it('once writes work again the dirty file is rewritten whole from memory, and the status recovers', (t) => {
    t.mock.timers.enable({ apis: ['setTimeout'] });
    const { store, state, written } = flakyStore();
    const { logger, lines } = recordingLogger();
    const journal = new Journal({ store, logger });
    journal.append({ ...note, message: 'one' });
    journal.append({ ...note, message: 'two' });
    state.failing = null;
    t.mock.timers.tick(5_000);
    assert.deepEqual(written, [{ op: 'rewrite', vipId: VIP, count: 2 }], 'the retry rewrote the ring');
    assert.equal(journal.writeStatus.writable, true);
    assert.equal(journal.writeStatus.health().failures, 1);
    assert.equal(lines.at(-1)?.message, 'journal writes work again');
    journal.append({ ...note, message: 'three' });
    assert.deepEqual(written.at(-1), { op: 'append', vipId: VIP, count: 1 }, 'appends again');
    journal.close();
  });

  it('on a real directory that becomes unwritable: EISDIR in place of the file, no throw, path named', () => {
    withDir((dir) => {
      mkdirSync(join(dir, `${VIP}.jsonl`));
      const journal = new Journal({ store: createFileJournalStore(dir), logger: recordingLogger().logger });
      assert.doesNotThrow(() => journal.append({ ...note, message: 'x' }));
      const error = journal.writeStatus.health().error;
      assert.equal(error?.code, 'EISDIR');
      assert.equal(error?.path, join(dir, `${VIP}.jsonl`));
      assert.ok(error?.message.includes(join(dir, `${VIP}.jsonl`)), error?.message);
      journal.close();
    });
  });

  it('a STATE_DIR that cannot hold a folder (a file in its place): no throw at construction or write', () => {
    withDir((dir) => {
      writeFileSync(join(dir, 'state'), 'not a folder');
      const journal = new Journal({ store: createFileJournalStore(join(dir, 'state', 'journal')) });
      journal.load();
      journal.append({ ...note, message: 'x' });
      assert.equal(journal.writeStatus.health().error?.code, 'ENOTDIR');
      assert.match(journal.writeStatus.health().error?.path ?? '', /state[/]journal/);
      journal.close();
    });
  });
});

describe('storage faults: the log is rate-limited', () => {
  it('first failure at error, then at most one line per minute with the count, one line when it works again', () => {
    let now = 0;
    const { logger, lines } = recordingLogger();
    const status = new WriteStatus('journal', logger, () => now);
    const failure = { code: 'EIO', path: '/state/journal/x.jsonl', message: 'EIO: cannot append …' };
    for (let i = 0; i < 100; i++) {
      status.failed(failure);
      now += 1000;
    }
    // 100 failures over 100 s: the first, and one after 60 s.
    assert.deepEqual(
      lines.map((l) => [l.level, l.message]),
      [
        ['error', 'journal writes fail: VIPs are still served, kept in memory only'],
        ['warn', 'journal writes still fail'],
      ],
    );
    assert.equal(lines[1]?.fields?.['failures'], STORAGE_LOG_EVERY_MS / 1000);
    assert.equal(lines[0]?.fields?.['path'], failure.path);
    assert.equal(status.health().failures, 100);
    assert.equal(status.health().error?.since, new Date(0).toISOString());
    status.succeeded();
    status.succeeded();
    assert.equal(lines.at(-1)?.message, 'journal writes work again');
    assert.equal(lines.length, 3);
    assert.equal(status.health().error, undefined);
  });
});

describe('storage faults: the VIP cache', () => {
  it('a failed write is reported with the path and retried, never thrown, never taken for etcd', (t) => {
    withDir((dir) => {
      t.mock.timers.enable({ apis: ['setTimeout'] });
      const file = join(dir, 'sub', 'vips.json');
      writeFileSync(join(dir, 'sub'), 'a file where the folder should be');
      const { logger } = recordingLogger();
      const vips = [{ id: 'vip-1', ip: '198.18.0.10/32', checks: [] }];
      const writer = new VipCacheWriter(createFileVipCache(file, logger), logger, () => vips);
      assert.doesNotThrow(() => writer.save(vips));
      const health = writer.writeStatus.health();
      assert.equal(health.writable, false);
      assert.equal(health.error?.path, join(dir, 'sub'));
      rmSync(join(dir, 'sub'));
      t.mock.timers.tick(5_000);
      assert.equal(writer.writeStatus.writable, true, 'retried with the current VIPs');
      assert.deepEqual(JSON.parse(readFileSync(file, 'utf8')), vips);
    });
  });
});

describe('storage faults: loading what STATE_DIR holds', () => {
  const entry = (seq: number, vipId = VIP): JournalEntry => ({
    ...note,
    vipId,
    seq,
    time: '2026-01-01T00:00:00.000Z',
    message: String(seq),
  });

  it('seq: an integer from 1 to MAX_SEQ (1e308 and 2^53 are refused: ++seq would stop changing)', () => {
    assert.equal(journalEntryProblem(entry(1)), undefined);
    assert.equal(journalEntryProblem(entry(MAX_SEQ)), undefined);
    for (const seq of [1e308, MAX_SEQ + 1, 2 ** 53, 0, -1, 1.5, Number.NaN])
      assert.equal(journalEntryProblem(entry(seq)), 'seq', String(seq));
    assert.equal(journalEntryProblem({ ...entry(1), seq: '1' }), 'seq');
  });

  it('parses JSON lines with their numbers; garbage is listed, a torn last line dropped and flagged', () => {
    assert.deepEqual(parseJournalText('{"a":1}\n\nnot json\n{"b":2}\n'), {
      lines: [
        { line: 1, value: { a: 1 } },
        { line: 4, value: { b: 2 } },
      ],
      unparsable: [3],
      torn: false,
    });
    assert.deepEqual(parseJournalText('{"a":1}\n{"b":'), {
      lines: [{ line: 1, value: { a: 1 } }],
      unparsable: [],
      torn: true,
    });
    assert.deepEqual(parseJournalText(''), { lines: [], unparsable: [], torn: false });
  });

  it("a directory named *.jsonl, garbage, 1e308, a seq that does not increase, another VIP's entry: skipped, each warned with file and line", () => {
    withDir((dir) => {
      const file = join(dir, `${VIP}.jsonl`);
      const lines = [
        JSON.stringify(entry(1)),
        JSON.stringify(entry(2)),
        JSON.stringify(entry(1e308)),
        'garbage {',
        JSON.stringify(entry(2)),
        JSON.stringify(entry(3, 'vip-other')),
        JSON.stringify(entry(4)),
      ];
      writeFileSync(file, lines.join('\n') + '\n');
      mkdirSync(join(dir, 'vip-dir.jsonl'));
      writeFileSync(join(dir, 'notes.txt'), 'not a journal: ignored');

      const loaded = loadJournalDir(dir);
      assert.deepEqual(loaded.problems, [
        { file, line: 4, problem: 'not JSON' },
        { file: join(dir, 'vip-dir.jsonl'), problem: 'not a regular file (a directory?)' },
      ]);

      const { logger, lines: logged } = recordingLogger();
      const journal = new Journal({ store: createFileJournalStore(dir), logger });
      journal.load();
      assert.deepEqual(
        journal.entries(VIP).map((e) => e.seq),
        [1, 2, 4],
      );
      const warned = logged.map((l) => [
        l.message,
        l.fields?.['file'],
        l.fields?.['line'],
        l.fields?.['problem'],
      ]);
      assert.deepEqual(warned, [
        ['journal line skipped', file, 4, 'not JSON'],
        ['journal file skipped', join(dir, 'vip-dir.jsonl'), undefined, 'not a regular file (a directory?)'],
        ['journal line skipped', file, 3, 'seq'],
        ['journal line skipped', file, 5, 'seq (2 after 2: not increasing)'],
        ['journal line skipped', file, 6, "vipId (another VIP's)"],
      ]);
      assert.equal(journal.append({ ...note, message: 'next' }).seq, 5, 'seqs go on from the highest kept');
      journal.close();
    });
  });

  it('an unreadable folder is one warning naming it; a missing one is a first start, silent', () => {
    withDir((dir) => {
      writeFileSync(join(dir, 'journal'), 'a file');
      assert.deepEqual(loadJournalDir(join(dir, 'journal')).problems, [
        { file: join(dir, 'journal'), problem: 'cannot be read (ENOTDIR)' },
      ]);
      assert.deepEqual(loadJournalDir(join(dir, 'none')), { journals: [], problems: [] });
    });
  });

  it('a torn file is rewritten before the next append, so the new line does not glue onto it', () => {
    withDir((dir) => {
      const file = join(dir, `${VIP}.jsonl`);
      writeFileSync(file, JSON.stringify(entry(1)) + '\n' + '{"kind":"no');
      const journal = new Journal({ store: createFileJournalStore(dir) });
      journal.load();
      journal.append({ ...note, message: 'after' });
      journal.close();
      const reread = parseJournalText(readFileSync(file, 'utf8'));
      assert.equal(reread.torn, false);
      assert.deepEqual(reread.unparsable, []);
      assert.deepEqual(
        reread.lines.map((l) => (l.value as JournalEntry).seq),
        [1, 2],
      );
    });
  });

  it('vips.json that is {} or a directory: no VIPs, a warning naming the file', () => {
    withDir((dir) => {
      const file = join(dir, 'vips.json');
      for (const make of [() => writeFileSync(file, '{}'), () => (rmSync(file), mkdirSync(file))]) {
        make();
        const warnings: Record<string, unknown>[] = [];
        const cache = createFileVipCache(file, {
          warn: (message, fields) => void warnings.push({ message, ...fields }),
        });
        assert.deepEqual(cache.read(), []);
        assert.equal(warnings.length, 1);
        assert.equal(warnings[0]?.['file'], file);
      }
    });
  });

  it('StorageError: the OS code, the path and what was done, in one line', () => {
    withDir((dir) => {
      const path = join(dir, 'missing', 'x');
      assert.throws(
        () => storageWrite(path, 'append', () => writeFileSync(path, 'x')),
        (err: unknown) =>
          err instanceof StorageError &&
          err.code === 'ENOENT' &&
          err.path === path &&
          err.message === `ENOENT: cannot append ${path}: no such file or directory`,
      );
    });
  });
});
