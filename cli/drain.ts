import type { Command } from 'commander';
import type { DrainStatus } from '../actors/drain.ts';
import { ApiClientError } from './client.ts';
import { action, connect, processIo, type CliIo } from './io.ts';
import { UsageError } from './usage.ts';

/**
 * `linkctl drain [--wait]` and `linkctl undrain` (POST / DELETE /drain, docs/api.md "Drain").
 * Exit codes: 0 done, 1 the request failed (or, with --wait, the wait timed out), 2 usage.
 * `--wait` follows GET /drain until no VIP is pending or being handed over, printing each
 * change; VIPs kept (no other host took them) are listed and do not fail the command.
 */

const POLL_MS = 200;

export function registerDrainCommands(program: Command, io: CliIo = processIo): void {
  const run = (body: (command: Command) => Promise<void>) => action(io, body);

  program
    .command('drain')
    .description(
      'hand every VIP this host owns to another host (no gap) and stop competing; the agent keeps running',
    )
    .option('--wait', 'follow the handovers until none is pending, printing progress')
    .option('--timeout <seconds>', 'with --wait: give up after this long', '120')
    .action(
      run(async (command) => {
        const { client, json } = connect(command, io);
        const opts = command.opts<{ wait?: boolean; timeout: string }>();
        const timeoutS = Number(opts.timeout);
        if (!Number.isFinite(timeoutS) || timeoutS <= 0)
          throw new UsageError(`--timeout ${opts.timeout}: not a positive number of seconds`);
        let status = (await client.request('POST', '/drain')).body as DrainStatus;
        if (!opts.wait) {
          io.stdout(json ? JSON.stringify(status, null, 2) + '\n' : summary(status) + '\n');
          return;
        }
        const deadline = Date.now() + timeoutS * 1000;
        let last = '';
        for (;;) {
          const line = summary(status);
          if (line !== last && !json) io.stdout(line + '\n');
          last = line;
          if (status.done) break;
          if (Date.now() > deadline)
            throw new ApiClientError(`drain: still handing over after ${timeoutS} s`);
          await new Promise((resolve) => setTimeout(resolve, POLL_MS));
          status = (await client.request('GET', '/drain')).body as DrainStatus;
        }
        if (json) io.stdout(JSON.stringify(status, null, 2) + '\n');
        else
          for (const vip of status.vips)
            if (vip.drain === 'kept') io.stdout(`kept ${vip.ip}: ${vip.reason ?? ''}\n`);
      }),
    );

  program
    .command('undrain')
    .description('let every VIP of this host compete again (DELETE /drain)')
    .action(
      run(async (command) => {
        const { client, json } = connect(command, io);
        const status = (await client.request('DELETE', '/drain')).body as DrainStatus;
        io.stdout(json ? JSON.stringify(status, null, 2) + '\n' : 'undrained: every VIP competes again\n');
      }),
    );
}

/** One line: `drained: 3 handed over, 1 withdrawn, 1 kept, 2 handing over, 0 pending`. */
export function summary(status: DrainStatus): string {
  if (!status.drained) return 'not drained';
  const c = status.counts;
  const parts = [
    `${c['handed-over']} handed over`,
    `${c.withdrawn} withdrawn`,
    `${c.kept} kept`,
    `${c['handing-over']} handing over`,
    `${c.pending} pending`,
  ];
  return `${status.done ? 'drained' : 'draining'}: ${parts.join(', ')}`;
}
