import { request as httpRequest } from 'node:http';
import type { IncomingMessage, RequestOptions } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { HostMembership } from '../adapters/etcd/types.ts';
import type { ClusterView } from '../adapters/etcd/cluster-view.ts';
import type { AgentHealth, JournalEntry, VipView } from '../actors/types.ts';
import { VIP_OWNER_HEADER } from '../http/types.ts';

/**
 * The LinK API over HTTP, for `linkctl`. node:http underneath (not fetch) because agents in
 * network namespaces are reached through a Unix socket. Every failure is an `ApiClientError`
 * with a one-line message fit for the terminal.
 */

export const DEFAULT_HOST = 'http://127.0.0.1:1313';

export interface ClientOptions {
  /** `http://127.0.0.1:1313`, `https://host:1313`, `host:port`, `unix:/path/to.sock`. */
  host: string;
  user?: string;
  password?: string;
  /** Per request, 60 s by default (DELETE and failover wait for another host, bounded). */
  timeoutMs?: number;
}

export type Target =
  | { kind: 'tcp'; protocol: 'http:' | 'https:'; hostname: string; port: number; label: string }
  | { kind: 'unix'; socketPath: string; label: string };

export class ApiClientError extends Error {
  override readonly name = 'ApiClientError';
  constructor(
    message: string,
    /** HTTP status, or undefined when no answer came (connection, timeout, bad host). */
    readonly status?: number,
    /** The API's `code` when it gave one. */
    readonly code?: string,
  ) {
    super(message);
  }
}

/** Usage problem in the host option: the CLI exits 2 for it. */
export class HostSyntaxError extends Error {
  override readonly name = 'HostSyntaxError';
}

