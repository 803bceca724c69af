import { mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { toStoredVip } from '../etcd/config-store.ts';
import type { StoredVip } from '../etcd/types.ts';
import { storageWrite } from '../storage-error.ts';

/** The agent's local copy of its VIP configuration, read when etcd cannot be at start. */
export interface VipCache {
  /** The cached VIPs; none when there is no cache or it cannot be read (logged). */
  read(): StoredVip[];
  /**
   * Replaces the cache whole; throws a StorageError naming the file on an IO error (the caller
   * reports it: etcd holds the truth, the cache only covers its absence at start).
   */
  write(vips: readonly StoredVip[]): void;
}

interface CacheLogger {
  warn(message: string, fields?: Record<string, unknown>): void;
}

/**
 * A JSON file (STATE_DIR/vips.json), written through a temporary file and a rename so a crash
 * mid-write leaves the previous copy. Its entries are checked as the etcd config store checks
 * its records: one unreadable entry is logged and skipped, never run.
 */
export function createFileVipCache(file: string, logger: CacheLogger): VipCache {
  return {
    read() {
      let value: unknown;
      try {
        value = JSON.parse(readFileSync(file, 'utf8'));
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT')
          logger.warn('cannot read the local VIP cache', { file, err: String(err) });
        return [];
      }
      if (!Array.isArray(value)) {
        logger.warn('the local VIP cache is not a list of VIPs: ignored', { file });
        return [];
      }
      const vips: StoredVip[] = [];
      for (const [index, entry] of value.entries()) {
        try {
          vips.push(toStoredVip(entry, `${file}[${index}]`));
        } catch (err) {
          logger.warn('local VIP cache: skipping an unreadable VIP', {
            file,
            entry: index,
            err: String(err),
          });
        }
      }
      return vips;
    },
    write(vips) {
      storageWrite(dirname(file), 'mkdir', () => mkdirSync(dirname(file), { recursive: true }));
      storageWrite(file, 'write', () => {
        try {
          writeFileSync(`${file}.tmp`, JSON.stringify(vips, null, 2));
          renameSync(`${file}.tmp`, file);
        } catch (err) {
          // A full disk keeps no half-written copy beside the good one.
          removeQuietly(`${file}.tmp`);
          throw err;
        }
      });
    },
  };
}

/** Best effort: a temporary file a failed write left (its own failure must not hide the first). */
function removeQuietly(file: string): void {
  try {
    rmSync(file, { force: true });
  } catch {
    // left for the next write to replace
  }
}
