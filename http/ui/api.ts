import type { JournalEntry, VipView } from '../../actors/types.ts';
import type { HostMembership } from '../../adapters/etcd/types.ts';
import { apiUrl } from './url.ts';

/**
 * The page's reads of the agent's API. Paths are relative to the page (/ui), so the page also
 * works behind a proxy that mounts the agent under a prefix. Same-origin requests carry the
 * basic-auth credentials the browser cached when it loaded /ui (EventSource included, which
 * cannot set an Authorization header itself).
 *
 * Every URL is resolved against `location.origin` and the page's path, never against the page's
 * address itself: opened as `http://user:pass@host:1313/ui`, that address holds credentials and
 * browsers refuse `fetch()` of any URL resolved against it ("Request cannot be constructed from
 * a URL that includes credentials").
 */

export type { HostMembership, JournalEntry, VipView };

export interface MachineResponse {
  /** `ipMachine.toJSON()`. */
  machine: unknown;
}

export interface HealthResponse {
  status: 'ok' | 'degraded' | 'failing';
  ok?: boolean;
  codes?: string[];
  error?: string;
  reasons?: string[];
  etcd?: string;
  /** POST /drain's state (docs/api.md, "Drain"). */
  drain?: { drained: boolean; since?: string; done?: boolean; kept?: number };
}

/** The agent answered with an error status. */
export class ApiError extends Error {
  override readonly name = 'ApiError';
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

/** The agent could not be reached at all (connection refused, reset, DNS, offline). */
export class UnreachableError extends Error {
  override readonly name = 'UnreachableError';
}

/** `path` (relative to the page) as an absolute URL without credentials. */
function url(path: string): string {
  return apiUrl(path, location);
}

async function request(path: string): Promise<Response> {
  try {
    return await fetch(url(path), { headers: { accept: 'application/json' }, cache: 'no-store' });
  } catch (err: unknown) {
    throw new UnreachableError(err instanceof Error ? err.message : String(err));
  }
}

async function readJson(response: Response): Promise<unknown> {
  try {
    return (await response.json()) as unknown;
  } catch {
    return null;
  }
}

function errorText(body: unknown, status: number): string {
  if (typeof body === 'object' && body !== null) {
    const error = (body as { error?: unknown }).error;
    if (typeof error === 'string') return error;
  }
  return `HTTP ${status}`;
}

export async function getJson<T>(path: string): Promise<T> {
  const response = await request(path);
  const body = await readJson(response);
  if (!response.ok) throw new ApiError(response.status, errorText(body, response.status));
  return body as T;
}

export function vipPath(id: string, rest = ''): string {
  return `ips/${encodeURIComponent(id)}${rest}`;
}

export interface VersionResponse {
  version: string;
  /** The host this agent runs on (HOSTNAME). */
  hostname?: string;
}

export const api = {
  machine: () => getJson<MachineResponse>('machine'),
  version: () => getJson<VersionResponse>('version'),
  ips: async () => (await getJson<{ ips: VipView[] }>('ips')).ips,
  hosts: async (id: string) => (await getJson<{ hosts: HostMembership[] }>(vipPath(id, '/hosts'))).hosts,
  /** 200 and 503 both carry the agent's health; only other answers are errors. */
  async health(): Promise<HealthResponse> {
    const response = await request('healthz');
    const body = await readJson(response);
    if (response.status !== 200 && response.status !== 503) {
      throw new ApiError(response.status, errorText(body, response.status));
    }
    return (body ?? { status: 'failing', error: `HTTP ${response.status}` }) as HealthResponse;
  },
  eventsUrl: (id: string) => url(vipPath(id, '/events')),
};
