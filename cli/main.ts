import { Command } from 'commander';
import { packageVersion } from './version.ts';

/**
 * `linkctl`: the agent, the operator's commands against an agent's API, and the lab.
 * `linkctl agent` loads only what the agent needs: a restart that keeps its VIPs must be
 * back in etcd within one lease TTL, and every module loaded costs start-up time.
 */
const program = new Command('linkctl')
  .description('LinK (Link is not Keepalived): virtual IPs shared by Linux hosts through etcd')
  .exitOverride((err) => process.exit(err.exitCode === 0 ? 0 : 2));
const only = process.argv[2];
if (only !== 'ips' && only !== 'lab' && only !== 'version') {
  (await import('./agent.ts')).registerAgentCommand(program);
}
if (only !== 'agent') {
  (await import('./ips.ts')).registerIpsCommands(program, { version: packageVersion() });
  (await import('./lab.ts')).registerLabCommands(program);
}
await program.parseAsync(process.argv);
