import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { join } from 'node:path';
import { parseDurationMs } from './duration.ts';
import { leaseTiming, LeaseTimingError } from './lease-timing.ts';
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

/** A variable's schema entry. */
type SpecOf<N extends VarName> = Extract<(typeof CONFIG_SCHEMA)[number], { name: N }>;

interface KindValue {
  string: string;
  path: string;
  url: string;
  int: number;
  /** Milliseconds. */
  duration: number;
  bool: boolean;
  enum: string;
  list: string[];
}

type KindOf<S extends VarSpec> = S extends { kind: 'enum'; values: readonly (infer V)[] }
  ? V
  : KindValue[S['kind']];

/** What `read(name)` returns: typed by the schema entry's kind, defined when it has a default or is required. */
export type VarValue<N extends VarName> =
  SpecOf<N> extends { default: string } | { required: true }
    ? KindOf<SpecOf<N>>
    : KindOf<SpecOf<N>> | undefined;

/** A field present only when its variable is set (an exact optional property, not `undefined`). */
function optional<K extends string, V>(key: K, value: V | undefined): Partial<Record<K, V>> {
  return value === undefined || value === '' ? {} : ({ [key]: value } as Record<K, V>);
}

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
  faultPolicy: VarValue<'FAULT_POLICY'>;
  addressLifetimeSec: number;
  handoverTimeoutMs: number;
  restartGraceSec: number;
  health: { intervalMs: number; timeoutMs: number; fallCount: number; riseCount: number };
  /** TRACK_INTERFACE=on: INTERFACE's link state is a health input of every VIP. */
  trackInterface: boolean;
  /** BALANCE=on: spread equal-priority VIPs, one move per BALANCE_INTERVAL (actors/balancer.ts). */
  balance: { enabled: boolean; intervalMs: number };
  /** EXEC_CHECKS_DIR: the only folder EXEC checks may run programs from; absent = EXEC refused. */
  execChecksDir?: string;
  announce: { count: number; intervalMs: number; refreshIntervalMs: number };
  hooks: { exec?: string; webhookUrl?: string; webhookSecret?: string; timeoutMs: number };
  log: { level: VarValue<'LOG_LEVEL'>; format: VarValue<'LOG_FORMAT'> };
}

