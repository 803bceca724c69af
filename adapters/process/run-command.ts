import { spawn } from 'node:child_process';

/**
 * Runs a program without a shell, with a deadline, and captures a bounded tail of its output.
 * Never rejects: every outcome, spawn failures included, is a `CommandResult`. The agent's own
 * children (EXEC checks, the notify hook) are started through the sandbox (sandbox.ts), which
 * runs them with this under setpriv.
 *
 * The child is the leader of its own process group, and the deadline (or the abort signal)
 * kills the whole group: a script that forks `sleep` does not keep running, nor keep our pipes
 * open. Background children still holding the pipes after the child exited (or a grandchild
 * that left the group) are not waited for: we stop reading `closeGraceMs` after the exit.
 */

export interface RunCommandOptions {
  args?: readonly string[];
  timeoutMs: number;
  signal?: AbortSignal;
  /** The child's whole environment: nothing of the caller's is passed unless given here. */
  env: Readonly<Record<string, string>>;
  /** Bytes kept per stream (the tail); default 4096. */
  maxOutputBytes?: number;
  /** 0 (default): SIGKILL at the deadline. Otherwise SIGTERM, then SIGKILL this much later. */
  killGraceMs?: number;
  /** How long to wait for the pipes to close after the child exited; default 200 ms. */
  closeGraceMs?: number;
}

export interface CommandResult {
  /** The exit code, or null when a signal ended it or it never started. */
  exitCode: number | null;
  exitSignal: NodeJS.Signals | null;
  timedOut: boolean;
  aborted: boolean;
  /** Set when the program could not be started (errno name in `code`, e.g. ENOENT, EACCES). */
  spawnError?: NodeJS.ErrnoException;
  stdout: string;
  stderr: string;
  /** The output was longer than `maxOutputBytes` and only its tail is kept. */
  truncated: boolean;
  durationMs: number;
}

class TailBuffer {
  private chunks: Buffer[] = [];
  private size = 0;
  truncated = false;

  constructor(private readonly limit: number) {}

  push(chunk: Buffer): void {
    this.chunks.push(chunk);
    this.size += chunk.length;
    while (this.size > this.limit && this.chunks.length > 0) {
      const first = this.chunks[0] as Buffer;
      const excess = this.size - this.limit;
      this.truncated = true;
      if (first.length <= excess) {
        this.chunks.shift();
        this.size -= first.length;
      } else {
        this.chunks[0] = first.subarray(excess);
        this.size -= excess;
      }
    }
  }

  toString(): string {
    return Buffer.concat(this.chunks).toString('utf8');
  }
}

export function runCommand(command: string, options: RunCommandOptions): Promise<CommandResult> {
  const started = performance.now();
  const limit = options.maxOutputBytes ?? 4096;
  const stdout = new TailBuffer(limit);
  const stderr = new TailBuffer(limit);
  let timedOut = false;
  let aborted = false;

  return new Promise<CommandResult>((resolve) => {
    const timers: NodeJS.Timeout[] = [];
    let settled = false;
    let spawnError: NodeJS.ErrnoException | undefined;
    let exitCode: number | null = null;
    let exitSignal: NodeJS.Signals | null = null;

    const child = spawn(command, [...(options.args ?? [])], {
      shell: false,
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: options.env,
    });

    const finish = (): void => {
      if (settled) return;
      settled = true;
      for (const timer of timers) clearTimeout(timer);
      options.signal?.removeEventListener('abort', onAbort);
      child.stdout?.destroy();
      child.stderr?.destroy();
      const result: CommandResult = {
        exitCode,
        exitSignal,
        timedOut,
        aborted,
        stdout: stdout.toString(),
        stderr: stderr.toString(),
        truncated: stdout.truncated || stderr.truncated,
        durationMs: Math.round(performance.now() - started),
      };
      if (spawnError) result.spawnError = spawnError;
      resolve(result);
    };

    const killGroup = (signal: NodeJS.Signals): void => {
      if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
      try {
        process.kill(-child.pid, signal);
      } catch {
        // ESRCH: the group is already gone.
      }
    };

    const stop = (): void => {
      const grace = options.killGraceMs ?? 0;
      if (grace > 0) {
        killGroup('SIGTERM');
        timers.push(setTimeout(() => killGroup('SIGKILL'), grace));
      } else {
        killGroup('SIGKILL');
      }
    };

    function onAbort(): void {
      aborted = true;
      stop();
    }

    child.stdout?.on('data', (chunk: Buffer) => stdout.push(chunk));
    child.stderr?.on('data', (chunk: Buffer) => stderr.push(chunk));
    child.on('error', (error: NodeJS.ErrnoException) => {
      // Only spawn failures reach here in practice (ENOENT, EACCES); kill errors are caught above.
      spawnError = error;
      finish();
    });
    child.on('exit', (code, signal) => {
      exitCode = code;
      exitSignal = signal;
      // Children left in the background are not killed once the leader has exited: its pid is
      // reaped and could be reused as another group's id. We only stop waiting for the pipes.
      timers.push(setTimeout(finish, options.closeGraceMs ?? 200));
    });
    child.on('close', finish);

    timers.push(
      setTimeout(() => {
        timedOut = true;
        stop();
      }, options.timeoutMs),
    );
    if (options.signal) {
      if (options.signal.aborted) onAbort();
      else options.signal.addEventListener('abort', onAbort, { once: true });
    }
  });
}

/** `exit code 1: <stderr tail>` — a one-line-ish summary for logs and the journal. */
export function summarizeOutput(result: CommandResult, maxChars = 512): string {
  const text = [result.stderr.trim(), result.stdout.trim()].filter((part) => part.length > 0).join(' | ');
  if (text.length === 0) return '';
  const tail = text.length > maxChars ? `…${text.slice(text.length - maxChars)}` : text;
  return tail.replace(/\s*\n\s*/g, ' ⏎ ');
}
