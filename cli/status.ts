import type { Command } from 'commander';
import { DEFAULT_HOST, HostSyntaxError, LinkClient } from './client.ts';
import { formatClusterView } from './format.ts';
import type { GlobalOptions } from './global.ts';
import { processIo, type CliIo } from './ips.ts';

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
    .action(async (...all: unknown[]) => {
      const command = all[all.length - 1] as Command;
      try {
        const opts = command.optsWithGlobals<GlobalOptions>();
        const user = opts.user ?? io.env['LINK_USER'];
        const password = opts.password ?? io.env['LINK_PASSWORD'];
        const client = new LinkClient({
          host: opts.host ?? io.env['LINK_HOST'] ?? DEFAULT_HOST,
          ...(user ? { user } : {}),
          ...(password ? { password } : {}),
        });
        const view = await client.cluster();
        io.stdout(opts.json === true ? JSON.stringify(view, null, 2) + '\n' : formatClusterView(view));
      } catch (err: unknown) {
        io.stderr(`linkctl: ${err instanceof Error ? err.message : String(err)}\n`);
        io.setExitCode(err instanceof HostSyntaxError ? 2 : 1);
      }
    });
}
