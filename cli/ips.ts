import { InvalidArgumentError } from 'commander';
import type { Command, CommanderError } from 'commander';
import type { HealthCheckSpec } from '../adapters/health/types.ts';
import type { VipView } from '../actors/types.ts';
import { parseCidr } from '../http/cidr.ts';
import {
  MAX_HEALTHCHECK_INTERVAL,
  createVipBody,
  describeZodError,
  normaliseVipId,
} from '../http/schemas.ts';
import { ApiClientError, DEFAULT_HOST, HostSyntaxError, LinkClient } from './client.ts';
import { formatHosts, formatJournal, formatJournalEntry, formatVip, formatVipList } from './format.ts';

/**
 * `linkctl ips …` and `linkctl version`. Exit codes: 0 done, 1 the request failed (HTTP error,
 * agent unreachable), 2 usage (bad arguments). Errors are one line on stderr, `linkctl: …`.
 * Connection: `--host` (or LINK_HOST; `http://127.0.0.1:1313` by default, `unix:/path.sock`
 * works), `--user/-u` and `--password/-p` (or LINK_USER, LINK_PASSWORD). `--json` prints the
 * API's JSON for scripts.
 */

export interface CliIo {
  stdout(text: string): void;
  stderr(text: string): void;
  env: Readonly<Record<string, string | undefined>>;
  /** Ends the process (usage errors found by commander, help). */
  exit(code: number): never;
  /** Sets the exit code without ending (so output is flushed). */
  setExitCode(code: number): void;
  /** Ctrl-C / SIGTERM while following events. */
  onInterrupt(handler: () => void): () => void;
}

export const processIo: CliIo = {
  stdout: (text) => void process.stdout.write(text),
  stderr: (text) => void process.stderr.write(text),
  env: process.env,
  exit: (code) => process.exit(code),
  setExitCode: (code) => {
    process.exitCode = code;
  },
  onInterrupt: (handler) => {
    process.once('SIGINT', handler);
    process.once('SIGTERM', handler);
    return () => {
      process.off('SIGINT', handler);
      process.off('SIGTERM', handler);
    };
  },
};

export interface RegisterIpsOptions {
  /** linkctl's own version (printed by `linkctl version`). */
  version: string;
  io?: CliIo;
}

/** A usage problem found by our own checks (exit 2). */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

interface ConnectionOptions {
  host?: string;
  user?: string;
  password?: string;
  json?: boolean;
}

function addConnectionOptions(command: Command): Command {
  return command
    .option('--host <url>', 'agent API: http://HOST:PORT, https://…, unix:/path.sock (env LINK_HOST)')
    .option('-u, --user <user>', 'basic auth user (env LINK_USER)')
    .option('-p, --password <password>', 'basic auth password (env LINK_PASSWORD)')
    .option('--json', 'print JSON for scripts');
}

function parseInterval(value: string): number {
  if (!/^\d+$/.test(value) || Number(value) > MAX_HEALTHCHECK_INTERVAL) {
    throw new InvalidArgumentError(`a whole number of seconds, 0-${MAX_HEALTHCHECK_INTERVAL}`);
  }
  return Number(value);
}

/** `host:port` or `[v6]:port`. */
function splitHostPort(text: string): { host: string; port: number } {
  const match = /^(?:\[([^\]]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(text);
  if (!match) throw new UsageError(`TCP check ${text}: expected HOST:PORT or [IPv6]:PORT`);
  return { host: match[1] ?? match[2] ?? '', port: Number(match[3]) };
}

/**
 * LinK v2's check arguments: pairs `TYPE SPEC`: `TCP HOST:PORT`, `HTTP URL`, `EXEC "CMD ARGS…"`
 * (split on spaces). The result is validated later, with the API's own schema.
 */
export function parseCheckArgs(args: readonly string[]): unknown[] {
  if (args.length % 2 !== 0) {
    throw new UsageError(`checks come in pairs TYPE SPEC (e.g. TCP 198.18.0.2:80); got ${args.join(' ')}`);
  }
  const checks: unknown[] = [];
  for (let i = 0; i < args.length; i += 2) {
    const type = (args[i] ?? '').toUpperCase();
    const spec = args[i + 1] ?? '';
    switch (type) {
      case 'TCP':
        checks.push({ type, ...splitHostPort(spec) });
        break;
      case 'HTTP':
        checks.push({ type, url: spec });
        break;
      case 'EXEC': {
        const [command = '', ...rest] = spec.trim().split(/\s+/);
        checks.push(rest.length > 0 ? { type, command, args: rest } : { type, command });
        break;
      }
      default:
        throw new UsageError(`unknown check type ${args[i] ?? ''}: use TCP, HTTP or EXEC`);
    }
  }
  return checks;
}

function checksFromJson(text: string): unknown[] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text) as unknown;
  } catch {
    throw new UsageError('--checks-json is not valid JSON');
  }
  if (!Array.isArray(parsed)) throw new UsageError('--checks-json must be a JSON array of checks');
  return parsed;
}