export { parseDurationMs };

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

  /**
   * The variable's value, or else its schema default, read as its schema kind says; undefined
   * when it has neither and is not required.
   */
  read<N extends VarName>(name: N): VarValue<N> {
    const spec = specOf(name);
    const value = this.string(name);
    if (value === undefined) return undefined;
    const bad = (): ConfigError => new ConfigError(name, `got "${value}", expected ${expectedForm(spec)}`);
    const inRange = (n: number): boolean =>
      (spec.min === undefined || n >= spec.min) && (spec.max === undefined || n <= spec.max);
    let result: string | number | boolean | string[];
    switch (spec.kind) {
      case 'int': {
        const n = /^-?\d+$/.test(value) ? Number(value) : NaN;
        if (!Number.isSafeInteger(n) || !inRange(n)) throw bad();
        result = n;
        break;
      }
      case 'duration': {
        const ms = parseDurationMs(value);
        // The schema's ranges of durations are in seconds.
        if (ms === null || !inRange(ms / 1000)) throw bad();
        result = ms;
        break;
      }
      case 'enum':
        if (!spec.values!.includes(value)) throw bad();
        result = value;
        break;
      case 'bool': {
        const lower = value.toLowerCase();
        if (['true', '1', 'yes'].includes(lower)) result = true;
        else if (['false', '0', 'no'].includes(lower)) result = false;
        else throw bad();
        break;
      }
      case 'url': {
        let parsed: URL | undefined;
        try {
          parsed = new URL(value);
        } catch {
          parsed = undefined;
        }
        if (!parsed || !['http:', 'https:'].includes(parsed.protocol)) throw bad();
        result = value;
        break;
      }
      case 'list':
        result = value
          .split(',')
          .map((item) => item.trim())
          .filter(Boolean);
        break;
      default:
        result = value;
    }
    return result as VarValue<N>;
  }

  private string(name: VarName): string | undefined {
    const spec = specOf(name);
    const value = this.raw(name);
    if (value === undefined && spec.required) throw new ConfigError(name, `is required: ${spec.description}`);
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
  const interfaceName = read.read('INTERFACE');
  if (!/^[^\s/]{1,15}$/.test(interfaceName)) {
    throw new ConfigError(
      'INTERFACE',
      `got "${interfaceName}", expected an interface name of at most 15 characters`,
    );
  }

  let timing;
  try {
    timing = leaseTiming({
      // LEASE_TTL's schema default is where the rule starts, not a value the operator gave.
      ttlMs: read.isSet('LEASE_TTL') ? read.read('LEASE_TTL') : undefined,
      keepaliveMs: read.read('KEEPALIVE_INTERVAL'),
    });
  } catch (err) {
    if (!(err instanceof LeaseTimingError)) throw err;
    const got = err.variable === 'LEASE_TTL' ? `got "${read.raw('LEASE_TTL')}", ` : '';
    throw new ConfigError(err.variable, `${got}${err.message}`);
  }
  const leaseTtlMs = timing.ttlMs;

  const faultPolicy = read.read('FAULT_POLICY');
  // The kernel counts address lifetimes in whole seconds and at-most-one never lets one outlive
  // the lease: with a 1 s lease no whole second is ever left, and the VIP could never be bound.
  if (faultPolicy === 'at-most-one' && leaseTtlMs < 2000) {
    throw new ConfigError(
      'LEASE_TTL',
      `is ${leaseTtlMs / 1000}s, expected at least 2s with FAULT_POLICY=at-most-one`,
    );
  }
  // The schema's default is at-least-one's; at-most-one's follows the lease (see its defaultText).
  const lifetimeMs = read.read('ADDRESS_LIFETIME');
  const addressLifetimeSec =
    faultPolicy === 'at-most-one' && !read.isSet('ADDRESS_LIFETIME')
      ? leaseTtlMs / 1000
      : Math.ceil(lifetimeMs / 1000);

  const password = read.secret('PASSWORD', 'PASSWORD_FILE');
  const user = read.read('USER');
  if (password !== undefined && user === undefined)
    throw new ConfigError('USER', 'is required when PASSWORD is set');
  const listenAddress = read.read('LISTEN_ADDRESS');
  if (isIP(listenAddress) === 0) {
    throw new ConfigError('LISTEN_ADDRESS', `got "${listenAddress}", expected an IPv4 or IPv6 address`);
  }
  if (password === undefined && !isLoopbackAddress(listenAddress)) {
    throw new ConfigError(
      'PASSWORD',
      `is required when LISTEN_ADDRESS (${listenAddress}) is not loopback: set PASSWORD or PASSWORD_FILE, or LISTEN_ADDRESS=127.0.0.1`,
    );
  }

  const tlsCert = read.read('TLS_CERT');
  const tlsKey = read.read('TLS_KEY');
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
  const etcdHosts = read.read('ETCD_HOSTS');
  if (etcdHosts.length === 0) {
    throw new ConfigError('ETCD_HOSTS', 'names no endpoint: give host:port or http(s)://host:port');
  }
  for (const host of etcdHosts) {
    if (!isEtcdEndpoint(host)) {
      throw new ConfigError('ETCD_HOSTS', `got "${host}", expected host:port or http(s)://host:port`);
    }
  }
  const etcdUser = read.read('ETCD_USER');
  const etcdPassword = read.secret('ETCD_PASSWORD', 'ETCD_PASSWORD_FILE');
  if ((etcdUser === undefined) !== (etcdPassword === undefined)) {
    throw new ConfigError(
      etcdUser ? 'ETCD_PASSWORD' : 'ETCD_USER',
      'ETCD_USER and ETCD_PASSWORD go together',
    );
  }
  const etcdTls = {
    certFile: read.read('ETCD_TLS_CERT'),
    keyFile: read.read('ETCD_TLS_KEY'),
    caFile: read.read('ETCD_CACERT'),
  };

  const prefix = read.read('ETCD_PREFIX');
  if (!prefix.startsWith('/') || prefix.endsWith('/')) {
    throw new ConfigError(
      'ETCD_PREFIX',
      `got "${prefix}", expected a path like /link (leading /, no trailing /)`,
    );
  }

  const webhookSecret = read.secret('NOTIFY_WEBHOOK_SECRET', 'NOTIFY_WEBHOOK_SECRET_FILE');

  return {
    interfaceName,
    hostname: read.read('HOSTNAME') ?? defaultHostname(),
    stateDir: read.read('STATE_DIR'),
    port: read.read('PORT'),
    listenAddress,
    ...optional('apiSocket', read.read('API_SOCKET')),
    ...(password !== undefined ? { auth: { user: user!, password } } : {}),
    ...(tlsCert && tlsKey ? { tls: { certFile: tlsCert, keyFile: tlsKey } } : {}),
    metricsPublic: read.read('METRICS_PUBLIC'),
    etcd: {
      hosts: etcdHosts,
      prefix,
      ...(etcdTls.certFile || etcdTls.keyFile || etcdTls.caFile
        ? { tls: Object.fromEntries(Object.entries(etcdTls).filter(([, v]) => v !== undefined)) }
        : {}),
      ...(etcdUser && etcdPassword ? { auth: { user: etcdUser, password: etcdPassword } } : {}),
    },
    leaseTtlMs,
    keepaliveIntervalMs: timing.keepaliveIntervalMs,
    keepaliveRetry: read.read('KEEPALIVE_RETRY'),
    faultPolicy,
    addressLifetimeSec,
    handoverTimeoutMs: read.read('HANDOVER_TIMEOUT'),
    restartGraceSec: Math.ceil(read.read('RESTART_GRACE') / 1000),
    health: {
      intervalMs: read.read('HEALTH_CHECK_INTERVAL'),
      timeoutMs: read.read('HEALTH_CHECK_TIMEOUT'),
      fallCount: read.read('FAIL_COUNT_BEFORE_FAILOVER'),
      riseCount: read.read('RISE_COUNT'),
    },
    trackInterface: read.read('TRACK_INTERFACE') === 'on',
    balance: { enabled: read.read('BALANCE') === 'on', intervalMs: read.read('BALANCE_INTERVAL') },
    ...optional('execChecksDir', read.read('EXEC_CHECKS_DIR')),
    announce: {
      count: read.read('ARP_GRATUITOUS_COUNT'),
      intervalMs: read.read('ARP_GRATUITOUS_INTERVAL'),
      refreshIntervalMs: read.read('ARP_REFRESH_INTERVAL'),
    },
    hooks: {
      ...optional('exec', read.read('NOTIFY_EXEC')),
      ...optional('webhookUrl', read.read('NOTIFY_WEBHOOK_URL')),
      ...(webhookSecret !== undefined ? { webhookSecret } : {}),
      timeoutMs: read.read('HOOK_TIMEOUT'),
    },
    log: {
      level: read.read('LOG_LEVEL'),
      format: read.read('LOG_FORMAT'),
    },
  };
}
