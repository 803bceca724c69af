import { Command } from 'commander';
import { addGlobalOptions, commandOf } from './global.ts';
import { packageVersion } from './version.ts';

/**
 * `linkctl`: the agent, the operator's commands against an agent's API, and the lab.
 * Each command loads only its own modules: `linkctl agent` must be back in etcd within one
 * lease TTL after a restart, and `linkctl ips list` must not pay for etcd, koa, the FFI, zod
 * or the lab (every module loaded costs start-up time). Only help, a bare `linkctl` and an
 * unknown command load them all, so that commander can list or refuse them.
 */
const program = new Command('linkctl')
  .description('LinK (Link is not Keepalived): virtual IPs shared by Linux hosts through etcd')
  .version(`linkctl ${packageVersion()}`, '-V, --version', "print linkctl's version")
  .configureHelp({ showGlobalOptions: true })
  // Commander's own usage errors ("error: unknown option …") wear linkctl's prefix like ours.
  .configureOutput({ outputError: (text, write) => write(text.replace(/^error: /, 'linkctl: ')) })
  .exitOverride((err) => process.exit(err.exitCode === 0 ? 0 : 2));
addGlobalOptions(program);
const only = commandOf(process.argv.slice(2));
const all =
  only !== 'agent' &&
  only !== 'ips' &&
  only !== 'version' &&
  only !== 'lab' &&
  only !== 'drain' &&
  only !== 'undrain' &&
  only !== 'status';
if (all || only === 'agent') (await import('./agent.ts')).registerAgentCommand(program);
if (all || only === 'ips' || only === 'version') {
  (await import('./ips.ts')).registerIpsCommands(program, { version: packageVersion() });
}
if (all || only === 'lab') (await import('./lab.ts')).registerLabCommands(program);
if (all || only === 'drain' || only === 'undrain')
  (await import('./drain.ts')).registerDrainCommands(program);
if (all || only === 'status') (await import('./status.ts')).registerStatusCommand(program);
await program.parseAsync(process.argv);
