import { Command } from 'commander';
import { addGlobalOptions } from '../../cli/global.ts';
import type { CliIo } from '../../cli/io.ts';

/**
 * Runs `linkctl --host HOST ARGS…` with the commands `register` adds, in process, against an API
 * at `host`: what it printed (stderr lines prefixed `ERR `) and the exit code it set.
 */
export async function runCli(
  register: (program: Command, io: CliIo) => void,
  host: string,
  ...args: string[]
): Promise<{ out: string; code: number }> {
  const out: string[] = [];
  let code = 0;
  const io: CliIo = {
    stdout: (t) => out.push(t),
    stderr: (t) => out.push(`ERR ${t}`),
    env: {},
    exit: (c) => {
      throw new Error(`exit ${c}`);
    },
    setExitCode: (c) => {
      code = c;
    },
    onInterrupt: () => () => undefined,
  };
  const program = addGlobalOptions(new Command('linkctl').exitOverride());
  register(program, io);
  await program.parseAsync(['node', 'linkctl', '--host', host, ...args]);
  return { out: out.join(''), code };
}
