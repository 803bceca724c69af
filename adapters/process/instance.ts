import { randomUUID } from 'node:crypto';
import { readFileSync, readlinkSync } from 'node:fs';
import type { AgentInstance } from '../etcd/host-claim.ts';

/**
 * Who this agent process is, for its host record (adapters/etcd/host-claim.ts): a random id per
 * start, the running system (the kernel's boot id: a cloned VM boots with a new one; and the
 * network namespace: the lab's hosts share a kernel), the pid and its start time.
 */
export function currentInstance(): AgentInstance {
  return {
    id: randomUUID(),
    system: `${readOr('/proc/sys/kernel/random/boot_id', 'unknown-boot').trim()}/${linkOr('/proc/self/ns/net', 'unknown-netns')}`,
    pid: process.pid,
    started: startTime(process.pid) ?? '',
  };
}

/** Whether `pid` is a process here now that started at `started` (not a reused pid). */
export function processRunning(pid: number, started: string): boolean {
  const now = startTime(pid);
  return now !== null && now === started;
}

/** Field 22 of /proc/<pid>/stat (after the command name, which may hold spaces and parentheses). */
function startTime(pid: number): string | null {
  const stat = readOr(`/proc/${pid}/stat`, '');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // fields[0] is field 3 (state): starttime, field 22, is fields[19].
  return fields[19] ?? null;
}

function readOr(path: string, fallback: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return fallback;
  }
}

function linkOr(path: string, fallback: string): string {
  try {
    return readlinkSync(path);
  } catch {
    return fallback;
  }
}
