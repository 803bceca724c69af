import Koa from 'koa';
import type { Context, Next } from 'koa';
import { Router } from '@koa/router';
import type { Registry } from 'prom-client';
import type { AgentService, NewVip, VipChange } from '../actors/types.ts';
import {
  IP_ACTIONS,
  IP_EVENT_TYPES,
  IP_STATES,
  atMostOneFaultTargets,
  ipEntryActions,
  ipExitActions,
  ipMachine,
  ipTransitionTable,
} from '../machines/ip.ts';
import { AuthGuard, basicAuth, isAuthenticated, noAuth } from './auth.ts';
import { DEFAULT_BODY_LIMIT, readJsonBody, type JsonBody } from './body.ts';
import { HttpError, badRequest, errorMiddleware, vipNotFound } from './errors.ts';
import { healthAnswer } from './health.ts';
import { createMetrics } from './metrics.ts';
import type { ApiMetrics } from './metrics.ts';
import {
  createVipBody,
  normaliseVipId,
  parseRequestBody,
  placementFields,
  updateVipBody,
} from './schemas.ts';
import type { CreateVipBody, UpdateVipBody } from './schemas.ts';
import { busy, createLoadShedder, type LoadLimits } from './load.ts';
import { streamJournal, wantsEventStream } from './sse.ts';
import { uiRoutes } from './ui-routes.ts';
import { addClusterRoutes } from './cluster-routes.ts';
import { addDrainRoutes } from './drain-routes.ts';
import { VIP_OWNER_HEADER, type ApiLogger, type BasicAuthCredentials } from './types.ts';
import type { z } from 'zod';

export interface CreateAppOptions {
  agent: AgentService;
  /** Basic auth on every route except /healthz (and /metrics when metricsPublic). */
  auth?: BasicAuthCredentials;
  /** METRICS_PUBLIC=true: /metrics without auth. */
  metricsPublic?: boolean;
  version: string;
  /** Where the metrics are registered and read from (one registry per app). */
  registry: Registry;
  logger?: ApiLogger;
  /** Largest accepted request body in bytes (413 above); 64 KiB by default. */
  bodyLimit?: number;
  /** Interval of SSE heartbeat comments; 15 s by default. */
  sseHeartbeatMs?: number;
  /** Defaults: DEFAULT_LOAD_LIMITS (http/load.ts). */
  load?: Partial<LoadLimits>;
}

interface AppState {
  metrics: ApiMetrics;
  streams: Set<() => void>;
}

const appStates = new WeakMap<Koa, AppState>();

/**
 * Releases what the app holds: ends its SSE streams and stops feeding its metrics from the
 * journal. startApiServer's close() calls it; call it yourself when serving app.callback().
 */
export function closeApp(app: Koa): void {
  const state = appStates.get(app);
  if (!state) return;
  for (const end of [...state.streams]) end();
  state.metrics.stop();
}

/** Names the top-level fields a v2-style body carried that the route does not know (dropped). */
export const IGNORED_FIELDS_HEADER = 'Ignored-Fields';

function parseBody<S extends z.ZodType>(
  ctx: Context,
  schema: S,
  body: JsonBody,
  logger: ApiLogger | undefined,
): z.output<S> {
  const { parsed, ignored } = parseRequestBody(schema, body.value, body.style);
  if (!parsed.ok) throw badRequest(parsed.error.error, parsed.error.field);
  if (ignored.length > 0) {
    ctx.set(IGNORED_FIELDS_HEADER, ignored.join(', '));
    logger?.warn('API request: unknown fields ignored (a body without a JSON Content-Type)', {
      method: ctx.method,
      path: ctx.path,
      fields: ignored.join(', '),
    });
  }
  return parsed.value;
}

function vipId(ctx: { params: Record<string, string | undefined> }): string {
  // Validated by the router's `id` param handler.
  return ctx.params['id'] ?? '';
}

