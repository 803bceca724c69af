import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * packaging/link.service's sandbox as far as it can be applied without systemd as PID 1 (the
 * tests run where `systemd-run` cannot): its system call filter and address families through
 * `seccomp-exec.py` (libseccomp, as systemd does it), no_new_privs, its capabilities and its
 * umask. Read from the unit itself, so the tests run what the unit says. Not reproduced: the
 * mount namespace settings (ProtectSystem=, PrivateTmp=, PrivateDevices=, ProtectProc=,
 * ProcSubset=, ProtectKernel*=, ProtectControlGroups=), ProtectHostname= and ProtectClock='s
 * device rule; they hide files and devices the agent does not open.
 */

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
export const UNIT_FILE = join(ROOT, 'packaging/link.service');
const SECCOMP_EXEC = join(ROOT, 'test/support/seccomp-exec.py');

/** Every value of `key=` in the unit's [Service] section, in order. */
export function unitValues(key: string, text = readFileSync(UNIT_FILE, 'utf8')): string[] {
  const service = text.split(/^\[/m).find((section) => section.startsWith('Service]')) ?? '';
  return service
    .split('\n')
    .filter((line) => line.startsWith(`${key}=`))
    .map((line) => line.slice(key.length + 1).trim());
}

/** systemd's syscall groups (`systemd-analyze syscall-filter`): group -> members (calls and groups). */
function syscallGroups(): Map<string, string[]> {
  const out = execFileSync('systemd-analyze', ['syscall-filter', '--no-pager'], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'ignore'],
  });
  const groups = new Map<string, string[]>();
  let current: string[] | undefined;
  for (const line of out.split('\n')) {
    if (line.startsWith('@')) {
      current = [];
      groups.set(line.split(/\s/)[0]!, current);
    } else if (current !== undefined && line.trim() !== '' && !line.trim().startsWith('#')) {
      current.push(line.trim().split(/\s/)[0]!);
    }
  }
  return groups;
}

function expand(name: string, groups: Map<string, string[]>, into = new Set<string>()): Set<string> {
  if (!name.startsWith('@')) return into.add(name);
  for (const member of groups.get(name) ?? []) expand(member, groups, into);
  return into;
}

/**
 * The calls the unit's SystemCallFilter= lines allow, applied in order as systemd does: the first
 * (an allow list) sets them, a later `~…` removes, a later plain one adds.
 */
export function allowedSyscalls(values = unitValues('SystemCallFilter')): string[] {
  const groups = syscallGroups();
  const allowed = new Set<string>();
  values.forEach((value, i) => {
    const deny = value.startsWith('~');
    if (i === 0 && deny) throw new Error('a deny-list SystemCallFilter= is not reproduced here');
    for (const name of value.replace(/^~/, '').split(/\s+/)) {
      for (const call of expand(name, groups)) {
        if (deny) allowed.delete(call);
        else allowed.add(call);
      }
    }
  });
  // RestrictNamespaces=yes: seccomp-exec.py then filters clone's flags and refuses clone3.
  if (unitValues('RestrictNamespaces').includes('yes')) {
    allowed.delete('unshare');
    allowed.delete('setns');
  }
  return [...allowed].sort();
}

/** Why the seccomp part cannot run here, or null when it can. */
export function seccompUnavailable(): string | null {
  for (const [tool, args] of [
    ['systemd-analyze', ['--version']],
    ['python3', ['-c', 'import ctypes; ctypes.CDLL("libseccomp.so.2")']],
  ] as const) {
    try {
      execFileSync(tool, args, { stdio: 'ignore' });
    } catch {
      return `${tool === 'python3' ? 'python3 with libseccomp.so.2' : tool} is not available`;
    }
  }
  return null;
}

/** The command prefix that puts the unit's system call filter and address families on `--` COMMAND. */
export function seccompPrefix(): string[] {
  const families = unitValues('RestrictAddressFamilies').join(' ').split(/\s+/).filter(Boolean);
  return ['python3', SECCOMP_EXEC, allowedSyscalls().join(','), families.join(','), '--'];
}

/** UMask= as the octal string `umask` takes. */
export function unitUmask(): string {
  const [umask] = unitValues('UMask');
  if (umask === undefined) throw new Error('the unit sets no UMask=');
  return umask;
}
