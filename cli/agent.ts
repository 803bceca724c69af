import { join } from 'node:path';
import type { Command } from 'commander';
import { createAgent, type StateChangeNotifier } from '../actors/agent.ts';
import { Journal } from '../actors/journal.ts';
import type { Logger } from '../actors/logger.ts';
import { levelOf } from '../actors/notes.ts';
import { createFileVipCache } from '../adapters/cache/vip-cache.ts';
import { createEtcdSession } from '../adapters/etcd/index.ts';
import { createFileJournalStore } from '../adapters/journal/file-store.ts';
import { createExecChecksPolicy, createHealthMonitor, createProbe } from '../adapters/health/index.ts';
import { createHookRunner, DEFAULT_WEBHOOK_RETRY, type HookRunner } from '../adapters/hooks/index.ts';
import { assertNetCapabilities, createNetAdapter } from '../adapters/net/index.ts';
import { createChildSandbox, makeNonDumpable, type ChildSandbox } from '../adapters/process/index.ts';
import { createSystemdNotifier, SystemdEnvError, type SystemdNotifier } from '../adapters/systemd/index.ts';
import { ConfigError, parseConfig, type AgentConfig } from '../config/parse.ts';
import type { ApiServer } from '../http/index.ts';
import { runCheck } from './check.ts';
import { createLogger } from './logger.ts';
import { currentStatus, reportStatus } from './systemd.ts';
import { packageVersion } from './version.ts';

/**
 * `linkctl agent`: the daemon. Signals:
 * - SIGTERM / SIGINT: graceful handover — unbind, release the locks, revoke the lease, exit 0.
 * - SIGUSR2: stop for a restart — keep every VIP bound and the lease alive, so the next agent
 *   (started within RESTART_GRACE) takes over in BOOTING without a client-visible gap.
 * Under systemd (NOTIFY_SOCKET): READY=1 once it serves, STATUS= lines, STOPPING=1 at a signal,
 * WATCHDOG=1 every WATCHDOG_USEC/2 (adapters/systemd).
 */

const STOP_BOUND_MS = 10_000;

