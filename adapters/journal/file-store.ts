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

/**
 * Where the journal keeps its lines between runs. It stores and returns JSON values and knows
 * nothing of their shape: the journal (actors/journal.ts) checks what it loads.
 */
export interface JournalStore {
  /** Every VIP's stored lines, oldest first, parsed as JSON; a torn or garbled line is left out. */
  load(): Map<string, unknown[]>;
  append(vipId: string, line: unknown): void;
  /** Replaces a VIP's lines whole (compaction); a crash mid-way leaves the previous lines. */
  rewrite(vipId: string, lines: readonly unknown[]): void;
  forget(vipId: string): void;
  close(): void;
}

/**
 * JSON lines in `<dir>/<vip-id>.jsonl`. A crash mid-write tears at most the last line; loading
 * cuts it so the next append starts on a line of its own.
 */
export function createFileJournalStore(dir: string): JournalStore {
  mkdirSync(dir, { recursive: true });
  const fileOf = (vipId: string): string => join(dir, `${vipId}.jsonl`);
  return {
    load() {
      const byVip = new Map<string, unknown[]>();
      for (const file of readdirSync(dir)) {
        if (!file.endsWith('.jsonl')) continue;
        repairTornTail(join(dir, file));
        byVip.set(file.slice(0, -'.jsonl'.length), readJournalLines(join(dir, file)));
      }
      return byVip;
    },
    append(vipId, line) {
      appendFileSync(fileOf(vipId), JSON.stringify(line) + '\n');
    },
    rewrite(vipId, lines) {
      const file = fileOf(vipId);
      writeFileSync(`${file}.tmp`, lines.map((l) => JSON.stringify(l) + '\n').join(''));
      renameSync(`${file}.tmp`, file);
    },
    forget(vipId) {
      rmSync(fileOf(vipId), { force: true });
    },
    close() {
      // Every write is synchronous: nothing is buffered to flush.
    },
  };
}

/** Cuts a torn last line (a crash mid-write) so the next append starts on a line of its own. */
function repairTornTail(file: string): void {
  const text = readFileSync(file, 'utf8');
  if (text === '' || text.endsWith('\n')) return;
  truncateSync(file, Buffer.byteLength(text.slice(0, text.lastIndexOf('\n') + 1)));
}

/** Reads a JSON-lines file; a torn or garbled line (a crash mid-write) is skipped. */
export function readJournalLines(file: string): unknown[] {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return [];
  }
  const lines: unknown[] = [];
  for (const line of text.split('\n')) {
    if (!line.trim()) continue;
    try {
      lines.push(JSON.parse(line));
    } catch {
      // torn line: lose it, keep the rest
    }
  }
  return lines;
}
