import type { Command } from 'commander';
import { renewHeldAddresses, type HeldAddressesOutcome } from '../actors/held-addresses.ts';
import type { LifetimePolicy } from '../actors/lifetime.ts';
import type { Logger } from '../actors/logger.ts';
import type { EtcdDrainStore } from '../adapters/etcd/drain-store.ts';
import { firstContact, type FirstContact } from '../adapters/etcd/first-contact.ts';
import type { EtcdSessionImpl, EtcdSessionOptions, HostClaim } from '../adapters/etcd/index.ts';
import { assertNetCapabilities, createNetAdapter, type NetAdapter } from '../adapters/net/index.ts';
import { currentInstance, makeNonDumpable, processRunning } from '../adapters/process/index.ts';
import { createSystemdNotifier, SystemdEnvError, type SystemdNotifier } from '../adapters/systemd/index.ts';
import { ConfigError, parseConfig, type AgentConfig } from '../config/parse.ts';

/**
 * `linkctl agent`: the daemon. Signals:
 * - SIGTERM / SIGINT: graceful handover — unbind, release the locks, revoke the lease, exit 0.
 * - SIGUSR2: stop for a restart — keep every VIP bound and the lease alive, so the next agent
 *   (started within RESTART_GRACE) takes over in BOOTING without a client-visible gap.
 * Under systemd (NOTIFY_SOCKET): READY=1 once it serves, STATUS= lines, STOPPING=1 at a signal,
 * WATCHDOG=1 every WATCHDOG_USEC/2 (adapters/systemd).
 *
 * etcd first: a crashed agent restarted at once (systemd's Restart=on-failure) keeps its lease,
 * and with it its locks and VIPs, only if it renews the lease before the lease runs out, a
 * TTL after its last keep-alive, and keeps its clients only if it renews its addresses before
 * their kernel lifetime runs out, sooner (docs/install.md, "Restarts"). So this file loads only
 * the configuration, sd_notify and the interface check; the first contact with etcd
 * (adapters/etcd/first-contact.ts: the lease's keep-alive and the locks still held, over plain
 * HTTP/2) renews the addresses still held (actors/held-addresses.ts); then the logger and the
 * etcd client load and the session opens; the rest of the agent (actors, health checks, hooks,
 * the journal: cli/agent-serve.ts) and then the API (http/) once the lease is kept alive.
 */

export function registerAgentCommand(program: Command): void {
  program
    .command('agent')
    .description('run the LinK agent (configured by environment variables, see docs/configuration.md)')
    .option('--check', 'validate the configuration and the environment, change nothing, exit 0 or 1')
    .action(async (options: { check?: boolean }) => {
      if (options.check) process.exit(await (await import('./check.ts')).runCheck(process.env));
      // Exit at once: the etcd client's channels would otherwise hold the process for seconds,
      // and a restart must be back within one lease TTL.
      process.exit(await runAgent(process.env));
    });
}

/** Runs the agent until a signal stops it; resolves with the exit code. */
export async function runAgent(env: NodeJS.ProcessEnv): Promise<number> {
  let config: AgentConfig;
  try {
    config = parseConfig(env);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`linkctl agent: ${err.message}\n`);
      return 2;
    }
    throw err;
  }
  // The logger loads after the first contact with etcd (see above); a notification failing
  // before that is said on stderr.
  let logger: Logger | undefined;
  let systemd: SystemdNotifier;
  try {
    systemd = createSystemdNotifier({
      env,
      pid: process.pid,
      onError: (err) => {
        if (logger) logger.warn('systemd notification failed', { code: err.code, err: err.message });
        else
          process.stderr.write(`linkctl agent: systemd notification failed: ${err.code}: ${err.message}\n`);
      },
    });
  } catch (err) {
    if (err instanceof SystemdEnvError) {
      process.stderr.write(`linkctl agent: ${err.message}\n`);
      return 2;
    }
    throw err;
  }
  try {
    const reached = await reachEtcd(config, systemd);
    logger = reached.logger;
    const { serve } = await import('./agent-serve.ts');
    return await serve({ config, systemd, ...reached });
  } catch (err) {
    const { EtcdHostnameTakenError } = await import('../adapters/etcd/errors.ts');
    if (err instanceof EtcdHostnameTakenError) {
      // A startup error like a bad variable: one line, exit 2; nothing of the other agent's touched.
      systemd.status(`failed: ${err.code}`);
      process.stderr.write(`linkctl agent: ${err.code}: ${err.message}\n`);
      return 2;
    }
    const code = typeof err === 'object' && err !== null && 'code' in err ? `${String(err.code)}: ` : '';
    const message = err instanceof Error ? err.message : String(err);
    systemd.status(`failed: ${code}${message}`);
    process.stderr.write(`linkctl agent: ${code}${message}\n`);
    return 1;
  } finally {
    systemd.close();
  }
}

/**
 * Everything before the session: non-dumpable, the interface and capability check (an agent
 * that cannot bind must not renew its lease and keep its locks), the first contact and the
 * renewal of the addresses still held, then the logger and the session itself, which reuses the
 * lease a crashed predecessor left when etcd still knows it.
 */
