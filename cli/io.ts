import type { Command } from 'commander';
import { DEFAULT_HOST, HostSyntaxError, LinkClient } from './client.ts';
import type { GlobalOptions } from './global.ts';
import { UsageError } from './usage.ts';

/**
 * What every `linkctl` command that talks to an agent shares: its IO (replaced in tests), the
 * client built from the global options, and the one rule for a failure: one line on stderr,
 * `linkctl: …`, exit code 2 for usage (bad arguments, a bad --host), 1 for anything else (an
 * HTTP error, the agent unreachable).
 */

export interface CliIo {
  stdout(text: string): void;
  stderr(text: string): void;
  env: Readonly<Record<string, string | undefined>>;
  /** Ends the process (usage errors found by commander, help). */
  exit(code: number): never;
  /** Sets the exit code without ending (so output is flushed). */
  setExitCode(code: number): void;
  /** Ctrl-C / SIGTERM while following events. */
  onInterrupt(handler: () => void): () => void;
}

export const processIo: CliIo = {
  stdout: (text) => void process.stdout.write(text),
  stderr: (text) => void process.stderr.write(text),
  env: process.env,
  exit: (code) => process.exit(code),
  setExitCode: (code) => {
    process.exitCode = code;
  },
  onInterrupt: (handler) => {
    process.once('SIGINT', handler);
    process.once('SIGTERM', handler);
    return () => {
      process.off('SIGINT', handler);
      process.off('SIGTERM', handler);
    };
  },
};

/** The agent's client from `--host/-u/-p` (or LINK_HOST, LINK_USER, LINK_PASSWORD), and `--json`. */
export function connect(command: Command, io: CliIo): { client: LinkClient; json: boolean } {
  const opts = command.optsWithGlobals<GlobalOptions>();
  const env = io.env;
  const clientOptions: { host: string; user?: string; password?: string } = {
    host: opts.host ?? env['LINK_HOST'] ?? DEFAULT_HOST,
  };
  const user = opts.user ?? env['LINK_USER'];
  const password = opts.password ?? env['LINK_PASSWORD'];
  if (user !== undefined && user !== '') clientOptions.user = user;
  if (password !== undefined && password !== '') clientOptions.password = password;
  return { client: new LinkClient(clientOptions), json: opts.json === true };
}

/** A commander action running `body(command, ...arguments)`, every failure mapped as above. */
export function action<A extends unknown[]>(
  io: CliIo,
  body: (command: Command, ...args: A) => Promise<void>,
) {
  return async (...all: unknown[]): Promise<void> => {
    const command = all[all.length - 1] as Command;
    const args = all.slice(0, -2) as A;
    try {
      await body(command, ...args);
    } catch (err: unknown) {
      io.stderr(`linkctl: ${err instanceof Error ? err.message : String(err)}\n`);
      io.setExitCode(err instanceof UsageError || err instanceof HostSyntaxError ? 2 : 1);
    }
  };
}
