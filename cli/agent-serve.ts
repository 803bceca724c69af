import { join } from 'node:path';
import { createAgent, type StateChangeNotifier } from '../actors/agent.ts';
import { Journal } from '../actors/journal.ts';
import type { Logger } from '../actors/logger.ts';
import { levelOf } from '../actors/notes.ts';
import { createFileVipCache } from '../adapters/cache/vip-cache.ts';
import type { EtcdSessionImpl } from '../adapters/etcd/index.ts';
import type { DrainStore } from '../adapters/etcd/drain-store.ts';
import { createFileJournalStore } from '../adapters/journal/file-store.ts';
import { createExecChecksPolicy, createHealthMonitor, createProbe } from '../adapters/health/index.ts';
import { createHookRunner, DEFAULT_WEBHOOK_RETRY, type HookRunner } from '../adapters/hooks/index.ts';
import type { NetAdapter } from '../adapters/net/index.ts';
import { createChildSandbox, type ChildSandbox } from '../adapters/process/index.ts';
import type { SystemdNotifier } from '../adapters/systemd/index.ts';
import type { AgentConfig } from '../config/parse.ts';
import type { ApiServer } from '../http/index.ts';
import { currentStatus, reportStatus } from './systemd.ts';
import { packageVersion } from './version.ts';

/**
 * The agent once etcd is reached (cli/agent.ts opens the session first, see why there): the
 * journal, health checks, hooks and the agent actor, then the API, until a signal stops it.
 */

const STOP_BOUND_MS = 10_000;

export interface ServeInput {
  config: AgentConfig;
  logger: Logger;
  systemd: SystemdNotifier;
  net: NetAdapter;
  session: EtcdSessionImpl;
  drainStore?: DrainStore;
}

/** Serves until SIGTERM, SIGINT or SIGUSR2; resolves with the exit code. */
export async function serve({
  config,
  logger,
  systemd,
  net,
  session,
  drainStore,
}: ServeInput): Promise<number> {
  // Every child runs confined (adapters/process/sandbox.ts). Calibrated beside the start, not
  // before it (a restart must beat the lease TTL); says at once when no child can run.
  const sandbox = createChildSandbox();
  void sandbox.check().then((unavailable) => {
    if (unavailable) logger.error('no EXEC check or notify command will run', { err: unavailable.message });
  });
  const execPolicy = createExecChecksPolicy(config.execChecksDir);

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
    trackInterface: config.trackInterface,
    ...(config.balance.enabled ? { balanceIntervalMs: config.balance.intervalMs } : {}),
    journal,
    logger,
    leaseTtlMs: config.leaseTtlMs,
    addressLifetimeSec: config.addressLifetimeSec,
    announce: config.announce,
    handoverTimeoutMs: config.handoverTimeoutMs,
    restartGraceSec: config.restartGraceSec,
    cache: createFileVipCache(join(config.stateDir, 'vips.json'), logger),
    ...(drainStore ? { drainStore } : {}),
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
