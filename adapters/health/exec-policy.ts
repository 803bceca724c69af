import { accessSync, constants, lstatSync, realpathSync, statSync } from 'node:fs';
import { dirname, isAbsolute, relative, resolve } from 'node:path';
import type { HealthCheckSpec } from './types.ts';

/**
 * Where EXEC health checks may run programs from: the one rule, used by the agent when a check
 * is added or replaced (a 400 naming `checks[N].command`) and by the probe before every run
 * (a check stored before the rule, or a file changed since, fails instead of running).
 *
 * A command is allowed when:
 * - EXEC_CHECKS_DIR is set (unset: no EXEC check at all);
 * - it names a file inside the folder (absolute, or relative to the folder), and its realpath is
 *   still inside realpath(EXEC_CHECKS_DIR): a symlink may not lead out;
 * - the folder, every folder between it and the file, and the file are owned by root and
 *   writable by nobody else (no group/other write bit; an agent not running as root must also
 *   get EACCES from access(W_OK), which catches ACLs); the folder's ancestors are root's and
 *   not writable by others unless sticky (/tmp), so nobody can rename the folder away;
 * - the file is a regular file the agent may execute.
 */

export type ExecRefusalCode =
  | 'EXEC_CHECKS_DISABLED'
  | 'EXEC_CHECKS_DIR_UNSAFE'
  | 'EXEC_OUTSIDE_DIR'
  | 'EXEC_NOT_FOUND'
  | 'EXEC_NOT_EXECUTABLE'
  | 'EXEC_UNSAFE_FILE';

export type ExecResolution =
  { ok: true; path: string } | { ok: false; code: ExecRefusalCode; message: string };

export interface ExecChecksPolicy {
  /** EXEC_CHECKS_DIR as configured; undefined = EXEC checks refused. */
  readonly dir: string | undefined;
  /** The program to run for `command`, or why it may not run. Reads the file system. */
  resolve(command: string): ExecResolution;
  /** The folder alone (`linkctl agent --check`): its realpath, or why no check can run from it. */
  folder(): ExecResolution;
}

/** What the rule needs of a file's status. */
export interface FileMode {
  uid: number;
  mode: number;
}

/** Pure: `path` is strictly below `root` (both absolute and normalised). */
export function isInside(root: string, path: string): boolean {
  const rel = relative(root, path);
  return rel !== '' && rel !== '..' && !rel.startsWith('../') && !isAbsolute(rel);
}

/**
 * Pure: why someone other than root could change this file or folder, or null. `stickyOk`: a
 * world-writable sticky folder (/tmp) is fine as an ancestor, nobody can rename root's entries.
 */
export function unsafeOwnership(stat: FileMode, stickyOk = false): string | null {
  if (stat.uid !== 0) return `is owned by uid ${stat.uid}, not root`;
  const writable = stat.mode & 0o022;
  if (writable === 0 || (stickyOk && (stat.mode & 0o1000) !== 0)) return null;
  const who = writable & 0o020 ? 'its group' : 'others';
  return `is writable by ${who} (mode ${(stat.mode & 0o7777).toString(8).padStart(4, '0')})`;
}

function errnoOf(err: unknown): string {
  return (err as NodeJS.ErrnoException).code ?? 'error';
}

/** access(W_OK) as the agent; root passes it everywhere, so only asked when not root. */
function writableByAgent(path: string, agentIsRoot: boolean): boolean {
  if (agentIsRoot) return false;
  try {
    accessSync(path, constants.W_OK);
    return true;
  } catch {
    return false;
  }
}

export interface ExecPolicyOptions {
  /** Default: process.geteuid() === 0. */
  agentIsRoot?: boolean;
}