export function registerAgentCommand(program: Command): void {
  program
    .command('agent')
    .description('run the LinK agent (configured by environment variables, see docs/configuration.md)')
    .option('--check', 'validate the configuration and the environment, change nothing, exit 0 or 1')
    .action(async (options: { check?: boolean }) => {
      if (options.check) process.exit(await runCheck(process.env));
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
    return await serve(config, logger, systemd);
  } catch (err) {
    const code = typeof err === 'object' && err !== null && 'code' in err ? `${String(err.code)}: ` : '';
    const message = err instanceof Error ? err.message : String(err);
    systemd.status(`failed: ${code}${message}`);
    process.stderr.write(`linkctl agent: ${code}${message}\n`);
    return 1;
  } finally {
    systemd.close();
  }
}

async function serve(config: AgentConfig, logger: Logger, systemd: SystemdNotifier): Promise<number> {
  // First: the agent's environment and memory hold its secrets; non-dumpable, its children
  // (checks, hooks), even as the same user, cannot read /proc/<agent>/environ or /mem.
  makeNonDumpable();
  // Every child runs confined (adapters/process/sandbox.ts). Calibrated beside the start, not
  // before it (a restart must beat the lease TTL); says at once when no child can run.
  const sandbox = createChildSandbox();
  void sandbox.check().then((unavailable) => {
    if (unavailable) logger.error('no EXEC check or notify command will run', { err: unavailable.message });
  });
  const execPolicy = createExecChecksPolicy(config.execChecksDir);
  const net = createNetAdapter({ interfaceName: config.interfaceName });
  // Fails now, naming the interface or the missing capability, rather than at the first election.
  await net.isBound('198.18.0.0/32');
  await assertNetCapabilities(config.interfaceName);

  systemd.status('starting: connecting to etcd');
  const session = await createEtcdSession({
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
  });

  const journal = new Journal({
    store: createFileJournalStore(join(config.stateDir, 'journal')),
    logger,
  });
  journal.load();
  const hooks = createHooks(config, logger, sandbox);
  const agent = createAgent({
    hostname: config.hostname,
    faultPolicy: config.faultPolicy,
    session,
    net,
    monitorHealth: createHealthMonitor({ probe: createProbe({ execPolicy, sandbox }) }),
    execPolicy,
    health: config.health,
    journal,
    logger,
    leaseTtlMs: config.leaseTtlMs,
    addressLifetimeSec: config.addressLifetimeSec,
    announce: config.announce,
    handoverTimeoutMs: config.handoverTimeoutMs,
    restartGraceSec: config.restartGraceSec,
    cache: createFileVipCache(join(config.stateDir, 'vips.json'), logger),
    ...(hooks ? { notifier: hooks.notifier } : {}),
  });
  hooks?.runner.failures$.subscribe((failure) =>
    journal.append({
      kind: 'note',
      vipId: failure.change.vipId,
      level: levelOf('HOOK_FAILED'),
      code: 'HOOK_FAILED',
      message: `${failure.hook} hook: ${failure.error.code}: ${failure.error.message}`,
    }),
  );
  systemd.status('starting: restoring the VIPs');
  await agent.start();

  // Loaded after the VIPs are back in etcd: a restart must beat the lease TTL.
  const { createApp, startApiServer } = await import('../http/index.ts');
  const { Registry } = await import('prom-client');
  const app = createApp({
    agent,
    ...(config.auth ? { auth: config.auth } : {}),
    metricsPublic: config.metricsPublic,
    version: packageVersion(),
    registry: new Registry(),
    logger,
  });
  const servers: ApiServer[] = [
    await startApiServer({
      app,
      port: config.port,
      host: config.listenAddress,
      ...(config.tls ? { tls: config.tls } : {}),
    }),
  ];
  if (config.apiSocket) servers.push(await startApiServer({ app, socketPath: config.apiSocket }));
  // Listening before anyone learns the agent is up ("agent started", READY=1): a SIGTERM sent
  // on either would otherwise meet the default action and kill the agent without a handover.
  const stopSignal = new Promise<NodeJS.Signals>((resolve) => {
    for (const name of ['SIGTERM', 'SIGINT', 'SIGUSR2'] as const) process.once(name, () => resolve(name));
  });
  logger.info('agent started', {
    hostname: config.hostname,
    interface: config.interfaceName,
    api: servers.map((s) => s.url),
    vips: agent.list().length,
    faultPolicy: config.faultPolicy,
  });
  // With etcd down the agent is ready all the same: it serves its cached VIPs (at-least-one),
  // and a start timeout would stop it and unbind them. STATUS= says what it waits for.
  systemd.ready(currentStatus(agent, session));
  const statusReports = reportStatus(systemd, agent, session);

  const signal = await stopSignal;
  const handover = signal !== 'SIGUSR2';
  const stopping = handover ? 'stopping: handing the VIPs over' : 'stopping for a restart: VIPs stay bound';
  statusReports.unsubscribe();
  systemd.stopping(stopping);
  logger.info(stopping, { signal });
  const bound = setTimeout(() => {
    logger.error('stop took too long, exiting', { boundMs: STOP_BOUND_MS });
    process.exit(1);
  }, STOP_BOUND_MS);
  bound.unref();
  await agent.stop({ handover });
  await Promise.allSettled(servers.map((s) => s.close()));
  await net.close();
  journal.close();
  clearTimeout(bound);
  logger.info('stopped');
  return 0;
}

function createHooks(
  config: AgentConfig,
  logger: Logger,
  sandbox: ChildSandbox,
): { runner: HookRunner; notifier: StateChangeNotifier } | null {
  const { exec, webhookUrl, webhookSecret, timeoutMs } = config.hooks;
  if (!exec && !webhookUrl) return null;
  const runner = createHookRunner({
    ...(exec ? { exec: { command: exec, timeoutMs, sandbox } } : {}),
    ...(webhookUrl
      ? {
          webhook: {
            url: webhookUrl,
            ...(webhookSecret ? { secret: webhookSecret } : {}),
            timeoutMs,
            retry: DEFAULT_WEBHOOK_RETRY,
          },
        }
      : {}),
    onFailure: (failure) => logger.warn('hook failed', { hook: failure.hook, code: failure.error.code }),
  });
  return { runner, notifier: { notify: (change) => runner.notify(change), close: () => runner.close() } };
}
