import { Subject, type Observable } from 'rxjs';
import type { JournalStore } from '../adapters/journal/file-store.ts';
import { EVENT_SOURCES, FAULT_POLICIES, IP_EVENT_TYPES, IP_STATES } from '../machines/ip.ts';
import type { Logger } from './logger.ts';
import { NOTE_CODES, NOTE_LEVELS } from './notes.ts';
import type { JournalEntry } from './types.ts';

/**
 * Every event each IP actor receives, every transition it takes, and notes of what the actor
 * layer did. Bounded in memory per VIP; each entry also goes to a store (a JSON-lines file per
 * VIP, adapters/journal/file-store.ts) so a VIP's history survives a restart.
 */

export interface JournalOptions {
  /** Where entries are kept between runs; absent = memory only. */
  store?: JournalStore;
  /** Told of each stored line that is skipped at load because it is not a journal entry. */
  logger?: Pick<Logger, 'warn'>;
  /** Entries kept in memory per VIP (and kept in the store when it is compacted). */
  maxEntries?: number;
}

type Unsequenced<T> = T extends JournalEntry ? Omit<T, 'seq' | 'time'> : never;

export class Journal {
  private readonly entriesByVip = new Map<string, JournalEntry[]>();
  private readonly linesInStore = new Map<string, number>();
  private readonly live = new Subject<JournalEntry>();
  private readonly maxEntries: number;
  private seq = 0;

  readonly entries$: Observable<JournalEntry> = this.live.asObservable();

  constructor(private readonly options: JournalOptions = {}) {
    this.maxEntries = options.maxEntries ?? 1000;
  }

  /**
   * Loads what earlier runs stored, so sequence numbers keep growing across restarts. A line that
   * is not a journal entry (hand-edited, or written by a version with other note codes) is
   * skipped with a warning: replay and the API only ever see well-formed entries.
   */
  load(): void {
    const store = this.options.store;
    if (!store) return;
    for (const [vipId, lines] of store.load()) {
      const entries: JournalEntry[] = [];
      for (const [index, line] of lines.entries()) {
        const problem = journalEntryProblem(line);
        if (problem === undefined) entries.push(line as JournalEntry);
        else this.options.logger?.warn('journal line skipped', { vipId, line: index + 1, problem });
      }
      this.entriesByVip.set(vipId, entries.slice(-this.maxEntries));
      this.linesInStore.set(vipId, lines.length);
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

  /** Drops a deleted VIP's history from memory and the store. */
  forget(vipId: string): void {
    this.entriesByVip.delete(vipId);
    this.linesInStore.delete(vipId);
    this.options.store?.forget(vipId);
  }

  close(): void {
    this.live.complete();
    this.options.store?.close();
  }

  private persist(entry: JournalEntry, inMemory: JournalEntry[]): void {
    const store = this.options.store;
    if (!store) return;
    const lines = (this.linesInStore.get(entry.vipId) ?? 0) + 1;
    if (lines > 2 * this.maxEntries) {
      // Compact to what memory holds, so the store stays within twice the bound.
      store.rewrite(entry.vipId, inMemory);
      this.linesInStore.set(entry.vipId, inMemory.length);
      return;
    }
    store.append(entry.vipId, entry);
    this.linesInStore.set(entry.vipId, lines);
  }
}

const isOneOf = (values: readonly string[], value: unknown): boolean =>
  typeof value === 'string' && values.includes(value);

/** Why `value` is not a JournalEntry (the field at fault), or undefined when it is one. */
export function journalEntryProblem(value: unknown): string | undefined {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return 'not an object';
  const v = value as Record<string, unknown>;
  if (typeof v.seq !== 'number' || !Number.isSafeInteger(v.seq) || v.seq < 1) return 'seq';
  if (typeof v.time !== 'string') return 'time';
  if (typeof v.vipId !== 'string') return 'vipId';
  switch (v.kind) {
    case 'start':
      if (typeof v.ip !== 'string') return 'ip';
      if (!isOneOf(FAULT_POLICIES, v.faultPolicy)) return 'faultPolicy';
      if (!isOneOf(IP_STATES, v.state)) return 'state';
      return undefined;
    case 'event':
      if (!isOneOf(IP_EVENT_TYPES, v.event)) return 'event';
      if (!isOneOf([...EVENT_SOURCES, 'unknown'], v.source)) return 'source';
      if (v.reason !== undefined && typeof v.reason !== 'string') return 'reason';
      if (!isOneOf(IP_STATES, v.from)) return 'from';
      if (!isOneOf(IP_STATES, v.to)) return 'to';
      return undefined;
    case 'note':
      if (!isOneOf(NOTE_LEVELS, v.level)) return 'level';
      if (typeof v.code !== 'string' || !Object.hasOwn(NOTE_CODES, v.code)) return 'code';
      if (typeof v.message !== 'string') return 'message';
      return undefined;
    default:
      return 'kind';
  }
}
