import {
  appendFileSync,
  mkdirSync,
  readFileSync,
  readdirSync,
  renameSync,
  rmSync,
  truncateSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { Subject, type Observable } from 'rxjs';
import type { JournalEntry } from './types.ts';

/**
 * Every event each IP actor receives, every transition it takes, and notes of what the actor
 * layer did. Bounded in memory per VIP; appended as JSON lines to `<dir>/<vip-id>.jsonl` so a
 * VIP's history survives a restart. A crash mid-write tears at most the last line, which
 * `readJournalFile` skips.
 */

export interface JournalOptions {
  /** Folder for the JSON-lines files; absent = memory only. */
  dir?: string;
  /** Entries kept in memory per VIP (and kept in the file when it is compacted). */
  maxEntries?: number;
}

type Unsequenced<T> = T extends JournalEntry ? Omit<T, 'seq' | 'time'> : never;

export class Journal {
  private readonly entriesByVip = new Map<string, JournalEntry[]>();
  private readonly linesInFile = new Map<string, number>();
  private readonly live = new Subject<JournalEntry>();
  private readonly maxEntries: number;
  private seq = 0;

  readonly entries$: Observable<JournalEntry> = this.live.asObservable();

  constructor(private readonly options: JournalOptions = {}) {
    this.maxEntries = options.maxEntries ?? 1000;
    if (options.dir) mkdirSync(options.dir, { recursive: true });
  }

  /** Loads what earlier runs wrote, so sequence numbers keep growing across restarts. */
  loadFromDisk(): void {
    const dir = this.options.dir;
    if (!dir) return;
    for (const file of readdirSync(dir)) {
      if (!file.endsWith('.jsonl')) continue;
      const vipId = file.slice(0, -'.jsonl'.length);
      repairTornTail(join(dir, file));
      const entries = readJournalFile(join(dir, file));
      this.entriesByVip.set(vipId, entries.slice(-this.maxEntries));
      this.linesInFile.set(vipId, entries.length);
      for (const entry of entries) this.seq = Math.max(this.seq, entry.seq);
    }
  }

  append(entry: Unsequenced<JournalEntry>): JournalEntry {
    const full = { ...entry, seq: ++this.seq, time: new Date().toISOString() };
    const list = this.entriesByVip.get(full.vipId) ?? [];
    list.push(full);
    if (list.length > this.maxEntries) list.splice(0, list.length - this.maxEntries);
    this.entriesByVip.set(full.vipId, list);
    this.persist(full, list);
    this.live.next(full);
    return full;
  }

  entries(vipId: string): JournalEntry[] {
    return [...(this.entriesByVip.get(vipId) ?? [])];
  }

  /** Drops a deleted VIP's history from memory and disk. */
  forget(vipId: string): void {
    this.entriesByVip.delete(vipId);
    this.linesInFile.delete(vipId);
    if (this.options.dir) rmSync(this.fileOf(vipId), { force: true });
  }

  close(): void {
    this.live.complete();
  }

  private fileOf(vipId: string): string {
    return join(this.options.dir ?? '.', `${vipId}.jsonl`);
  }

  private persist(entry: JournalEntry, inMemory: JournalEntry[]): void {
    if (!this.options.dir) return;
    const file = this.fileOf(entry.vipId);
    const lines = (this.linesInFile.get(entry.vipId) ?? 0) + 1;
    if (lines > 2 * this.maxEntries) {
      // Compact by rewriting what memory holds; rename makes it atomic.
      writeFileSync(`${file}.tmp`, inMemory.map((e) => JSON.stringify(e) + '\n').join(''));
      renameSync(`${file}.tmp`, file);
      this.linesInFile.set(entry.vipId, inMemory.length);
      return;
    }
    appendFileSync(file, JSON.stringify(entry) + '\n');
    this.linesInFile.set(entry.vipId, lines);
  }
}

/** Cuts a torn last line (a crash mid-write) so the next append starts on a line of its own. */
function repairTornTail(file: string): void {
  const text = readFileSync(file, 'utf8');
  if (text === '' || text.endsWith('\n')) return;
  truncateSync(file, Buffer.byteLength(text.slice(0, text.lastIndexOf('\n') + 1)));
}

/** Reads a JSON-lines journal; a torn or garbled line (a crash mid-write) is skipped. */
export function readJournalFile(file: string): JournalEntry[] {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return [];
  }
  const entries: JournalEntry[] = [];
  for (const line of text.split('\n')) {
    if (!line.trim()) continue;
    try {
      const parsed = JSON.parse(line) as JournalEntry;
      if (typeof parsed.seq === 'number' && typeof parsed.vipId === 'string') entries.push(parsed);
    } catch {
      // torn line: lose it, keep the rest
    }
  }
  return entries;
}
