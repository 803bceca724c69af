import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { join } from 'node:path';
import { CONFIG_SCHEMA, defaultHostname, type VarName, type VarSpec } from './schema.ts';

/** A bad or missing variable; `variable` names it, `message` says what form is expected. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  readonly code = 'CONFIG_INVALID';
  constructor(
    readonly variable: string,
    message: string,
  ) {
    super(`${variable}: ${message}`);
  }
}

export type FaultPolicyValue = 'at-least-one' | 'at-most-one';

export interface AgentConfig {
  interfaceName: string;
  hostname: string;
  stateDir: string;
  port: number;
  listenAddress: string;
  apiSocket?: string;
  auth?: { user: string; password: string };
  tls?: { certFile: string; keyFile: string };
  metricsPublic: boolean;
  etcd: {
    hosts: string[];
    prefix: string;
    tls?: { certFile?: string; keyFile?: string; caFile?: string };
    auth?: { user: string; password: string };
  };
  leaseTtlMs: number;
  keepaliveIntervalMs: number;
  keepaliveRetry: number;
  faultPolicy: FaultPolicyValue;
  addressLifetimeSec: number;
  handoverTimeoutMs: number;
  restartGraceSec: number;
  health: { intervalMs: number; timeoutMs: number; fallCount: number; riseCount: number };
  /** EXEC_CHECKS_DIR: the only folder EXEC checks may run programs from; absent = EXEC refused. */
  execChecksDir?: string;
  announce: { count: number; intervalMs: number; refreshIntervalMs: number };
  hooks: { exec?: string; webhookUrl?: string; webhookSecret?: string; timeoutMs: number };
  log: { level: 'error' | 'warn' | 'info' | 'debug'; format: 'json' | 'pretty' };
}

const DURATION = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/;
const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** `500ms`, `3s`, `1m`, `1h` or a bare number of seconds → milliseconds; null when malformed. */
export function parseDurationMs(text: string): number | null {
  const match = DURATION.exec(text.trim());
  if (!match) return null;
  return Number(match[1]) * UNIT_MS[match[2] ?? 's']!;
}

function specOf(name: VarName): VarSpec {
  return CONFIG_SCHEMA.find((spec) => spec.name === name)!;
}

function expectedForm(spec: VarSpec): string {
  const range = spec.min !== undefined ? ` between ${spec.min} and ${spec.max}` : '';
  switch (spec.kind) {
    case 'int':
      return `an integer${range}`;
    case 'duration':
      return `a duration like 500ms, 2s or 1m${range ? `${range} seconds` : ''}`;
    case 'enum':
      return `one of ${spec.values!.join(', ')}`;
    case 'bool':
      return 'true or false';
    case 'url':
      return 'an http:// or https:// URL';
    case 'list':
      return 'a comma-separated list';
    default:
      return 'a non-empty string';
  }
}

/** How parseConfig reads secret files; tests pass their own. */
export type ReadTextFile = (path: string) => string;

const readTextFile: ReadTextFile = (path) => readFileSync(path, 'utf8');

/** Variables that were renamed: setting the old name is an error, never silently ignored. */
const RENAMED: Readonly<Record<string, VarName>> = { BIND_ADDRESS: 'LISTEN_ADDRESS' };

/** The API is private on these: anything else needs PASSWORD. */
export function isLoopbackAddress(address: string): boolean {
  const v4 = address.replace(/^::ffff:/i, '');
  return address === '::1' || (isIP(v4) === 4 && v4.startsWith('127.'));
}

