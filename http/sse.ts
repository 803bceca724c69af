import { PassThrough } from 'node:stream';
import type { Context } from 'koa';
import type { Observable } from 'rxjs';
import type { JournalEntry } from '../actors/types.ts';

/**
 * `GET /ips/:id/events` with `Accept: text/event-stream`: the VIP's journal so far, then its
 * live entries, as Server-Sent Events (`id:` = journal seq, `event: journal`, `data:` = the
 * entry as JSON). A `Last-Event-ID` header (sent by EventSource on reconnect) skips the entries
 * already seen. A comment line is sent every `heartbeatMs` so proxies keep the stream open.
 * Everything is released when the client goes away or the server closes.
 */

export function wantsEventStream(ctx: Context): boolean {
  return (ctx.get('accept') || '').toLowerCase().includes('text/event-stream');
}

export function formatSseEntry(entry: JournalEntry): string {
  return `id: ${entry.seq}\nevent: journal\ndata: ${JSON.stringify(entry)}\n\n`;
}

export interface SseOptions {
  vipId: string;
  history: () => JournalEntry[];
  live$: Observable<JournalEntry>;
  heartbeatMs: number;
  /** Called when the stream ends (client gone or server closing). */
  onClose?: () => void;
}

/** Streams into ctx.body; returns a function that ends the stream. */
export function streamJournal(ctx: Context, options: SseOptions): () => void {
  const lastEventId = Number.parseInt(ctx.get('last-event-id') || '', 10);
  let lastSeq = Number.isFinite(lastEventId) ? lastEventId : -1;
  const stream = new PassThrough();
  ctx.req.socket.setTimeout(0);
  ctx.req.socket.setNoDelay(true);
  ctx.status = 200;
  ctx.set({
    'Content-Type': 'text/event-stream; charset=utf-8',
    'Cache-Control': 'no-cache, no-transform',
    Connection: 'keep-alive',
    'X-Accel-Buffering': 'no',
  });
  ctx.body = stream;

  const send = (entry: JournalEntry): void => {
    // Live entries may overlap the history read just after subscribing: seq decides.
    if (closed || entry.seq <= lastSeq) return;
    lastSeq = entry.seq;
    stream.write(formatSseEntry(entry));
  };

  let closed = false;
  const held: { heartbeat?: NodeJS.Timeout; subscription?: { unsubscribe(): void } } = {};
  function close(): void {
    if (closed) return;
    closed = true;
    if (held.heartbeat) clearInterval(held.heartbeat);
    held.subscription?.unsubscribe();
    stream.end();
    options.onClose?.();
  }

  // Subscribe first and buffer, so nothing is lost between reading the history and going live.
  let buffer: JournalEntry[] | null = [];
  const subscription = options.live$.subscribe({
    next: (entry) => {
      if (entry.vipId !== options.vipId) return;
      if (buffer) buffer.push(entry);
      else send(entry);
    },
    complete: () => close(),
    error: () => close(),
  });
  stream.write(': journal of ' + options.vipId + '\n\n');
  for (const entry of options.history()) send(entry);
  const pending = buffer;
  buffer = null;
  for (const entry of pending) send(entry);

  if (closed) {
    subscription.unsubscribe();
    return close;
  }
  held.subscription = subscription;
  held.heartbeat = setInterval(() => stream.write(': ping\n\n'), options.heartbeatMs);
  held.heartbeat.unref();
  // The response's close, not the request's: a request "closes" once its (empty) body is read.
  ctx.res.once('close', close);
  return close;
}
