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

/**
 * Whether `pid` is a process here now that started at `started` (not a reused pid), and not a
 * zombie: a killed agent its parent has not reaped yet is gone all the same.
 */
export function processRunning(pid: number, started: string): boolean {
  const stat = procStat(pid);
  return stat !== null && stat.started === started && stat.state !== 'Z' && stat.state !== 'X';
}

function startTime(pid: number): string | null {
  return procStat(pid)?.started ?? null;
}

/** Fields 3 (state) and 22 (starttime) of /proc/<pid>/stat, after the command name (it may hold spaces and parentheses). */
function procStat(pid: number): { state: string; started: string } | null {
  const stat = readOr(`/proc/${pid}/stat`, '');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const [state, started] = [fields[0], fields[19]];
  return state === undefined || started === undefined || state === '' ? null : { state, started };
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
