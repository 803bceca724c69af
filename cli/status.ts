import type { Command } from 'commander';
import { formatClusterView } from './format.ts';
import { action, connect, processIo, type CliIo } from './io.ts';

/**
 * `linkctl status` (GET /cluster, docs/api.md "Cluster view"): every VIP of the cluster as etcd
 * shows it, one line each: its owner and every host with its priority and state (`owner`,
 * `candidate`, `withdrawn`, `down`, adapters/etcd/cluster-view.ts). Any agent of the cluster
 * answers the same. `--json` prints the API's answer. Exit codes: 0 shown, 1 the request failed
 * (agent unreachable, etcd unreachable: 503), 2 usage.
 */
export function registerStatusCommand(program: Command, io: CliIo = processIo): void {
  program
    .command('status')
    .description("every VIP of the cluster (from etcd): its owner, each host's priority and state")
    .action(
      action(io, async (command) => {
        const { client, json } = connect(command, io);
        const view = await client.cluster();
        io.stdout(json ? JSON.stringify(view, null, 2) + '\n' : formatClusterView(view));
      }),
    );
}
