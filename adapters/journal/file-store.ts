import {
  appendFileSync,
  mkdirSync,
  readFileSync,
  readdirSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { storageWrite } from '../storage-error.ts';

/**
 * Where the journal keeps its lines between runs. It stores and returns JSON values and knows
 * nothing of their shape: the journal (actors/journal.ts) checks what it loads. Loading never
 * writes and never throws (what it cannot read is a problem it reports, naming the file); a
 * write that fails throws a StorageError naming the file (adapters/storage-error.ts).
 */
export interface JournalStore {
  /** Every VIP's stored lines, oldest first, and what could not be read. */
  load(): JournalLoad;
  append(vipId: string, line: unknown): void;
  /** Replaces a VIP's lines whole (compaction); a crash mid-way leaves the previous lines. */
  rewrite(vipId: string, lines: readonly unknown[]): void;
  forget(vipId: string): void;
  close(): void;
}

export interface StoredJournal {
  vipId: string;
  file: string;
  /** Each line parsed as JSON, with its line number in the file (from 1). */
  lines: { line: number; value: unknown }[];
  /**
   * The file does not end on a line break (a crash mid-write, or a write that failed half-way):
   * rewrite it before appending, so the next line does not glue onto the torn one.
   */
  torn: boolean;
}

/** A file, or one line of it (`line`), that was not loaded, and why. */
export interface LoadProblem {
  file: string;
  line?: number;
  problem: string;
}

export interface JournalLoad {
  journals: StoredJournal[];
  problems: LoadProblem[];
}

const SUFFIX = '.jsonl';

/** JSON lines in `<dir>/<vip-id>.jsonl`; the folder is made at the first write. */
export function createFileJournalStore(dir: string): JournalStore {
  const fileOf = (vipId: string): string => join(dir, `${vipId}${SUFFIX}`);
  /** A write into a folder that is not there (never made, or removed): make it, write again. */
  const inDir = (write: () => void): void => {
    try {
      write();
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      storageWrite(dir, 'mkdir', () => mkdirSync(dir, { recursive: true }));
      write();
    }
  };
  return {
    load() {
      return loadJournalDir(dir);
    },
    append(vipId, line) {
      const file = fileOf(vipId);
      storageWrite(file, 'append', () => inDir(() => appendFileSync(file, JSON.stringify(line) + '\n')));
    },
    rewrite(vipId, lines) {
      const file = fileOf(vipId);
      const text = lines.map((l) => JSON.stringify(l) + '\n').join('');
      storageWrite(file, 'rewrite', () => {
        try {
          inDir(() => writeFileSync(`${file}.tmp`, text));
          renameSync(`${file}.tmp`, file);
        } catch (err) {
          removeQuietly(`${file}.tmp`);
          throw err;
        }
      });
    },
    forget(vipId) {
      const file = fileOf(vipId);
      storageWrite(file, 'remove', () => rmSync(file, { force: true }));
    },
    close() {
      // Every write is synchronous: nothing is buffered to flush.
    },
  };
}

const errCode = (err: unknown): string => (err as NodeJS.ErrnoException).code ?? String(err);

/** Reads every `*.jsonl` file of `dir`; what cannot be read is reported, never thrown. */
export function loadJournalDir(dir: string): JournalLoad {
  const journals: StoredJournal[] = [];
  const problems: LoadProblem[] = [];
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch (err) {
    // No folder yet: a first start, nothing to load.
    if (errCode(err) !== 'ENOENT') problems.push({ file: dir, problem: `cannot be read (${errCode(err)})` });
    return { journals, problems };
  }
  for (const name of names.sort()) {
    if (!name.endsWith(SUFFIX)) continue;
    const file = join(dir, name);
    let text: string;
    try {
      if (!statSync(file).isFile()) {
        problems.push({ file, problem: 'not a regular file (a directory?)' });
        continue;
      }
      text = readFileSync(file, 'utf8');
    } catch (err) {
      problems.push({ file, problem: `cannot be read (${errCode(err)})` });
      continue;
    }
    const parsed = parseJournalText(text);
    for (const line of parsed.unparsable) problems.push({ file, line, problem: 'not JSON' });
    journals.push({ vipId: name.slice(0, -SUFFIX.length), file, lines: parsed.lines, torn: parsed.torn });
  }
  return { journals, problems };
}

/**
 * Splits a JSON-lines text: each non-empty line parsed, with its number. A torn last line (a
 * crash mid-write) is dropped silently, as a crash leaves it; any other line that is not JSON
 * is listed in `unparsable`.
 */
export function parseJournalText(text: string): {
  lines: { line: number; value: unknown }[];
  unparsable: number[];
  torn: boolean;
} {
  const torn = text !== '' && !text.endsWith('\n');
  const raw = text.split('\n');
  if (!torn) raw.pop();
  const lines: { line: number; value: unknown }[] = [];
  const unparsable: number[] = [];
  for (const [index, line] of raw.entries()) {
    if (!line.trim()) continue;
    try {
      lines.push({ line: index + 1, value: JSON.parse(line) });
    } catch {
      if (!(torn && index === raw.length - 1)) unparsable.push(index + 1);
    }
  }
  return { lines, unparsable, torn };
}

/** The values of a JSON-lines file (tests read what the journal wrote); none if unreadable. */
export function readJournalLines(file: string): unknown[] {
  try {
    return parseJournalText(readFileSync(file, 'utf8')).lines.map((l) => l.value);
  } catch {
    return [];
  }
}

/** Best effort: a temporary file a failed write left (its own failure must not hide the first). */
function removeQuietly(file: string): void {
  try {
    rmSync(file, { force: true });
  } catch {
    // left for the next write to replace
  }
}