/** Validates a VIP body locally with the API's schema, so a typo is a usage error (exit 2). */
export function buildAddBody(
  ip: string,
  checks: unknown[],
  interval: number | undefined,
): { ip: string; checks: HealthCheckSpec[]; healthcheck_interval?: number } {
  const raw: Record<string, unknown> = { ip, checks };
  if (interval !== undefined) raw['healthcheck_interval'] = interval;
  const result = createVipBody.safeParse(raw);
  if (!result.success) throw new UsageError(describeZodError(result.error).error);
  const body: { ip: string; checks: HealthCheckSpec[]; healthcheck_interval?: number } = {
    ip: result.data.ip,
    checks: result.data.checks ?? [],
  };
  if (result.data.healthcheck_interval !== undefined)
    body.healthcheck_interval = result.data.healthcheck_interval;
  return body;
}

/** `vip-<uuid>` as is; an IP (with or without prefix) is looked up in the agent's list. */
async function resolveId(client: LinkClient, ref: string): Promise<string> {
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

  const connect = (command: Command): { client: LinkClient; json: boolean } => {
    const opts = command.optsWithGlobals<ConnectionOptions>();
    const env = io.env;
    const clientOptions: { host: string; user?: string; password?: string } = {
      host: opts.host ?? env['LINK_HOST'] ?? DEFAULT_HOST,
    };
    const user = opts.user ?? env['LINK_USER'];
    const password = opts.password ?? env['LINK_PASSWORD'];
    if (user !== undefined && user !== '') clientOptions.user = user;
    if (password !== undefined && password !== '') clientOptions.password = password;
    return { client: new LinkClient(clientOptions), json: opts.json === true };
  };

  const printJson = (value: unknown) => io.stdout(JSON.stringify(value, null, 2) + '\n');

  /** Runs an action: maps every failure to one line and an exit code. */
  const run =
    <A extends unknown[]>(body: (command: Command, ...args: A) => Promise<void>) =>
    async (...all: unknown[]): Promise<void> => {
      const command = all[all.length - 1] as Command;
      const args = all.slice(0, -2) as A;
      try {
        await body(command, ...args);
      } catch (err: unknown) {
        if (err instanceof UsageError || err instanceof HostSyntaxError) {
          io.stderr(`linkctl: ${err.message}\n`);
          io.setExitCode(2);
        } else if (err instanceof ApiClientError) {
          io.stderr(`linkctl: ${err.message}\n`);
          io.setExitCode(1);
        } else {
          io.stderr(`linkctl: ${err instanceof Error ? err.message : String(err)}\n`);
          io.setExitCode(1);
        }
      }
    };

  const ips = program
    .command('ips')
    .description('manage the virtual IPs of an agent')
    .exitOverride(exitOverride);
  const leaf = (name: string, description: string): Command =>
    addConnectionOptions(ips.command(name).description(description).exitOverride(exitOverride));

  leaf('list', 'list the VIPs of the agent')
    .alias('ls')
    .action(
      run(async (command) => {
        const { client, json } = connect(command);
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
    .option('--interval <seconds>', 'health check interval in seconds (0 = agent default)', parseInterval)
    .option('--checks-json <json>', 'checks as a JSON array (all fields)')
    .action(
      run(async (command, ip: string, checkArgs: string[]) => {
        const opts = command.opts<{ interval?: number; checksJson?: string }>();
        const checks = [
          ...parseCheckArgs(checkArgs),
          ...(opts.checksJson ? checksFromJson(opts.checksJson) : []),
        ];
        const body = buildAddBody(ip, checks, opts.interval);
        const { client, json } = connect(command);
        const vip = await client.addIp(body);
        if (json) printJson(vip);
        else io.stdout(`added ${vip.id} ${vip.ip} (${vip.status})\n`);
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
        else io.stdout(`removed ${id}\n`);
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
        await client.failover(id);
        if (json) printJson({ id, failover: true });
        else io.stdout(`${id} handed over\n`);
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
  addConnectionOptions(
    checks
      .command('set')
      .description('replace the checks of a VIP (no pairs: remove them all)')
      .exitOverride(exitOverride),
  )
    .argument('<vip>', 'VIP id or IP')
    .argument('[checks...]', 'TYPE SPEC pairs: TCP HOST:PORT, HTTP URL, EXEC "CMD ARGS"')
    .option('--interval <seconds>', 'health check interval in seconds (0 = agent default)', parseInterval)
    .option('--checks-json <json>', 'checks as a JSON array (all fields)')
    .action(
      run(async (command, ref: string, checkArgs: string[]) => {
        const opts = command.opts<{ interval?: number; checksJson?: string }>();
        const list = [
          ...parseCheckArgs(checkArgs),
          ...(opts.checksJson ? checksFromJson(opts.checksJson) : []),
        ];
        // Same validation as the API; the address is a placeholder, only checks are looked at.
        const body = buildAddBody('198.18.0.1/32', list, opts.interval);
        const { client, json } = connect(command);
        const id = await resolveId(client, ref);
        const params: { checks: HealthCheckSpec[]; healthcheck_interval?: number } = { checks: body.checks };
        if (body.healthcheck_interval !== undefined) params.healthcheck_interval = body.healthcheck_interval;
        const vip = await client.setChecks(id, params);
        if (json) printJson(vip);
        else io.stdout(formatVip(vip));
      }),
    );

  addConnectionOptions(
    program.command('version').description("linkctl's version and the agent's").exitOverride(exitOverride),
  ).action(
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
