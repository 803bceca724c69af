import { Command } from 'commander';
import { registerAgentCommand } from './agent.ts';
import { registerIpsCommands } from './ips.ts';
import { registerLabCommands } from './lab.ts';
import { packageVersion } from './version.ts';

/** `linkctl`: the agent, the operator's commands against an agent's API, and the lab. */
const program = new Command('linkctl')
  .description('LinK (Link is not Keepalived): virtual IPs shared by Linux hosts through etcd')
  .exitOverride((err) => process.exit(err.exitCode === 0 ? 0 : 2));
registerAgentCommand(program);
registerIpsCommands(program, { version: packageVersion() });
registerLabCommands(program);
await program.parseAsync(process.argv);