async function reachEtcd(
  config: AgentConfig,
  systemd: SystemdNotifier,
): Promise<{ logger: Logger; net: NetAdapter; session: EtcdSessionImpl; drainStore: EtcdDrainStore }> {
  // First: the agent's environment and memory hold its secrets; non-dumpable, its children
  // (checks, hooks), even as the same user, cannot read /proc/<agent>/environ or /mem.
  makeNonDumpable();
  const net = createNetAdapter({ interfaceName: config.interfaceName });
  // Fails now, naming the interface or the missing capability, rather than at the first election.
  await net.isBound('198.18.0.0/32');
  await assertNetCapabilities(config.interfaceName);

  systemd.status('starting: connecting to etcd');
  const auth = config.etcd.auth
    ? { auth: { username: config.etcd.auth.user, password: config.etcd.auth.password } }
    : {};
  // One host name, one agent: checked against the host record before the lease is touched.
  const hostClaim: HostClaim = { instance: currentInstance(), running: processRunning };
  const contact = await firstContact({
    hosts: config.etcd.hosts,
    prefix: config.etcd.prefix,
    hostname: config.hostname,
    leaseTtlSeconds: config.leaseTtlMs / 1000,
    ...(config.etcd.tls ? { tls: config.etcd.tls } : {}),
    ...auth,
    hostClaim,
  });
  const policy: LifetimePolicy = {
    faultPolicy: config.faultPolicy,
    addressLifetimeSec: config.addressLifetimeSec,
    leaseTtlMs: config.leaseTtlMs,
  };
  const early = contact.kind === 'kept' ? await renewHeldAddresses({ held: contact, net, policy }) : null;
  const earlyAtMs = performance.now();
  const bridging =
    contact.kind === 'kept' ? bridgeLease(contact, net, policy, config.keepaliveIntervalMs) : null;

  const { createLogger } = await import('./logger.ts');
  const logger = createLogger(config.log);
  if (contact.kind === 'none') logger.debug(`restart: nothing renewed early: ${contact.reason}`);
  if (early !== null)
    logRenewal(logger, early, `${Math.round(earlyAtMs)} ms after the start, on etcd's first answer`);
  const { buildClientOptions, createEtcdSession, makeKeys, resolveSessionOptions } =
    await import('../adapters/etcd/index.ts');
  const { EtcdDrainStore } = await import('../adapters/etcd/drain-store.ts');
  const { createRpc } = await import('../adapters/etcd/rpc.ts');
  const etcdOptions: EtcdSessionOptions = {
    hosts: config.etcd.hosts,
    hostname: config.hostname,
    prefix: config.etcd.prefix,
    leaseTtlSeconds: config.leaseTtlMs / 1000,
    keepAliveIntervalMs: config.keepaliveIntervalMs,
    retry: { maxAttempts: config.keepaliveRetry },
    ...(config.etcd.tls ? { tls: config.etcd.tls } : {}),
    ...auth,
    logger,
  };
  // One transport for the session and the drain flag's store (the session does not expose its own).
  const rpc = createRpc(
    buildClientOptions({
      ...etcdOptions,
      defaultTimeoutMs: resolveSessionOptions(etcdOptions).callTimeoutMs,
    }),
  );
  const session = await createEtcdSession(etcdOptions, { rpc, hostClaim }).finally(() => bridging?.stop());
  // Again once the session has the lease, which it reused (the locks under it are still the
  // ones the first contact read: this host wrote nothing since): the actors refresh after this.
  const status = session.status();
  if (contact.kind === 'kept' && status.state === 'alive' && status.leaseId === contact.leaseId) {
    const leaseDeadline = performance.now() + status.leaseRemainingMs;
    const again = await renewHeldAddresses({
      held: { locksHeld: contact.locksHeld, leaseDeadline },
      net,
      policy,
    });
    logRenewal(logger, again, `${Math.round(performance.now())} ms after the start, with the session`);
  }
  return {
    logger,
    net,
    session,
    drainStore: new EtcdDrainStore(rpc, makeKeys(config.etcd.prefix), config.hostname, logger),
  };
}

/**
 * Until the session runs: a keep-alive through the first contact's connection and a renewal of
 * the held addresses every half keep-alive interval, so a start slower than the addresses'
 * lifetime (loading the etcd client takes seconds on a loaded machine; its synchronous parts
 * only delay a tick) still finds them bound.
 */
function bridgeLease(
  contact: Extract<FirstContact, { kind: 'kept' }>,
  net: NetAdapter,
  policy: LifetimePolicy,
  keepAliveIntervalMs: number,
): { stop(): void } {
  let busy = false;
  const timer = setInterval(() => {
    if (busy) return;
    busy = true;
    void contact.bridge
      .renew()
      .then((leaseDeadline) =>
        leaseDeadline === null
          ? null
          : renewHeldAddresses({ held: { locksHeld: contact.locksHeld, leaseDeadline }, net, policy }),
      )
      .finally(() => (busy = false));
  }, keepAliveIntervalMs / 2);
  return {
    stop: () => {
      clearInterval(timer);
      contact.bridge.close();
    },
  };
}

function logRenewal(logger: Logger, outcome: HeldAddressesOutcome, when: string): void {
  if (outcome.error !== undefined) {
    logger.warn('restart: the held addresses were not renewed early', { err: outcome.error });
  } else if (outcome.renewed.length > 0 || outcome.failed.length > 0) {
    logger.info(
      `restart: renewed ${outcome.renewed.length} held address(es) for ${outcome.lifetimeSec} s, ${when}`,
      {
        vips: outcome.renewed,
        ...(outcome.failed.length > 0 ? { failed: outcome.failed } : {}),
      },
    );
  }
}