/** `host[:port]` or `http(s)://host[:port]`, as the etcd client dials it: a host, a port in range. */
function isEtcdEndpoint(text: string): boolean {
  if (!/^(https?:\/\/)?[\w.[\]:-]+(:\d+)?\/?$/.test(text)) return false;
  let url: URL;
  try {
    url = new URL(/^https?:\/\//.test(text) ? text : `http://${text}`);
  } catch {
    return false;
  }
  return url.hostname !== '' && (url.pathname === '/' || url.pathname === '');
}

/** Reads one variable with its schema; throws ConfigError naming it. */
class EnvReader {
  constructor(
    private readonly env: NodeJS.ProcessEnv,
    private readonly readFile: ReadTextFile,
  ) {}

  /**
   * A secret from the variable, from `<name>_FILE`, or from systemd's
   * `$CREDENTIALS_DIRECTORY/<name>` (in that order of precedence, the variable and its file
   * being exclusive). A file's trailing newline is not part of the secret.
   */
  secret(name: VarName, fileName: VarName): string | undefined {
    const fromFile = (variable: string, path: string): string => {
      let text: string;
      try {
        text = this.readFile(path);
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code ?? 'unreadable';
        throw new ConfigError(variable, `cannot read ${path} (${code})`);
      }
      const value = text.replace(/\r?\n$/, '');
      if (value === '') throw new ConfigError(variable, `${path} is empty`);
      return value;
    };
    const file = this.string(fileName);
    if (file !== undefined) {
      if (this.isSet(name)) throw new ConfigError(name, `and ${fileName} are both set; keep one`);
      return fromFile(fileName, file);
    }
    if (this.isSet(name)) return this.string(name);
    const credentials = (this.env['CREDENTIALS_DIRECTORY'] ?? '').trim();
    if (credentials === '') return undefined;
    const path = join(credentials, name);
    try {
      this.readFile(path);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    }
    return fromFile(`CREDENTIALS_DIRECTORY`, path);
  }

  raw(name: VarName): string | undefined {
    const value = this.env[name];
    if (value === undefined || value.trim() === '') return specOf(name).default;
    return value.trim();
  }

  isSet(name: VarName): boolean {
    return (this.env[name] ?? '').trim() !== '';
  }

  string(name: VarName): string | undefined {
    const spec = specOf(name);
    const value = this.raw(name);
    if (value === undefined && spec.required) throw new ConfigError(name, `is required: ${spec.description}`);
    return value;
  }

  int(name: VarName): number {
    const spec = specOf(name);
    const value = this.string(name) ?? '';
    const n = /^-?\d+$/.test(value) ? Number(value) : NaN;
    if (
      !Number.isSafeInteger(n) ||
      (spec.min !== undefined && n < spec.min) ||
      (spec.max !== undefined && n > spec.max)
    ) {
      throw new ConfigError(name, `got "${value}", expected ${expectedForm(spec)}`);
    }
    return n;
  }

  durationMs(name: VarName): number | undefined {
    const spec = specOf(name);
    const value = this.string(name);
    if (value === undefined) return undefined;
    const ms = parseDurationMs(value);
    const seconds = ms === null ? NaN : ms / 1000;
    if (
      ms === null ||
      (spec.min !== undefined && seconds < spec.min) ||
      (spec.max !== undefined && seconds > spec.max)
    ) {
      throw new ConfigError(name, `got "${value}", expected ${expectedForm(spec)}`);
    }
    return ms;
  }

  enumValue<T extends string>(name: VarName): T {
    const spec = specOf(name);
    const value = this.string(name) ?? '';
    if (!spec.values!.includes(value))
      throw new ConfigError(name, `got "${value}", expected ${expectedForm(spec)}`);
    return value as T;
  }

  bool(name: VarName): boolean {
    const value = (this.string(name) ?? '').toLowerCase();
    if (['true', '1', 'yes'].includes(value)) return true;
    if (['false', '0', 'no'].includes(value)) return false;
    throw new ConfigError(name, `got "${value}", expected ${expectedForm(specOf(name))}`);
  }

  url(name: VarName): string | undefined {
    const value = this.string(name);
    if (value === undefined) return undefined;
    let parsed: URL | undefined;
    try {
      parsed = new URL(value);
    } catch {
      parsed = undefined;
    }
    if (!parsed || !['http:', 'https:'].includes(parsed.protocol)) {
      throw new ConfigError(name, `got "${value}", expected ${expectedForm(specOf(name))}`);
    }
    return value;
  }
}

/** Parses the agent's environment; the first bad variable throws a ConfigError naming it. */
export function parseConfig(env: NodeJS.ProcessEnv, readFile: ReadTextFile = readTextFile): AgentConfig {
  for (const [old, name] of Object.entries(RENAMED)) {
    if ((env[old] ?? '').trim() !== '')
      throw new ConfigError(old, `was renamed ${name}; set ${name} instead`);
  }
  const read = new EnvReader(env, readFile);
  const interfaceName = read.string('INTERFACE')!;
  if (!/^[^\s/]{1,15}$/.test(interfaceName)) {
    throw new ConfigError(
      'INTERFACE',
      `got "${interfaceName}", expected an interface name of at most 15 characters`,
    );
  }

  const keepaliveSet = read.isSet('KEEPALIVE_INTERVAL');
  const ttlSet = read.isSet('LEASE_TTL');
  const keepaliveMs = keepaliveSet ? read.durationMs('KEEPALIVE_INTERVAL')! : undefined;
  let leaseTtlMs = ttlSet
    ? read.durationMs('LEASE_TTL')!
    : keepaliveMs !== undefined
      ? 5 * keepaliveMs
      : 2000;
  if (leaseTtlMs % 1000 !== 0) {
    if (ttlSet)
      throw new ConfigError(
        'LEASE_TTL',
        `got "${read.raw('LEASE_TTL')}", expected whole seconds (etcd leases)`,
      );
    leaseTtlMs = Math.max(1000, Math.round(leaseTtlMs / 1000) * 1000);
  }
  if (keepaliveMs !== undefined && keepaliveMs >= leaseTtlMs) {
    throw new ConfigError('KEEPALIVE_INTERVAL', `must be shorter than LEASE_TTL (${leaseTtlMs / 1000}s)`);
  }

  const faultPolicy = read.enumValue<FaultPolicyValue>('FAULT_POLICY');
  // The kernel counts address lifetimes in whole seconds and at-most-one never lets one outlive
  // the lease: with a 1 s lease no whole second is ever left, and the VIP could never be bound.
  if (faultPolicy === 'at-most-one' && leaseTtlMs < 2000) {
    throw new ConfigError(
      'LEASE_TTL',
      `is ${leaseTtlMs / 1000}s, expected at least 2s with FAULT_POLICY=at-most-one`,
    );
  }
  const lifetimeMs = read.durationMs('ADDRESS_LIFETIME');
  const addressLifetimeSec =
    lifetimeMs !== undefined
      ? Math.ceil(lifetimeMs / 1000)
      : faultPolicy === 'at-most-one'
        ? leaseTtlMs / 1000
        : 30;

  const password = read.secret('PASSWORD', 'PASSWORD_FILE');
  const user = read.string('USER');
  if (password !== undefined && user === undefined)
    throw new ConfigError('USER', 'is required when PASSWORD is set');
  const listenAddress = read.string('LISTEN_ADDRESS')!;
  if (isIP(listenAddress) === 0) {
    throw new ConfigError('LISTEN_ADDRESS', `got "${listenAddress}", expected an IPv4 or IPv6 address`);
  }
  if (password === undefined && !isLoopbackAddress(listenAddress)) {
    throw new ConfigError(
      'PASSWORD',
      `is required when LISTEN_ADDRESS (${listenAddress}) is not loopback: set PASSWORD or PASSWORD_FILE, or LISTEN_ADDRESS=127.0.0.1`,
    );
  }

  const tlsCert = read.string('TLS_CERT');
  const tlsKey = read.string('TLS_KEY');
  if ((tlsCert === undefined) !== (tlsKey === undefined)) {
    throw new ConfigError(tlsCert ? 'TLS_KEY' : 'TLS_CERT', 'TLS_CERT and TLS_KEY go together');
  }

  // Set but empty is a mistake (an unfilled template, `ETCD_HOSTS=$UNSET`), not "use the default".
  if (env['ETCD_HOSTS'] !== undefined && !read.isSet('ETCD_HOSTS')) {
    throw new ConfigError(
      'ETCD_HOSTS',
      'is set but empty: give host:port or http(s)://host:port, or unset it',
    );
  }
  const etcdHosts = (read.string('ETCD_HOSTS') ?? '')
    .split(',')
    .map((h) => h.trim())
    .filter(Boolean);
  if (etcdHosts.length === 0) {
    throw new ConfigError('ETCD_HOSTS', 'names no endpoint: give host:port or http(s)://host:port');
  }
  for (const host of etcdHosts) {
    if (!isEtcdEndpoint(host)) {
      throw new ConfigError('ETCD_HOSTS', `got "${host}", expected host:port or http(s)://host:port`);
    }
  }
  const etcdUser = read.string('ETCD_USER');
  const etcdPassword = read.secret('ETCD_PASSWORD', 'ETCD_PASSWORD_FILE');
  if ((etcdUser === undefined) !== (etcdPassword === undefined)) {
    throw new ConfigError(
      etcdUser ? 'ETCD_PASSWORD' : 'ETCD_USER',
      'ETCD_USER and ETCD_PASSWORD go together',
    );
  }
  const etcdTls = {
    certFile: read.string('ETCD_TLS_CERT'),
    keyFile: read.string('ETCD_TLS_KEY'),
    caFile: read.string('ETCD_CACERT'),
  };

  const prefix = read.string('ETCD_PREFIX')!;
  if (!prefix.startsWith('/') || prefix.endsWith('/')) {
    throw new ConfigError(
      'ETCD_PREFIX',
      `got "${prefix}", expected a path like /link (leading /, no trailing /)`,
    );
  }

  const webhookSecret = read.secret('NOTIFY_WEBHOOK_SECRET', 'NOTIFY_WEBHOOK_SECRET_FILE');

  return {
    interfaceName,
    hostname: read.string('HOSTNAME') ?? defaultHostname(),
    stateDir: read.string('STATE_DIR')!,
    port: read.int('PORT'),
    listenAddress,
    ...(read.string('API_SOCKET') ? { apiSocket: read.string('API_SOCKET')! } : {}),
    ...(password !== undefined ? { auth: { user: user!, password } } : {}),
    ...(tlsCert && tlsKey ? { tls: { certFile: tlsCert, keyFile: tlsKey } } : {}),
    metricsPublic: read.bool('METRICS_PUBLIC'),
    etcd: {
      hosts: etcdHosts,
      prefix,
      ...(etcdTls.certFile || etcdTls.keyFile || etcdTls.caFile
        ? { tls: Object.fromEntries(Object.entries(etcdTls).filter(([, v]) => v !== undefined)) }
        : {}),
      ...(etcdUser && etcdPassword ? { auth: { user: etcdUser, password: etcdPassword } } : {}),
    },
    leaseTtlMs,
    keepaliveIntervalMs: keepaliveMs ?? leaseTtlMs / 3,
    keepaliveRetry: read.int('KEEPALIVE_RETRY'),
    faultPolicy,
    addressLifetimeSec,
    handoverTimeoutMs: read.durationMs('HANDOVER_TIMEOUT')!,
    restartGraceSec: Math.ceil(read.durationMs('RESTART_GRACE')! / 1000),
    health: {
      intervalMs: read.durationMs('HEALTH_CHECK_INTERVAL')!,
      timeoutMs: read.durationMs('HEALTH_CHECK_TIMEOUT')!,
      fallCount: read.int('FAIL_COUNT_BEFORE_FAILOVER'),
      riseCount: read.int('RISE_COUNT'),
    },
    ...(read.string('EXEC_CHECKS_DIR') ? { execChecksDir: read.string('EXEC_CHECKS_DIR')! } : {}),
    announce: {
      count: read.int('ARP_GRATUITOUS_COUNT'),
      intervalMs: read.durationMs('ARP_GRATUITOUS_INTERVAL')!,
      refreshIntervalMs: read.durationMs('ARP_REFRESH_INTERVAL')!,
    },
    hooks: {
      ...(read.string('NOTIFY_EXEC') ? { exec: read.string('NOTIFY_EXEC')! } : {}),
      ...(read.url('NOTIFY_WEBHOOK_URL') ? { webhookUrl: read.url('NOTIFY_WEBHOOK_URL')! } : {}),
      ...(webhookSecret !== undefined ? { webhookSecret } : {}),
      timeoutMs: read.durationMs('HOOK_TIMEOUT')!,
    },
    log: {
      level: read.enumValue('LOG_LEVEL'),
      format: read.enumValue('LOG_FORMAT'),
    },
  };
}
