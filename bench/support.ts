import { spawnSync } from 'node:child_process';
import { mkdirSync, readlinkSync, writeFileSync } from 'node:fs';
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

/** A markdown table: the header, its rule, one line per row. */
export function markdown(header: readonly string[], rows: readonly string[][]): string {
  return [header, header.map(() => '---'), ...rows].map((r) => `| ${r.join(' | ')} |`).join('\n');
}

/** Writes `bench/results/<name>-<started, ISO>.json`; returns its path. */
export function saveResults(name: string, started: Date, output: unknown): string {
  const dir = join(REPO_ROOT, 'bench/results');
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `${name}-${started.toISOString().replace(/[:.]/g, '-')}.json`);
  writeFileSync(file, JSON.stringify(output, null, 2));
  return file;
}
