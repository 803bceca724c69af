import { Subject, type Observable } from 'rxjs';
import type { JournalStore } from '../adapters/journal/file-store.ts';
import { EVENT_SOURCES, FAULT_POLICIES, IP_EVENT_TYPES, IP_STATES } from '../machines/ip.ts';
import type { Logger } from './logger.ts';
import { NOTE_CODES, NOTE_LEVELS } from './notes.ts';
import type { JournalEntry } from './types.ts';
import { STORAGE_RETRY_MS, WriteStatus, writeFailure } from './write-status.ts';

/** A journaled event's source: the machine's, or `unknown` for an event sent without one. */
const JOURNAL_SOURCES = [...EVENT_SOURCES, 'unknown'] as const;

/**
 * Every event each IP actor receives, every transition it takes, and notes of what the actor
 * layer did. Bounded in memory per VIP; each entry also goes to a store (a JSON-lines file per
 * VIP, adapters/journal/file-store.ts) so a VIP's history survives a restart.
 *
 * A store write that fails (ENOSPC, EROFS, EIO, …) never reaches the caller: append() is called
 * from the supervisor's inspector and from the IP actors' actions, and a throw there stopped
 * every VIP (issue 18). The entry stays in memory and live, `writeStatus` says writes fail
 * (/healthz, /metrics, a rate-limited log line), and the VIP's file is rewritten whole from
 * memory at its next write or retry, so what a failure tore or missed is made whole again.
 */

export interface JournalOptions {
  /** Where entries are kept between runs; absent = memory only. */
  store?: JournalStore;
  /**
   * Told of each stored line or file skipped at load (warn), and of failing writes (error, then
   * rate-limited; info once they work again; warn stands in for a logger without them).
   */
  logger?: Pick<Logger, 'warn'> & Partial<Pick<Logger, 'error' | 'info'>>;
  /** Entries kept in memory per VIP (and kept in the store when it is compacted). */
  maxEntries?: number;
}

/**
 * The largest seq a loaded entry may have. Above it the counter nears 2^53, where `++seq` stops
 * changing and every later entry shares one seq (the SSE stream, which skips a seq it has sent,
 * went silent after a `"seq":1e308` line). A million entries a second take 142 years to get here.
 */
export const MAX_SEQ = 2 ** 52;

type Unsequenced<T> = T extends JournalEntry ? Omit<T, 'seq' | 'time'> : never;

export class Journal {
  private readonly entriesByVip = new Map<string, JournalEntry[]>();
  private readonly linesInStore = new Map<string, number>();
  private readonly live = new Subject<JournalEntry>();
  private readonly maxEntries: number;
  private seq = 0;
  /** VIPs whose file misses entries or ends torn: their next write rewrites it from memory. */
  private readonly dirty = new Set<string>();
  /** Deleted VIPs whose file could not be removed: removed again at the retry. */
  private readonly unremoved = new Set<string>();
  private retryTimer: NodeJS.Timeout | undefined;
  private closed = false;

  readonly entries$: Observable<JournalEntry> = this.live.asObservable();
  /** Whether the store takes writes (/healthz, /metrics). */
  readonly writeStatus: WriteStatus;

  constructor(private readonly options: JournalOptions = {}) {
    this.maxEntries = options.maxEntries ?? 1000;
    const log = options.logger;
    const warn = (message: string, fields?: Record<string, unknown>) => log?.warn(message, fields);
    this.writeStatus = new WriteStatus('journal', {
      warn,
      error: log?.error?.bind(log) ?? warn,
      info: log?.info?.bind(log) ?? warn,
    });
  }

  /**
   * Loads what earlier runs stored, so sequence numbers keep growing across restarts. What is
   * not a journal entry is skipped with a warning naming the file and the line (`journal line
   * skipped`), a file that cannot be read with one naming the file (`journal file skipped`):
   * replay and the API only ever see well-formed entries. Within a file seqs must increase
   * (the journal only ever appends), and stay at most MAX_SEQ.
   */
  load(): void {
    const store = this.options.store;
    if (!store) return;
    const warn = (message: string, fields: Record<string, unknown>) =>
      this.options.logger?.warn(message, fields);
    const { journals, problems } = store.load();
    for (const { file, line, problem } of problems) {
      if (line === undefined) warn('journal file skipped', { file, problem });
      else warn('journal line skipped', { file, line, problem });
    }
    for (const { vipId, file, lines, torn } of journals) {
      const entries: JournalEntry[] = [];
      let last = 0;
      for (const { line, value } of lines) {
        const problem = loadedEntryProblem(value, vipId, last);
        if (problem === undefined) {
          entries.push(value as JournalEntry);
          last = (value as JournalEntry).seq;
        } else warn('journal line skipped', { file, line, vipId, problem });
      }
      this.entriesByVip.set(vipId, entries.slice(-this.maxEntries));
      this.linesInStore.set(vipId, lines.length);
      if (torn) this.dirty.add(vipId);
      this.seq = Math.max(this.seq, last);
    }
    if (this.dirty.size > 0) this.scheduleRetry();
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
    this.dirty.delete(vipId);
    this.write(vipId, () => this.options.store?.forget(vipId), 'remove');
  }