export function parseHost(host: string): Target {
  const text = host.trim();
  if (text.startsWith('unix:')) {
    const socketPath = text.slice('unix:'.length).replace(/^\/\/(?=\/)/, '');
    if (!socketPath) throw new HostSyntaxError(`--host ${host}: unix: needs a socket path`);
    return { kind: 'unix', socketPath, label: `unix:${socketPath}` };
  }
  let url: URL;
  try {
    url = new URL(/^[a-z][a-z0-9+.-]*:\/\//i.test(text) ? text : `http://${text}`);
  } catch {
    throw new HostSyntaxError(`--host ${host}: not a URL (try http://127.0.0.1:1313 or unix:/path.sock)`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new HostSyntaxError(`--host ${host}: only http://, https:// and unix: are supported`);
  }
  if ((url.pathname !== '/' && url.pathname !== '') || url.search || url.hash) {
    throw new HostSyntaxError(`--host ${host}: give the server only, without a path`);
  }
  const port = url.port ? Number(url.port) : 1313;
  const hostname = url.hostname.replace(/^\[(.*)\]$/, '$1');
  return {
    kind: 'tcp',
    protocol: url.protocol,
    hostname,
    port,
    label: `${url.protocol}//${url.host}${url.port ? '' : ':1313'}`,
  };
}

export interface ApiResponse {
  status: number;
  body: unknown;
  headers: IncomingMessage['headers'];
}

function errorMessageOf(body: unknown, status: number): { message: string; code?: string } {
  if (typeof body === 'object' && body !== null) {
    const b = body as Record<string, unknown>;
    const text =
      typeof b['error'] === 'string' ? b['error'] : typeof b['msg'] === 'string' ? b['msg'] : undefined;
    const field = typeof b['field'] === 'string' ? ` (field ${b['field']})` : '';
    const code = typeof b['code'] === 'string' ? b['code'] : undefined;
    if (text !== undefined) {
      const resource = typeof b['resource'] === 'string' ? `${b['resource']} ` : '';
      return code === undefined
        ? { message: `${status} ${resource}${text}${field}` }
        : { message: `${status} ${resource}${text}${field}`, code };
    }
  }
  return { message: `unexpected answer ${status}` };
}

function describeNetworkError(err: unknown, label: string): string {
  const code = typeof err === 'object' && err !== null && 'code' in err ? String(err.code) : undefined;
  switch (code) {
    case 'ECONNREFUSED':
      return `cannot reach ${label}: connection refused (is the agent running?)`;
    case 'ENOENT':
      return `cannot reach ${label}: no such socket`;
    case 'EACCES':
      return `cannot reach ${label}: permission denied`;
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return `cannot reach ${label}: unknown host`;
    case 'ECONNRESET':
      return `${label} closed the connection`;
    case 'ETIMEDOUT':
      return `cannot reach ${label}: timed out`;
    default: {
      const message = err instanceof Error ? err.message : String(err);
      return `cannot reach ${label}: ${code ?? message}`;
    }
  }
}

export class LinkClient {
  readonly target: Target;
  private readonly authHeader: string | undefined;
  private readonly timeoutMs: number;

  constructor(options: ClientOptions) {
    this.target = parseHost(options.host);
    this.timeoutMs = options.timeoutMs ?? 60_000;
    if (options.user !== undefined || options.password !== undefined) {
      const token = Buffer.from(`${options.user ?? ''}:${options.password ?? ''}`, 'utf8').toString('base64');
      this.authHeader = `Basic ${token}`;
    }
  }

  private open(
    method: string,
    path: string,
    headers: Record<string, string>,
    body: string | undefined,
    onResponse: (res: IncomingMessage) => void,
    onError: (err: Error) => void,
    timeoutMs: number | null,
  ): () => void {
    const all: Record<string, string> = { ...headers };
    if (this.authHeader) all['Authorization'] = this.authHeader;
    if (body !== undefined) {
      all['Content-Type'] = 'application/json';
      all['Content-Length'] = String(Buffer.byteLength(body));
    }
    const t = this.target;
    const options: RequestOptions =
      t.kind === 'unix'
        ? { socketPath: t.socketPath, path, method, headers: { Host: 'localhost', ...all } }
        : { hostname: t.hostname, port: t.port, path, method, headers: all };
    const req = (t.kind === 'tcp' && t.protocol === 'https:' ? httpsRequest : httpRequest)(
      options,
      onResponse,
    );
    req.on('error', onError);
    if (timeoutMs !== null) {
      req.setTimeout(timeoutMs, () =>
        req.destroy(Object.assign(new Error('timeout'), { code: 'ETIMEDOUT' })),
      );
    }
    req.end(body);
    return () => req.destroy();
  }

  /** One request; rejects with ApiClientError on network failure or a status ≥ 400. */
  request(method: string, path: string, json?: unknown): Promise<ApiResponse> {
    const body = json === undefined ? undefined : JSON.stringify(json);
    return new Promise<ApiResponse>((resolve, reject) => {
      this.open(
        method,
        path,
        { Accept: 'application/json' },
        body,
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (chunk: Buffer) => chunks.push(chunk));
          res.on('error', (err) => reject(new ApiClientError(describeNetworkError(err, this.target.label))));
          res.on('end', () => {
            const status = res.statusCode ?? 0;
            const text = Buffer.concat(chunks).toString('utf8');
            let parsed: unknown = undefined;
            if (text.length > 0) {
              try {
                parsed = JSON.parse(text) as unknown;
              } catch {
                parsed = text;
              }
            }
            if (status >= 400) {
              const { message, code } = errorMessageOf(parsed, status);
              reject(new ApiClientError(message, status, code));
            } else {
              resolve({ status, body: parsed, headers: res.headers });
            }
          });
        },
        (err) => reject(new ApiClientError(describeNetworkError(err, this.target.label))),
        this.timeoutMs,
      );
    });
  }

  async listIps(): Promise<VipView[]> {
    const { body } = await this.request('GET', '/ips');
    return field<VipView[]>(body, 'ips');
  }

  async getIp(id: string): Promise<VipView> {
    const { body } = await this.request('GET', `/ips/${encodeURIComponent(id)}`);
    return field<VipView>(body, 'ip');
  }

  async addIp(params: {
    ip: string;
    checks?: unknown[];
    healthcheck_interval?: number;
    priority?: number;
    preempt?: boolean;
    preempt_delay?: number;
  }): Promise<VipView> {
    const { body } = await this.request('POST', '/ips', params);
    return unwrapVip(body);
  }

  async setChecks(
    id: string,
    params: { checks: unknown[]; healthcheck_interval?: number },
  ): Promise<VipView> {
    return this.updateIp(id, params);
  }

  /** PATCH: the fields given change, the others stay. */
  async updateIp(id: string, params: object): Promise<VipView> {
    const { body } = await this.request('PATCH', `/ips/${encodeURIComponent(id)}`, params);
    return unwrapVip(body);
  }

  async removeIp(id: string): Promise<void> {
    await this.request('DELETE', `/ips/${encodeURIComponent(id)}`);
  }

  async lock(id: string): Promise<VipView> {
    const { body } = await this.request('POST', `/ips/${encodeURIComponent(id)}/lock`);
    return unwrapVip(body);
  }

  /** Resolves with the host that took the VIP (the answer's VIP-Owner header), null if unnamed. */
  async failover(id: string): Promise<string | null> {
    const { headers } = await this.request('POST', `/ips/${encodeURIComponent(id)}/failover`);
    const owner = headers[VIP_OWNER_HEADER.toLowerCase()];
    return typeof owner === 'string' && owner.length > 0 ? owner : null;
  }

  async hosts(id: string): Promise<HostMembership[]> {
    const { body } = await this.request('GET', `/ips/${encodeURIComponent(id)}/hosts`);
    return field<HostMembership[]>(body, 'hosts');
  }

  /** GET /cluster: every VIP of the cluster, read by the agent from etcd. */
  async cluster(): Promise<ClusterView> {
    const { body } = await this.request('GET', '/cluster');
    field<unknown[]>(body, 'vips');
    return body as ClusterView;
  }

  async events(id: string): Promise<JournalEntry[]> {
    const { body } = await this.request('GET', `/ips/${encodeURIComponent(id)}/events`);
    return field<JournalEntry[]>(body, 'events');
  }

  async version(): Promise<string> {
    const { body } = await this.request('GET', '/version');
    return field<string>(body, 'version');
  }

  async health(): Promise<AgentHealth> {
    const { body } = await this.request('GET', '/healthz');
    return body as AgentHealth;
  }

  /**
   * Streams the VIP's journal (SSE): the history, then live entries, until `signal` aborts
   * (resolves). The stream has no end of its own: the server ending it (the agent stopped, a
   * proxy cut it) rejects with ApiClientError, as does any other failure, so that a script
   * following events learns that it no longer does.
   */
  followEvents(id: string, onEntry: (entry: JournalEntry) => void, signal?: AbortSignal): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      let settled = false;
      const finish = (err?: ApiClientError) => {
        if (settled) return;
        settled = true;
        signal?.removeEventListener('abort', onAbort);
        if (err) reject(err);
        else resolve();
      };
      const destroy = this.open(
        'GET',
        `/ips/${encodeURIComponent(id)}/events`,
        { Accept: 'text/event-stream' },
        undefined,
        (res) => {
          const status = res.statusCode ?? 0;
          if (status >= 400 || !(res.headers['content-type'] ?? '').startsWith('text/event-stream')) {
            const chunks: Buffer[] = [];
            res.on('data', (c: Buffer) => chunks.push(c));
            res.on('end', () => {
              let parsed: unknown;
              try {
                parsed = JSON.parse(Buffer.concat(chunks).toString('utf8')) as unknown;
              } catch {
                parsed = undefined;
              }
              const { message, code } = errorMessageOf(parsed, status);
              finish(new ApiClientError(message, status, code));
            });
            return;
          }
          const parser = createSseParser((event) => {
            if (event.event !== 'journal') return;
            try {
              onEntry(JSON.parse(event.data) as JournalEntry);
            } catch {
              // A line we cannot read is skipped, not fatal.
            }
          });
          res.setEncoding('utf8');
          res.on('data', (chunk: string) => parser(chunk));
          const cut = () =>
            finish(
              signal?.aborted
                ? undefined
                : new ApiClientError(`${this.target.label} ended the event stream of ${id}`),
            );
          res.on('end', cut);
          res.on('error', cut);
          res.on('close', cut);
        },
        (err) =>
          finish(
            signal?.aborted ? undefined : new ApiClientError(describeNetworkError(err, this.target.label)),
          ),
        null,
      );
      function onAbort() {
        destroy();
        finish();
      }
      if (signal?.aborted) onAbort();
      else signal?.addEventListener('abort', onAbort, { once: true });
    });
  }
}