export function createApp(options: CreateAppOptions): Koa {
  const { agent, registry, logger } = options;
  const bodyLimit = options.bodyLimit ?? DEFAULT_BODY_LIMIT;
  const heartbeatMs = options.sseHeartbeatMs ?? 15_000;
  const app = new Koa();
  const metrics = createMetrics(agent, registry, { version: options.version });
  const streams = new Set<() => void>();
  const shedder = createLoadShedder(options.load, (reason) => metrics.shed(reason));
  appStates.set(app, { metrics, streams });

  // Errors that escape a response already under way (a client resetting an SSE stream).
  app.on('error', (err: unknown) => {
    logger?.warn('API response error', { error: err instanceof Error ? err.message : String(err) });
  });

  app.use(errorMiddleware(logger));
  app.use((ctx, next) => shedder.middleware(ctx, next));
  app.use(async (ctx: Context, next: Next) => {
    ctx.set('X-Content-Type-Options', 'nosniff');
    ctx.set('Cache-Control', 'no-store');
    await next();
  });
  if (options.auth) {
    const metricsPublic = options.metricsPublic === true;
    const guard = new AuthGuard({
      ...(logger ? { logger } : {}),
      onFailure: () => metrics.authFailure(),
      onRefused: () => metrics.authRefused(),
    });
    app.use(
      basicAuth(
        options.auth,
        (ctx) => ctx.path === '/healthz' || (metricsPublic && ctx.path === '/metrics'),
        guard,
      ),
    );
  } else {
    app.use(noAuth());
  }

  // After routing and the method check: nothing answered.
  app.use(async (ctx: Context, next: Next) => {
    await next();
    if (ctx.status === 404 && ctx.body == null) throw new HttpError(404, { error: 'not found' });
  });

  // The visualiser: GET /ui and its assets (http/ui-routes.ts), behind the same auth.
  app.use(uiRoutes());

  const router = new Router();

  router.param('id', async (id: string, ctx, next) => {
    const normalised = normaliseVipId(id);
    if (!normalised) throw vipNotFound();
    ctx.params['id'] = normalised;
    await next();
  });

  router.get('/ips', (ctx) => {
    // LinK v2's link-client reads this body as a map of VIP lists: no other top-level field may
    // be added. The host's drain shows on each VIP instead (additive: v2 ignores it).
    const drained = agent.drainer?.status().drained;
    const ips = agent.list();
    ctx.body = { ips: drained === undefined ? ips : ips.map((vip) => ({ ...vip, drained })) };
  });

  router.post('/ips', async (ctx) => {
    const body: CreateVipBody = parseBody(ctx, createVipBody, await readJsonBody(ctx, bodyLimit), logger);
    // id, status and owner (read-only) are ignored: the agent assigns the id, as v2 did.
    const vip: NewVip = { ip: body.ip, checks: body.checks ?? [], ...placementFields(body) };
    if (body.healthcheck_interval) vip.healthcheck_interval = body.healthcheck_interval;
    const view = await agent.add(vip);
    ctx.status = 201;
    ctx.set('Location', `/ips/${view.id}`);
    // LinK v2 answers a create with the IP itself, not wrapped.
    ctx.body = view;
  });

  router.get('/ips/:id', (ctx) => {
    ctx.body = { ip: agent.get(vipId(ctx)) };
  });

  const update = async (ctx: Context & { params: Record<string, string> }) => {
    const id = vipId(ctx);
    const body: UpdateVipBody = parseBody(ctx, updateVipBody, await readJsonBody(ctx, bodyLimit), logger);
    // Read-only fields are ignored, but a body naming another VIP is not applied to this one.
    if (body.id !== undefined && body.id !== '' && normaliseVipId(body.id) !== id) {
      throw badRequest(`id ${JSON.stringify(body.id)} is not the VIP of this path (${id})`, 'id');
    }
    if (body.ip !== undefined) {
      const current = agent.get(id).ip;
      if (body.ip !== current) {
        throw badRequest(`ip cannot be changed: this VIP is ${current}, the body says ${body.ip}`, 'ip');
      }
    }
    const change: VipChange = placementFields(body);
    const checks = body.checks ?? body.healthchecks;
    if (checks !== undefined) change.checks = checks;
    if (body.healthcheck_interval) change.healthcheck_interval = body.healthcheck_interval;
    if (checks === undefined && body.healthcheck_interval === undefined && Object.keys(change).length === 0) {
      throw badRequest(
        'nothing to update: give checks (or healthchecks), healthcheck_interval, priority, preempt or preempt_delay',
        'checks',
      );
    }
    // LinK v2 answers an update with the IP itself, not wrapped.
    ctx.body = await agent.update(id, change);
  };
  router.patch('/ips/:id', update);
  router.put('/ips/:id', update);

  router.delete('/ips/:id', async (ctx) => {
    const id = vipId(ctx);
    // Only a VIP this host held is handed over (remove() waits for the next owner, bounded).
    const owned = agent.get(id).owner;
    const started = performance.now();
    await agent.remove(id);
    if (owned) metrics.observeHandover(id, 'delete', (performance.now() - started) / 1000);
    ctx.status = 204;
  });

  router.post('/ips/:id/lock', async (ctx) => {
    ctx.body = { ip: await agent.tryLock(vipId(ctx)) };
  });

  router.post('/ips/:id/failover', async (ctx) => {
    const id = vipId(ctx);
    const started = performance.now();
    const owner = await agent.failover(id);
    metrics.observeHandover(id, 'failover', (performance.now() - started) / 1000);
    // 204 as in LinK v2 (its link-client takes nothing else for success); the header names who took it.
    ctx.set(VIP_OWNER_HEADER, owner);
    ctx.status = 204;
  });

  router.get('/ips/:id/hosts', async (ctx) => {
    const id = vipId(ctx);
    agent.get(id); // 404 before asking etcd
    ctx.body = { hosts: await agent.hosts(id) };
  });

  addClusterRoutes(router, agent);

  router.get('/ips/:id/events', (ctx) => {
    const id = vipId(ctx);
    if (!wantsEventStream(ctx)) {
      ctx.body = { events: agent.journal(id) };
      return;
    }
    agent.get(id); // 404 before the stream starts
    if (!shedder.openStream()) throw busy('sse-streams');
    const end = streamJournal(ctx, {
      vipId: id,
      history: () => agent.journal(id),
      live$: agent.journal$,
      heartbeatMs,
      onClose: () => {
        streams.delete(end);
        shedder.closeStream();
      },
    });
    streams.add(end);
  });

  router.get('/machine', (ctx) => {
    ctx.body = {
      machine: ipMachine.toJSON(),
      states: IP_STATES,
      events: IP_EVENT_TYPES,
      actions: IP_ACTIONS,
      transitions: ipTransitionTable,
      atMostOneFaultTargets,
      entryActions: ipEntryActions,
      exitActions: ipExitActions,
    };
  });

  router.get('/version', (ctx) => {
    // hostname: which host this is, for the visualiser's header and scripts behind a proxy.
    ctx.body = { version: options.version, hostname: agent.hostname };
  });

  router.get('/healthz', (ctx) => {
    const answer = healthAnswer(() => agent.health());
    ctx.status = answer.status;
    ctx.body = isAuthenticated(ctx) ? answer.detail : answer.brief;
  });

  router.get('/metrics', async (ctx) => {
    ctx.type = registry.contentType;
    ctx.body = await metrics.scrape();
  });

  addDrainRoutes(router, agent.drainer);

  app.use(router.routes());
  app.use(
    router.allowedMethods({
      throw: true,
      // Unknown methods are the client's mistake: 405, never a 5xx (Koa's default is 501).
      notImplemented: () => new HttpError(405, { error: 'method not allowed' }),
      methodNotAllowed: () => new HttpError(405, { error: 'method not allowed' }),
    }),
  );
  return app;
}
