import { spawnSync } from 'node:child_process';
import { readlinkSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT } from '../lab/netns.ts';

/** `--name value` from the command line. */
export function option(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

function inRootNetns(): boolean {
  try {
    return readlinkSync('/proc/self/ns/net') === readlinkSync('/proc/1/ns/net');
  } catch {
    return false;
  }
}

/**
 * Started in the host's own network namespace, a benchmark runs itself again under
 * scripts/in-netns.sh (and exits with its code), so nothing it builds can touch the host network.
 */
export function runInOwnNetns(script: string): void {
  if (!inRootNetns()) return;
  const res = spawnSync(
    join(REPO_ROOT, 'scripts/in-netns.sh'),
    [process.execPath, '--import', 'tsx', join(REPO_ROOT, script), ...process.argv.slice(2)],
    { stdio: 'inherit', cwd: REPO_ROOT },
  );
  process.exit(res.status ?? 1);
}