function field<T>(body: unknown, name: string): T {
  if (typeof body === 'object' && body !== null && name in body) {
    return (body as Record<string, unknown>)[name] as T;
  }
  throw new ApiClientError(`unexpected answer: no "${name}" in it`);
}

/** POST and PATCH answer with the bare IP (LinK v2); accept `{"ip":{…}}` too. */
function unwrapVip(body: unknown): VipView {
  if (typeof body === 'object' && body !== null) {
    const inner = (body as Record<string, unknown>)['ip'];
    if (typeof inner === 'object' && inner !== null) return inner as VipView;
    if (typeof inner === 'string') return body as VipView;
  }
  throw new ApiClientError('unexpected answer: no IP in it');
}

export interface SseEvent {
  event: string;
  data: string;
  id?: string;
}

/** Incremental text/event-stream parser (WHATWG rules, enough for our server). */
export function createSseParser(onEvent: (event: SseEvent) => void): (chunk: string) => void {
  let pending = '';
  let event = '';
  let data: string[] = [];
  let id: string | undefined;
  return (chunk: string) => {
    pending += chunk;
    let newline: number;
    while ((newline = pending.search(/\r\n|\r|\n/)) >= 0) {
      const line = pending.slice(0, newline);
      pending = pending.slice(newline + (pending.startsWith('\r\n', newline) ? 2 : 1));
      if (line === '') {
        if (data.length > 0) {
          const out: SseEvent = { event: event || 'message', data: data.join('\n') };
          if (id !== undefined) out.id = id;
          onEvent(out);
        }
        event = '';
        data = [];
        continue;
      }
      if (line.startsWith(':')) continue;
      const colon = line.indexOf(':');
      const name = colon >= 0 ? line.slice(0, colon) : line;
      let value = colon >= 0 ? line.slice(colon + 1) : '';
      if (value.startsWith(' ')) value = value.slice(1);
      if (name === 'event') event = value;
      else if (name === 'data') data.push(value);
      else if (name === 'id') id = value;
    }
  };
}
