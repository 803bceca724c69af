import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * An EXEC_CHECKS_DIR the way an operator makes one: a folder owned by root, 0755, under a
 * temporary root-owned 0755 folder, holding 0755 scripts. The tests run as root, so every file
 * made here is root's. `script()` writes one and returns its path.
 */
export interface ExecChecksDir {
  /** The EXEC_CHECKS_DIR. */
  readonly dir: string;
  /** Its parent, for files that must not be inside it. */
  readonly base: string;
  script(name: string, body: string, mode?: number): string;
  remove(): void;
}

export function makeExecChecksDir(prefix = 'link-exec-'): ExecChecksDir {
  const base = mkdtempSync(join(tmpdir(), prefix));
  chmodSync(base, 0o755);
  const dir = join(base, 'checks');
  mkdirSync(dir, { mode: 0o755 });
  chmodSync(dir, 0o755);
  return {
    dir,
    base,
    script(name, body, mode = 0o755) {
      const path = join(dir, name);
      writeFileSync(path, body);
      chmodSync(path, mode);
      return path;
    },
    remove() {
      rmSync(base, { recursive: true, force: true });
    },
  };
}
