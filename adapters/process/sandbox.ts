import { accessSync, constants } from 'node:fs';
import { isAbsolute, join } from 'node:path';
import { SandboxUnavailableError } from './errors.ts';
import { runCommand, type CommandResult, type RunCommandOptions } from './run-command.ts';

/**
 * Every program the agent starts (EXEC checks, the notify command) runs through here, confined
 * by util-linux `setpriv`:
 *
 * - no capabilities: the inheritable and ambient sets are cleared and the bounding set dropped,
 *   so neither a child of a `link` agent holding CAP_NET_ADMIN (ambient) nor a child of a root
 *   agent keeps any. (setpriv drops the bounding set only with CAP_SETPCAP and silently keeps
 *   it otherwise; for a non-root agent the cleared ambient set is what matters.)
 * - no_new_privs: setuid and file-capability programs gain nothing.
 * - a minimal environment, never the agent's: PATH, LANG and what the caller adds (LINK_*).
 * - its own process group and its deadline (runCommand): the whole group is killed.
 *
 * Before the first child the sandbox is calibrated once: setpriv runs `cat /proc/self/status`
 * with the same flags and every capability set must come back empty. setpriv missing, or a
 * child that would keep capabilities (a root agent without CAP_SETPCAP), and no child runs at
 * all: each run answers a SandboxUnavailableError saying why, never an unconfined program.
 */

export const CHILD_PATH = '/usr/sbin:/usr/bin:/sbin:/bin';
export const SETPRIV = '/usr/bin/setpriv';
export const SETPRIV_FLAGS: readonly string[] = [
  '--no-new-privs',
  '--inh-caps=-all',
  '--ambient-caps=-all',
  '--bounding-set=-all',
];

const CALIBRATION_TIMEOUT_MS = 5000;

/** The whole environment of a child: `extra` (LINK_*) cannot replace PATH or LANG. */
export function childEnvironment(extra: Readonly<Record<string, string>> = {}): Record<string, string> {
  return { ...extra, PATH: CHILD_PATH, LANG: 'C.UTF-8' };
}

export interface CapabilitySets {
  CapInh: bigint;
  CapPrm: bigint;
  CapEff: bigint;
  CapBnd: bigint;
  CapAmb: bigint;
}

/** The Cap* lines of /proc/<pid>/status; null when one is missing. */
export function parseCapabilities(status: string): CapabilitySets | null {
  const value = (name: keyof CapabilitySets): bigint | null => {
    const match = new RegExp(`^${name}:\\s*([0-9a-f]+)$`, 'm').exec(status);
    return match?.[1] === undefined ? null : BigInt(`0x${match[1]}`);
  };
  const sets = {
    CapInh: value('CapInh'),
    CapPrm: value('CapPrm'),
    CapEff: value('CapEff'),
    CapBnd: value('CapBnd'),
    CapAmb: value('CapAmb'),
  };
  for (const set of Object.values(sets)) if (set === null) return null;
  return sets as CapabilitySets;
}

/** Where `name` is run from: itself when absolute, else the first executable in CHILD_PATH. */
export function resolveProgram(name: string): { path: string } | { errno: 'ENOENT' | 'EACCES' } {
  const candidates = isAbsolute(name) ? [name] : CHILD_PATH.split(':').map((dir) => join(dir, name));
  let errno: 'ENOENT' | 'EACCES' = 'ENOENT';
  for (const path of candidates) {
    try {
      accessSync(path, constants.X_OK);
      return { path };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EACCES') errno = 'EACCES';
    }
  }
  return { errno };
}

export interface SandboxRunOptions extends Omit<RunCommandOptions, 'env'> {
  /** Added to the minimal environment (the hook's LINK_* variables). */
  env?: Readonly<Record<string, string>>;
}

export interface ChildSandbox {
  /** Runs `program` (a path, or a name looked up in CHILD_PATH) confined. Never rejects. */
  run(program: string, options: SandboxRunOptions): Promise<CommandResult>;
  /** Calibrates (once) and says whether children can run: null, or why not. */
  check(): Promise<SandboxUnavailableError | null>;
}

export interface SandboxOptions {
  /** Default /usr/bin/setpriv. */
  setpriv?: string;
}

function notStarted(spawnError: NodeJS.ErrnoException): CommandResult {
  return {
    exitCode: null,
    exitSignal: null,
    timedOut: false,
    aborted: false,
    spawnError,
    stdout: '',
    stderr: '',
    truncated: false,
    durationMs: 0,
  };
}

async function calibrate(setpriv: string): Promise<SandboxUnavailableError | null> {
  try {
    accessSync(setpriv, constants.X_OK);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? 'unusable';
    return new SandboxUnavailableError(
      `${setpriv} (util-linux) is not executable (${code}): the agent starts no program without it`,
    );
  }
  const cat = resolveProgram('cat');
  if (!('path' in cat)) return new SandboxUnavailableError(`no cat in ${CHILD_PATH} to calibrate setpriv`);
  const result = await runCommand(setpriv, {
    args: [...SETPRIV_FLAGS, '--', cat.path, '/proc/self/status'],
    timeoutMs: CALIBRATION_TIMEOUT_MS,
    env: childEnvironment(),
  });
  const caps = result.exitCode === 0 ? parseCapabilities(result.stdout) : null;
  if (!caps) {
    const why = result.spawnError?.code ?? (result.stderr.trim() || `exit code ${result.exitCode}`);
    return new SandboxUnavailableError(`${setpriv} ${SETPRIV_FLAGS.join(' ')} failed: ${why}`);
  }
  if (caps.CapPrm !== 0n || caps.CapEff !== 0n || caps.CapAmb !== 0n || caps.CapInh !== 0n) {
    return new SandboxUnavailableError(
      `a child would keep capabilities (CapPrm ${caps.CapPrm.toString(16)}): a root agent needs ` +
        "CAP_SETPCAP to drop its children's bounding set; no program is started",
    );
  }
  return null;
}

export function createChildSandbox(options: SandboxOptions = {}): ChildSandbox {
  const setpriv = options.setpriv ?? SETPRIV;
  let calibrated: Promise<SandboxUnavailableError | null> | undefined;
  const check = (): Promise<SandboxUnavailableError | null> => (calibrated ??= calibrate(setpriv));

  return {
    check,
    async run(program, run) {
      const unavailable = await check();
      if (unavailable) return notStarted(unavailable);
      const resolved = resolveProgram(program);
      if ('errno' in resolved) {
        return notStarted(
          Object.assign(new Error(`spawn ${program} ${resolved.errno}`), {
            code: resolved.errno,
            path: program,
          }),
        );
      }
      const { env, args, ...rest } = run;
      return runCommand(setpriv, {
        ...rest,
        args: [...SETPRIV_FLAGS, '--', resolved.path, ...(args ?? [])],
        env: childEnvironment(env),
      });
    },
  };
}

/** How a caller names a child that never started: the errno name, or the sandbox's reason. */
export function spawnFailure(error: NodeJS.ErrnoException): string {
  if (error instanceof SandboxUnavailableError) return `${error.code}: ${error.message}`;
  return error.code ?? error.message;
}
