import { readFileSync } from 'node:fs';
import { Command } from 'commander';
import { registerIpsCommands } from './ips.ts';

/**
 * `linkctl ips …` and `linkctl version` alone, without the agent and lab subcommands: what the
 * CLI tests and the API benchmark run. The real entry is cli/main.ts (bin/linkctl).
 */
function packageVersion(): string {
  try {
    const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as {
      version?: unknown;
    };
    return typeof pkg.version === 'string' ? pkg.version : '0.0.0';
  } catch {
    return '0.0.0';
  }
}

const program = new Command('linkctl').exitOverride((err) => process.exit(err.exitCode === 0 ? 0 : 2));
registerIpsCommands(program, { version: packageVersion() });
await program.parseAsync(process.argv);
