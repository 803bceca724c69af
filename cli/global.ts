import type { Command } from 'commander';

/**
 * linkctl's global options: declared once on the program, so commander takes them before or
 * after the subcommand (`linkctl --host X ips list` and `linkctl ips list --host X`), and read
 * by every command with `optsWithGlobals()`.
 */

interface GlobalOption {
  flags: string;
  description: string;
  /** Takes a value (the next word, or `--name=value`). */
  value: boolean;
}

const GLOBAL_OPTIONS: readonly GlobalOption[] = [
  {
    flags: '--host <url>',
    description: 'agent API: http://HOST:PORT, https://…, unix:/path.sock (env LINK_HOST)',
    value: true,
  },
  { flags: '-u, --user <user>', description: 'basic auth user (env LINK_USER)', value: true },
  { flags: '-p, --password <password>', description: 'basic auth password (env LINK_PASSWORD)', value: true },
  { flags: '--json', description: 'print JSON for scripts', value: false },
];

export interface GlobalOptions {
  host?: string;
  user?: string;
  password?: string;
  json?: boolean;
}

export function addGlobalOptions(program: Command): Command {
  for (const option of GLOBAL_OPTIONS) program.option(option.flags, option.description);
  return program;
}

/** The names (`--host`, `-u`) of the global options that take a value. */
const VALUE_FLAGS = new Set(
  GLOBAL_OPTIONS.filter((o) => o.value).flatMap((o) =>
    o.flags.split(/[ ,]+/).filter((f) => f.startsWith('-')),
  ),
);

/**
 * The subcommand named by `args` (argv without node and the script): the first word that is
 * neither an option nor a global option's value. Undefined when there is none.
 */
export function commandOf(args: readonly string[]): string | undefined {
  for (let i = 0; i < args.length; i++) {
    const arg = args[i] ?? '';
    if (arg === '--') return args[i + 1];
    if (!arg.startsWith('-')) return arg;
    if (VALUE_FLAGS.has(arg)) i++;
  }
  return undefined;
}