  close(): void {
    this.closed = true;
    clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
    this.live.complete();
    this.options.store?.close();
  }

  private persist(entry: JournalEntry, inMemory: JournalEntry[]): void {
    const store = this.options.store;
    if (!store) return;
    const vipId = entry.vipId;
    if (this.dirty.has(vipId) || this.unremoved.has(vipId)) {
      // Its file misses entries or ends torn: rewrite it whole rather than append onto it. While
      // writes fail that waits for the retry, so a full disk costs no IO per entry.
      if (!this.writeStatus.writable) return this.scheduleRetry();
      this.rewrite(store, vipId, inMemory);
      return;
    }
    const lines = (this.linesInStore.get(vipId) ?? 0) + 1;
    // Compact to what memory holds, so the store stays within twice the bound.
    if (lines > 2 * this.maxEntries) this.rewrite(store, vipId, inMemory);
    else if (this.write(vipId, () => store.append(vipId, entry), 'append'))
      this.linesInStore.set(vipId, lines);
  }

  private rewrite(store: JournalStore, vipId: string, entries: readonly JournalEntry[]): boolean {
    const done = this.write(vipId, () => store.rewrite(vipId, entries), 'rewrite');
    if (done) this.linesInStore.set(vipId, entries.length);
    return done;
  }

  /** One store write; a failure is remembered (the VIP is dirty), retried, never thrown. */
  private write(vipId: string, run: () => void, kind: 'append' | 'rewrite' | 'remove'): boolean {
    try {
      run();
    } catch (err) {
      if (kind === 'remove') this.unremoved.add(vipId);
      else this.dirty.add(vipId);
      this.writeStatus.failed(writeFailure(err, `journal of ${vipId}`));
      this.scheduleRetry();
      return false;
    }
    if (kind === 'remove') this.unremoved.delete(vipId);
    else {
      this.dirty.delete(vipId);
      this.unremoved.delete(vipId);
    }
    if (this.dirty.size === 0 && this.unremoved.size === 0) this.writeStatus.succeeded();
    return true;
  }

  /**
   * While files are dirty, every STORAGE_RETRY_MS rewrite them from memory (removals too), so
   * the store and /healthz recover unasked once the disk does. A retry stops at its first
   * failure, which goes to the back of the queue: a full disk costs one write per retry, and one
   * file that cannot be written (a directory in its place) does not hold the others back.
   */
  private scheduleRetry(): void {
    if (this.retryTimer || this.closed) return;
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      const store = this.options.store;
      if (!store) return;
      for (const vipId of [...this.unremoved]) {
        if (this.write(vipId, () => store.forget(vipId), 'remove')) continue;
        this.unremoved.delete(vipId);
        this.unremoved.add(vipId);
        return;
      }
      for (const vipId of [...this.dirty]) {
        if (this.rewrite(store, vipId, this.entriesByVip.get(vipId) ?? [])) continue;
        this.dirty.delete(vipId);
        this.dirty.add(vipId);
        return;
      }
    }, STORAGE_RETRY_MS);
    this.retryTimer.unref();
  }
}

/** Why a loaded line is not kept: not an entry, another VIP's, or its seq does not increase. */
function loadedEntryProblem(value: unknown, vipId: string, lastSeq: number): string | undefined {
  const problem = journalEntryProblem(value);
  if (problem !== undefined) return problem;
  const entry = value as JournalEntry;
  if (entry.vipId !== vipId) return "vipId (another VIP's)";
  if (entry.seq <= lastSeq) return `seq (${entry.seq} after ${lastSeq}: not increasing)`;
  return undefined;
}

const isOneOf = (values: readonly string[], value: unknown): boolean =>
  typeof value === 'string' && values.includes(value);

/** Why `value` is not a JournalEntry (the field at fault), or undefined when it is one. */
export function journalEntryProblem(value: unknown): string | undefined {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return 'not an object';
  const v = value as Record<string, unknown>;
  if (typeof v.seq !== 'number' || !Number.isInteger(v.seq) || v.seq < 1 || v.seq > MAX_SEQ) return 'seq';
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
      if (!isOneOf(JOURNAL_SOURCES, v.source)) return 'source';
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
