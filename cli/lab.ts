import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { Command } from 'commander';
import { Lab, DEFAULT_VIP } from '../lab/lab.ts';
import { forwardToUnixSocket } from '../lab/forward.ts';
import { printStatus } from '../lab/status.ts';

/**
 * `linkctl lab …`: the namespace lab as a person drives it. The lab outlives each command;
 * its layout lives in `.lab/<name>/lab.json`. Like every linkctl command: one line
 * `linkctl: …` on failure, exit 2 for usage, 1 when the lab could not do it; each command that
 * acts says what it did.
 */

function fail(message: string, exitCode: 1 | 2 = 1): never {
  process.stderr.write(`linkctl: ${message}\n`);
  process.exit(exitCode);
}

const ENV_ASSIGNMENT = /^([A-Za-z_][A-Za-z0-9_]*)=(.*)$/s;

/** `--env NAME=VALUE`, repeatable: the agents' extra environment. */
function collectEnv(text: string, previous: Record<string, string>): Record<string, string> {
  const match = ENV_ASSIGNMENT.exec(text);
  if (!match) fail(`lab up --env ${text}: expected NAME=VALUE`, 2);
  return { ...previous, [match[1]!]: match[2]! };
}

async function withLab(name: string, action: (lab: Lab) => Promise<void>): Promise<void> {
  let lab: Lab;
  try {
    lab = Lab.load(Lab.dirOf(name));
  } catch (err) {
    fail(err instanceof Error ? err.message : String(err));
  }
  try {
    await action(lab);
  } catch (err) {
    fail(err instanceof Error ? err.message : String(err));
  }
}

interface UpOptions {
  name: string;
  hosts: string;
  etcd: string;
  vip?: string;
  env: Record<string, string>;
  force?: boolean;
}

export function registerLabCommands(program: Command): void {
  const lab = program
    .command('lab')
    .description('a lab of hosts, etcd and an observer in network namespaces');
  lab
    .command('up')
    .description('build the lab and start one agent per host')
    .option('--name <name>', 'lab name', 'lab')
    .option('--hosts <n>', 'number of hosts', '3')
    .option('--etcd <members>', 'etcd members (1 or 3)', '1')
    .option('--vip <cidr>', `add this VIP on every host (e.g. ${DEFAULT_VIP})`)
    .option(
      '--env <NAME=VALUE>',
      'extra environment of every agent, repeatable (USER and PASSWORD: lab commands use them)',
      collectEnv,
      {},
    )
    .option('--force', 'replace a lab of the same name that is up')
    .action(async (options: UpOptions) => {
      const hosts = Number(options.hosts);
      if (!Number.isInteger(hosts) || hosts < 1 || hosts > 50) fail('lab up --hosts: expected 1 to 50', 2);
      if (options.etcd !== '1' && options.etcd !== '3') fail('lab up --etcd: expected 1 or 3', 2);
      if (!options.force && existsSync(join(Lab.dirOf(options.name), 'lab.json'))) {
        fail(
          `lab ${options.name} is up: tear it down first (linkctl lab down --name ${options.name}) or replace it with --force`,
        );
      }
      try {
        const built = await Lab.up({
          name: options.name,
          hosts,
          etcdMembers: options.etcd === '3' ? 3 : 1,
          agentEnv: options.env,
        });
        if (options.vip) {
          for (const host of built.hosts) {
            const res = await built.api(host.name, 'POST', '/ips', { ip: options.vip });
            if (res.status !== 201)
              fail(`${host.name}: POST /ips: ${res.status} ${JSON.stringify(res.body)}`);
          }
        }
        await printStatus(built);
        process.stdout.write(
          `logs and sockets in ${built.dir}; tear down with: linkctl lab down --name ${built.name}\n`,
        );
      } catch (err) {
        fail(err instanceof Error ? err.message : String(err));
      }
    });
  lab
    .command('down')
    .option('--name <name>', 'lab name', 'lab')
    .action((options: { name: string }) =>
      withLab(options.name, async (l) => {
        await l.down();
        process.stdout.write(`lab ${l.name}: torn down\n`);
      }),
    );
  lab
    .command('status')
    .option('--name <name>', 'lab name', 'lab')
    .action((options: { name: string }) => withLab(options.name, (l) => printStatus(l)));
  /** A command on one host; `done` is what it prints once the action succeeded. */
  const hostCommand = (
    name: string,
    description: string,
    done: string,
    action: (lab: Lab, host: string) => Promise<void>,
  ) =>
    lab
      .command(`${name} <host>`)
      .description(description)
      .option('--name <name>', 'lab name', 'lab')
      .action((host: string, options: { name: string }) =>
        withLab(options.name, async (l) => {
          await action(l, host);
          process.stdout.write(`${host}: ${done}\n`);
        }),
      );
  hostCommand('kill', "kill -9 the host's agent", 'agent killed (SIGKILL)', (l, h) =>
    l.signalAgent(h, 'SIGKILL'),
  );
  hostCommand(
    'stop',
    "stop the host's agent gracefully (SIGTERM: hand over)",
    'agent stopped (SIGTERM, VIPs handed over)',
    (l, h) => l.signalAgent(h, 'SIGTERM'),
  );
  hostCommand('start', "start the host's agent", 'agent started', (l, h) => l.startAgent(h));
  hostCommand(
    'restart',
    "restart the host's agent keeping its VIPs (SIGUSR2, then start)",
    'agent restarted (VIPs kept bound)',
    async (l, h) => {
      await l.signalAgent(h, 'SIGUSR2');
      await l.startAgent(h);
    },
  );
  hostCommand('partition', 'cut the host from etcd only', 'cut from etcd', (l, h) => l.partition(h));
  hostCommand('heal', "undo 'partition'", 'reaches etcd again', (l, h) => l.heal(h));
  hostCommand('crash', "cut the host's switch port (the host vanishes)", 'switch port cut', (l, h) =>
    l.cutLink(h),
  );
  lab
    .command('forward <host>')
    .description("serve the host's API (and its visualiser, /ui) on a loopback port until Ctrl-C")
    .option('--name <name>', 'lab name', 'lab')
    .option('--port <port>', 'loopback port (default: any free one)', '0')
    .action((host: string, options: { name: string; port: string }) => {
      const port = Number(options.port);
      if (!/^\d+$/.test(options.port) || port > 65535)
        fail(`lab forward --port ${options.port}: expected 0-65535`, 2);
      return withLab(options.name, async (l) => {
        const forwarder = await forwardToUnixSocket(l.host(host).socket, { port });
        process.stdout.write(`${host}: ${forwarder.url}/ui  (API: ${forwarder.url}/ips); Ctrl-C to stop\n`);
        await new Promise<void>((resolve) => {
          process.once('SIGINT', resolve);
          process.once('SIGTERM', resolve);
        });
        await forwarder.close();
      });
    });
  hostCommand('restore', "undo 'crash'", 'switch port up', (l, h) => l.restoreLink(h));
}
