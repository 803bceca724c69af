import type { Context, Next } from 'koa';
import { HttpError } from './errors.ts';

/**
 * How much work the API takes on at once, so that a flood of requests cannot starve the lease's
 * keep-alive and fence timers, which share this event loop (issue 14 part 5). Beyond a limit the
 * answer is a cheap 503 with `Retry-After` and code `API_BUSY`, before any handler runs:
 *
 * - `inFlight`: requests being handled at once (an SSE stream counts only while it starts);
 * - `sseStreams`: open `text/event-stream` responses (each holds a journal subscription).
 *
 * Connections are capped in http/server.ts. The keep-alive itself survives a late timer: the
 * session asks etcd before it acts on a passed deadline (adapters/etcd/session.ts
 * `fencePassed`), so a starved standby never seizes. Shedding on event-loop lag was left out
 * (not measured): a GC pause on a loaded machine could refuse ordinary requests, and the ask
 * already keeps the lease; `nodejs_eventloop_lag_seconds` in /metrics shows the lag.
 */
export interface LoadLimits {
  inFlight: number;
  sseStreams: number;
}

export const DEFAULT_LOAD_LIMITS: Readonly<LoadLimits> = {
  inFlight: 64,
  sseStreams: 256,
};

export type ShedReason = 'in-flight' | 'sse-streams';

export interface LoadShedder {
  /** Koa middleware; mount right after the error middleware. */
  middleware(ctx: Context, next: Next): Promise<void>;
  /** An SSE stream started (true) or may not (false: answer with `busy`). */
  openStream(): boolean;
  closeStream(): void;
  readonly streams: number;
}

/** The 503 of a shed request. */
export function busy(reason: ShedReason): HttpError {
  return new HttpError(
    503,
    { error: `the agent is busy (${reason}); retry shortly`, code: 'API_BUSY' },
    { 'Retry-After': '1' },
  );
}

export function createLoadShedder(
  limits: Partial<LoadLimits> = {},
  onShed: (reason: ShedReason) => void = () => undefined,
): LoadShedder {
  const l: LoadLimits = { ...DEFAULT_LOAD_LIMITS, ...limits };
  let inFlight = 0;
  let streams = 0;

  const shed = (reason: ShedReason): never => {
    onShed(reason);
    throw busy(reason);
  };

  return {
    async middleware(ctx: Context, next: Next): Promise<void> {
      if (ctx.path === '/healthz') {
        await next();
        return;
      }
      if (inFlight >= l.inFlight) shed('in-flight');
      inFlight++;
      try {
        await next();
      } finally {
        inFlight--;
      }
    },
    openStream(): boolean {
      if (streams >= l.sseStreams) {
        onShed('sse-streams');
        return false;
      }
      streams++;
      return true;
    },
    closeStream(): void {
      streams = Math.max(0, streams - 1);
    },
    get streams(): number {
      return streams;
    },
  };
}