export function createExecChecksPolicy(
  dir: string | undefined,
  options: ExecPolicyOptions = {},
): ExecChecksPolicy {
  const agentIsRoot = options.agentIsRoot ?? process.geteuid?.() === 0;
  const refuse = (code: ExecRefusalCode, message: string): ExecResolution => ({ ok: false, code, message });

  /** One folder or file of the chain: root's and written by nobody else. */
  const unsafe = (path: string, stickyOk: boolean): string | null => {
    const stat = statSync(path);
    const problem = unsafeOwnership(stat, stickyOk);
    if (problem) return `${path} ${problem}`;
    if (stickyOk && (stat.mode & 0o1000) !== 0) return null;
    if (writableByAgent(path, agentIsRoot)) return `${path} is writable by the agent's user`;
    return null;
  };

  const checkDir = (): { ok: true; real: string } | { ok: false; resolution: ExecResolution } => {
    if (dir === undefined) {
      return {
        ok: false,
        resolution: refuse('EXEC_CHECKS_DISABLED', 'EXEC checks are disabled: EXEC_CHECKS_DIR is not set'),
      };
    }
    const bad = (why: string) => ({
      ok: false as const,
      resolution: refuse('EXEC_CHECKS_DIR_UNSAFE', `EXEC_CHECKS_DIR ${why}`),
    });
    let real: string;
    try {
      real = realpathSync(dir);
      if (!statSync(real).isDirectory()) return bad(`${dir} is not a folder`);
    } catch (err) {
      return bad(`${dir} cannot be read (${errnoOf(err)})`);
    }
    try {
      const problem = unsafe(real, false);
      if (problem) return bad(`is not safe: ${problem}`);
      for (let up = dirname(real); ; up = dirname(up)) {
        const ancestor = unsafe(up, true);
        if (ancestor) return bad(`is not safe: ${ancestor}`);
        if (up === dirname(up)) break;
      }
    } catch (err) {
      return bad(`${dir} cannot be read (${errnoOf(err)})`);
    }
    return { ok: true, real };
  };

  return {
    dir,
    folder(): ExecResolution {
      const folder = checkDir();
      return folder.ok ? { ok: true, path: folder.real } : folder.resolution;
    },
    resolve(command: string): ExecResolution {
      const folder = checkDir();
      if (!folder.ok) return folder.resolution;
      const root = folder.real;
      const named = isAbsolute(command) ? resolve(command) : resolve(dir as string, command);
      const outside = (what: string) =>
        refuse('EXEC_OUTSIDE_DIR', `${what} is outside EXEC_CHECKS_DIR (${dir as string})`);
      // Lexically first (the folder may be given through a symlink): /bin/sh is refused unread.
      if (!isInside(resolve(dir as string), named) && !isInside(root, named)) return outside(command);
      let real: string;
      try {
        real = realpathSync(named);
      } catch (err) {
        return refuse('EXEC_NOT_FOUND', `${command} cannot be resolved (${errnoOf(err)})`);
      }
      if (!isInside(root, real)) return outside(`${command} (a symlink to ${real})`);
      try {
        if (!lstatSync(real).isFile())
          return refuse('EXEC_NOT_EXECUTABLE', `${command} is not a regular file`);
        for (let up = dirname(real); up !== root; up = dirname(up)) {
          const problem = unsafe(up, false);
          if (problem) return refuse('EXEC_UNSAFE_FILE', `${command}: ${problem}`);
        }
        const problem = unsafe(real, false);
        if (problem) return refuse('EXEC_UNSAFE_FILE', `${command}: ${problem}`);
        // Fails for root too when no execute bit is set.
        accessSync(real, constants.X_OK);
      } catch (err) {
        return refuse('EXEC_NOT_EXECUTABLE', `${command} is not executable by the agent (${errnoOf(err)})`);
      }
      return { ok: true, path: real };
    },
  };
}

/** A refused EXEC check of a list, as the API reports it: the field and why. */
export interface ExecCheckRefusal {
  code: ExecRefusalCode;
  /** `checks[N].command` */
  field: string;
  message: string;
}

/** Every EXEC check of `checks` that the policy refuses (none: an empty list). */
export function refusedExecChecks(
  checks: readonly HealthCheckSpec[],
  policy: ExecChecksPolicy,
  field = 'checks',
): ExecCheckRefusal[] {
  const refusals: ExecCheckRefusal[] = [];
  checks.forEach((check, index) => {
    if (check.type !== 'EXEC') return;
    const resolution = policy.resolve(check.command);
    if (resolution.ok) return;
    const name = `${field}[${index}].command`;
    refusals.push({ code: resolution.code, field: name, message: `${name}: ${resolution.message}` });
  });
  return refusals;
}
