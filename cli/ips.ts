import type { Command, CommanderError } from 'commander';
import type { VipView } from '../actors/types.ts';
import { ApiClientError, type LinkClient } from './client.ts';
import {
  formatClusterView,
  formatHosts,
  formatJournal,
  formatJournalEntry,
  formatVip,
  formatVipList,
} from './format.ts';
import { action, connect as connectTo, processIo, type CliIo } from './io.ts';
import { UsageError } from './usage.ts';

/**
 * `linkctl ips …` and `linkctl version`. Exit codes: 0 done, 1 the request failed (HTTP error,
 * agent unreachable, the event stream cut), 2 usage (bad arguments). Errors are one line on
 * stderr, `linkctl: …`. Connection: the global options (cli/global.ts) `--host` (or LINK_HOST;
 * `http://127.0.0.1:1313` by default, `unix:/path.sock` works), `--user/-u` and `--password/-p`
 * (or LINK_USER, LINK_PASSWORD); `--json` prints the API's JSON for scripts. Modules that only
 * some commands need (the API's schemas, hence zod) are imported by those commands.
 */

export interface RegisterIpsOptions {
  /** linkctl's own version (printed by `linkctl version`). */
  version: string;
  io?: CliIo;
}

/** `vip-<uuid>` as is; an IP (with or without prefix) is looked up in the agent's list. */
async function resolveId(client: LinkClient, ref: string): Promise<string> {
  const [{ normaliseVipId }, { parseCidr }] = await Promise.all([
    import('../http/schemas.ts'),
    import('../http/cidr.ts'),
  ]);
  const id = normaliseVipId(ref);
  if (id) return id;
  const parsed = parseCidr(ref);
  if (!parsed.ok) throw new UsageError(`${ref} is neither a VIP id (vip-<uuid>) nor an IP address`);
  const withPrefix = ref.includes('/');
  const vips = await client.listIps();
  const matches = vips.filter((v) => {
    if (withPrefix) return v.ip === parsed.value.cidr;
    const other = parseCidr(v.ip);
    return other.ok && other.value.address === parsed.value.address;
  });
  const [first] = matches;
  if (!first) throw new ApiClientError(`no VIP ${ref} on this agent`, 404);
  if (matches.length > 1) {
    throw new UsageError(`${ref} matches ${matches.map((m) => m.ip).join(', ')}: give the prefix or the id`);
  }
  return first.id;
}

