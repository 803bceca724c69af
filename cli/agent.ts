import type { Command } from 'commander';
import type { Logger } from '../actors/logger.ts';
import {
  buildClientOptions,
  createEtcdSession,
  EtcdHostnameTakenError,
  makeKeys,
  resolveSessionOptions,
  type EtcdSessionImpl,
  type EtcdSessionOptions,
} from '../adapters/etcd/index.ts';
import { EtcdDrainStore } from '../adapters/etcd/drain-store.ts';
import { createRpc } from '../adapters/etcd/rpc.ts';
import { assertNetCapabilities, createNetAdapter, type NetAdapter } from '../adapters/net/index.ts';
import { currentInstance, makeNonDumpable, processRunning } from '../adapters/process/index.ts';
import { createSystemdNotifier, SystemdEnvError, type SystemdNotifier } from '../adapters/systemd/index.ts';
import { ConfigError, parseConfig, type AgentConfig } from '../config/parse.ts';
import { createLogger } from './logger.ts';

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
 * TTL after its last keep-alive (docs/install.md, "Restarts"). So this file loads only what
 * reaching etcd needs (the configuration, the logger, sd_notify, the interface check, the etcd
 * adapter) and opens the session; the rest of the agent (actors, health checks, hooks, the
 * journal: cli/agent-serve.ts) and then the API (http/) load once the lease is kept alive.
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
  const logger = createLogger(config.log);
  let systemd: SystemdNotifier;
  try {
    systemd = createSystemdNotifier({
      env,
      pid: process.pid,
      onError: (err) => logger.warn('systemd notification failed', { code: err.code, err: err.message }),
    });
  } catch (err) {
    if (err instanceof SystemdEnvError) {
      process.stderr.write(`linkctl agent: ${err.message}\n`);
      return 2;
    }
    throw err;
  }
  try {
    const { net, session, drainStore } = await reachEtcd(config, logger, systemd);
    const { serve } = await import('./agent-serve.ts');
    return await serve({ config, logger, systemd, net, session, drainStore });
  } catch (err) {
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
 * that cannot bind must not renew its lease and keep its locks), then the session itself, which
 * reuses the lease a crashed predecessor left when etcd still knows it.
 */
async function reachEtcd(
  config: AgentConfig,
  logger: Logger,
  systemd: SystemdNotifier,
): Promise<{ net: NetAdapter; session: EtcdSessionImpl; drainStore: EtcdDrainStore }> {
  // First: the agent's environment and memory hold its secrets; non-dumpable, its children
  // (checks, hooks), even as the same user, cannot read /proc/<agent>/environ or /mem.
  makeNonDumpable();
  const net = createNetAdapter({ interfaceName: config.interfaceName });
  // Fails now, naming the interface or the missing capability, rather than at the first election.
  await net.isBound('198.18.0.0/32');
  await assertNetCapabilities(config.interfaceName);

  systemd.status('starting: connecting to etcd');
  const etcdOptions: EtcdSessionOptions = {
    hosts: config.etcd.hosts,
    hostname: config.hostname,
    prefix: config.etcd.prefix,
    leaseTtlSeconds: config.leaseTtlMs / 1000,
    keepAliveIntervalMs: config.keepaliveIntervalMs,
    retry: { maxAttempts: config.keepaliveRetry },
    ...(config.etcd.tls ? { tls: config.etcd.tls } : {}),
    ...(config.etcd.auth
      ? { auth: { username: config.etcd.auth.user, password: config.etcd.auth.password } }
      : {}),
    logger,
  };
  // One transport for the session and the drain flag's store (the session does not expose its own).
  const rpc = createRpc(
    buildClientOptions({
      ...etcdOptions,
      defaultTimeoutMs: resolveSessionOptions(etcdOptions).callTimeoutMs,
    }),
  );
  const session = await createEtcdSession(etcdOptions, {
    rpc,
    // One host name, one agent: checked against the host record before the lease is touched.
    hostClaim: { instance: currentInstance(), running: processRunning },
  });
  return {
    net,
    session,
    drainStore: new EtcdDrainStore(rpc, makeKeys(config.etcd.prefix), config.hostname, logger),
  };
}