export function registerIpsCommands(program: Command, options: RegisterIpsOptions): void {
  const io = options.io ?? processIo;
  const exitOverride = (err: CommanderError): never => io.exit(err.exitCode === 0 ? 0 : 2);

  const connect = (command: Command) => connectTo(command, io);

  const printJson = (value: unknown) => io.stdout(JSON.stringify(value, null, 2) + '\n');

  /** Runs an action: maps every failure to one line and an exit code (cli/io.ts). */
  const run = <A extends unknown[]>(body: (command: Command, ...args: A) => Promise<void>) =>
    action(io, body);

  const ips = program
    .command('ips')
    .description('manage the virtual IPs of an agent')
    .exitOverride(exitOverride);
  const leaf = (name: string, description: string): Command =>
    ips.command(name).description(description).exitOverride(exitOverride);

  leaf('list', 'list the VIPs of the agent')
    .alias('ls')
    .option('--all', 'every VIP of the cluster, from etcd (as linkctl status)')
    .action(
      run(async (command) => {
        const { client, json } = connect(command);
        if (command.opts<{ all?: boolean }>().all === true) {
          const view = await client.cluster();
          if (json) printJson(view);
          else io.stdout(formatClusterView(view));
          return;
        }
        const vips = await client.listIps();
        if (json) printJson({ ips: vips });
        else io.stdout(formatVipList(vips));
      }),
    );

  leaf('get', 'show one VIP')
    .argument('<vip>', 'VIP id (vip-<uuid>) or IP')
    .action(
      run(async (command, ref: string) => {
        const { client, json } = connect(command);
        const vip = await client.getIp(await resolveId(client, ref));
        if (json) printJson({ ip: vip });
        else io.stdout(formatVip(vip));
      }),
    );

  leaf('add', 'add a VIP; checks as LinK v2 pairs: TCP HOST:PORT, HTTP URL, EXEC "CMD ARGS"')
    .argument('<ip>', 'address with prefix, e.g. 198.18.0.10/32 (default prefix /32, /128)')
    .argument('[checks...]', 'TYPE SPEC pairs')
    .option('--interval <seconds>', 'health check interval in seconds (0 = agent default)')
    .option('--checks-json <json>', 'checks as a JSON array (all fields)')
    .option('--priority <n>', "this host's priority for the VIP, 0-255, higher wins (default 100)")
    .option('--preempt', 'take the VIP from a lower-priority owner (after --preempt-delay)')
    .option(
      '--preempt-delay <seconds>',
      'how long a higher priority must last before it preempts (default 10)',
    )
    .action(
      run(async (command, ip: string, checkArgs: string[]) => {
        const { bodyFromArgs } = await import('./vip-body.ts');
        const body = bodyFromArgs(ip, checkArgs, command.opts());
        const { client, json } = connect(command);
        const vip = await client.addIp(body);
        if (json) printJson(vip);
        else io.stdout(`added ${vip.id} ${vip.ip} (${vip.status})\n`);
      }),
    );

  leaf('set', "change a VIP's placement on this host: priority, preemption")
    .argument('<vip>', 'VIP id or IP')
    .option('--priority <n>', '0-255, higher wins')
    .option('--preempt', 'take the VIP from a lower-priority owner')
    .option('--no-preempt', 'never take it from a live owner (LinK v2, keepalived nopreempt)')
    .option('--preempt-delay <seconds>', 'how long a higher priority must last before it preempts')
    .action(
      run(async (command, ref: string) => {
        const { placementBody } = await import('./vip-body.ts');
        const body = placementBody(command.opts());
        const { client, json } = connect(command);
        const vip = await client.updateIp(await resolveId(client, ref), body);
        if (json) printJson(vip);
        else io.stdout(formatVip(vip));
      }),
    );

  leaf('rm', 'remove a VIP (waits, bounded, until another host holds it)')
    .aliases(['remove', 'delete'])
    .argument('<vip>', 'VIP id or IP')
    .action(
      run(async (command, ref: string) => {
        const { client, json } = connect(command);
        const id = await resolveId(client, ref);
        await client.removeIp(id);
        if (json) printJson({ id, removed: true });
        else io.stdout(`removed ${id}${id === ref ? '' : ` (${ref})`}\n`);
      }),
    );

  leaf('lock', 'try to take ownership of a VIP now')
    .argument('<vip>', 'VIP id or IP')
    .action(
      run(async (command, ref: string) => {
        const { client, json } = connect(command);
        const vip: VipView = await client.lock(await resolveId(client, ref));
        if (json) printJson({ ip: vip });
        else
          io.stdout(
            `${vip.id} ${vip.ip}: ${vip.owner ? 'this host holds it' : 'another host holds it'} (${vip.status})\n`,
          );
      }),
    );

  leaf('failover', 'hand a VIP this host owns to another host')
    .argument('<vip>', 'VIP id or IP')
    .action(
      run(async (command, ref: string) => {
        const { client, json } = connect(command);
        const id = await resolveId(client, ref);
        // 204 once another host has taken the lock; VIP-Owner names it (an older agent: the hosts).
        const owner =
          (await client.failover(id)) ?? (await client.hosts(id)).find((h) => h.owner)?.hostname ?? null;
        if (json) printJson({ id, failover: true, owner });
        else io.stdout(`${id} handed over to ${owner ?? 'another host'}\n`);
      }),
    );

  leaf('hosts', 'hosts that carry a VIP, and its owner')
    .argument('<vip>', 'VIP id or IP')
    .action(
      run(async (command, ref: string) => {
        const { client, json } = connect(command);
        const hosts = await client.hosts(await resolveId(client, ref));
        if (json) printJson({ hosts });
        else io.stdout(formatHosts(hosts));
      }),
    );

  leaf('events', "a VIP's journal; --follow streams new entries until Ctrl-C")
    .argument('<vip>', 'VIP id or IP')
    .option('-f, --follow', 'stream live entries (Server-Sent Events)')
    .action(
      run(async (command, ref: string) => {
        const { client, json } = connect(command);
        const id = await resolveId(client, ref);
        if (!command.opts<{ follow?: boolean }>().follow) {
          const entries = await client.events(id);
          if (json) printJson({ events: entries });
          else io.stdout(formatJournal(entries));
          return;
        }
        const abort = new AbortController();
        const off = io.onInterrupt(() => abort.abort());
        try {
          await client.followEvents(
            id,
            (entry) => io.stdout((json ? JSON.stringify(entry) : formatJournalEntry(entry)) + '\n'),
            abort.signal,
          );
        } finally {
          off();
        }
      }),
    );

  const checks = ips.command('checks').description("a VIP's health checks").exitOverride(exitOverride);
  checks
    .command('set')
    .description('replace the checks of a VIP (no pairs: remove them all)')
    .exitOverride(exitOverride)
    .argument('<vip>', 'VIP id or IP')
    .argument('[checks...]', 'TYPE SPEC pairs: TCP HOST:PORT, HTTP URL, EXEC "CMD ARGS"')
    .option('--interval <seconds>', 'health check interval in seconds (0 = agent default)')
    .option('--checks-json <json>', 'checks as a JSON array (all fields)')
    .action(
      run(async (command, ref: string, checkArgs: string[]) => {
        const { bodyFromArgs } = await import('./vip-body.ts');
        // Same validation as the API; the address is a placeholder, only checks are looked at.
        const opts = command.opts<{ interval?: string; checksJson?: string }>();
        const { checks: list, healthcheck_interval } = bodyFromArgs('198.18.0.1/32', checkArgs, opts);
        const { client, json } = connect(command);
        const id = await resolveId(client, ref);
        const vip = await client.setChecks(
          id,
          healthcheck_interval === undefined ? { checks: list } : { checks: list, healthcheck_interval },
        );
        if (json) printJson(vip);
        else {
          io.stdout(`set ${list.length} check${list.length === 1 ? '' : 's'} on ${vip.id} ${vip.ip}\n`);
          io.stdout(formatVip(vip));
        }
      }),
    );

  program
    .command('version')
    .description("linkctl's version and the agent's")
    .exitOverride(exitOverride)
    .action(
      run(async (command) => {
        const { client, json } = connect(command);
        let agentVersion: string | undefined;
        let failure: ApiClientError | undefined;
        try {
          agentVersion = await client.version();
        } catch (err: unknown) {
          if (!(err instanceof ApiClientError)) throw err;
          failure = err;
        }
        if (json) printJson({ linkctl: options.version, agent: agentVersion ?? null });
        else io.stdout(`linkctl ${options.version}\nagent   ${agentVersion ?? 'unknown'}\n`);
        if (failure) throw failure;
      }),
    );
}
