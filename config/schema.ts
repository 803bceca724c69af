import { hostname as osHostname } from 'node:os';

/**
 * Every environment variable LinK reads, in one place: type, default, range and description.
 * The agent's parser, `linkctl agent --check` and docs/configuration.md all derive from it.
 * Durations accept Go-style strings as LinK v2 did (`500ms`, `3s`, `1m`) or a bare number of
 * seconds.
 */

export type VarKind = 'string' | 'int' | 'duration' | 'enum' | 'bool' | 'list' | 'path' | 'url';

export interface VarSpec {
  name: string;
  kind: VarKind;
  description: string;
  /** Default as an operator would write it; absent = no default. */
  default?: string;
  /**
   * What the default is when it is computed rather than fixed (docs show it instead of
   * `default`, which is then the fixed part the computation starts from).
   */
  defaultText?: string;
  required?: boolean;
  min?: number;
  max?: number;
  values?: readonly string[];
  secret?: boolean;
  group: 'Agent' | 'API' | 'etcd' | 'Election' | 'Health checks' | 'Announcements' | 'Hooks' | 'Logs';
}

export const CONFIG_SCHEMA = [
  {
    name: 'INTERFACE',
    kind: 'string',
    group: 'Agent',
    required: true,
    description: 'Network interface the VIPs are bound to and announced on (e.g. `eth0`).',
  },
  {
    name: 'HOSTNAME',
    kind: 'string',
    group: 'Agent',
    defaultText: 'the OS hostname',
    description:
      'Name of this host in etcd (lock values, membership and configuration keys). Unique per host.',
  },
  {
    name: 'STATE_DIR',
    kind: 'path',
    group: 'Agent',
    default: '/var/lib/link',
    description:
      'Writable folder for the event journals and the local copy of the configuration. If it cannot be written (read-only, full, missing) the agent runs all the same, serving every VIP: journals in memory only, `/healthz` 503 naming the path.',
  },
  {
    name: 'PORT',
    kind: 'int',
    group: 'API',
    default: '1313',
    min: 1,
    max: 65535,
    description: 'TCP port of the REST API and the visualiser.',
  },
  {
    name: 'LISTEN_ADDRESS',
    kind: 'string',
    group: 'API',
    default: '127.0.0.1',
    description:
      'Address the API listens on (`127.0.0.1`, `::1`, `0.0.0.0`, `::` or one of this host’s addresses). Any address but loopback needs PASSWORD.',
  },
  {
    name: 'API_SOCKET',
    kind: 'path',
    group: 'API',
    description: 'Also serve the API on this Unix socket (the lab reaches agents in namespaces this way).',
  },
  {
    name: 'USER',
    kind: 'string',
    group: 'API',
    description:
      'Basic-auth user of the API. Auth is on when PASSWORD is set. Beware: login shells and systemd set USER too.',
  },
  {
    name: 'PASSWORD',
    kind: 'string',
    group: 'API',
    secret: true,
    description: 'Basic-auth password of the API; setting it turns auth on.',
  },
  {
    name: 'PASSWORD_FILE',
    kind: 'path',
    group: 'API',
    description:
      'File holding PASSWORD (one line), instead of the variable; systemd’s `$CREDENTIALS_DIRECTORY/PASSWORD` is read when neither is set.',
  },
  {
    name: 'TLS_CERT',
    kind: 'path',
    group: 'API',
    description: 'Serve the API over HTTPS with this certificate (PEM); needs TLS_KEY.',
  },
  {
    name: 'TLS_KEY',
    kind: 'path',
    group: 'API',
    secret: true,
    description: 'Private key (PEM) for TLS_CERT.',
  },
  {
    name: 'METRICS_PUBLIC',
    kind: 'bool',
    group: 'API',
    default: 'false',
    description: 'Serve `/metrics` without basic auth.',
  },
  {
    name: 'ETCD_HOSTS',
    kind: 'list',
    group: 'etcd',
    default: 'http://127.0.0.1:2379',
    description: 'Comma-separated etcd endpoints (`https://` when ETCD_CACERT is set).',
  },
  {
    name: 'ETCD_PREFIX',
    kind: 'string',
    group: 'etcd',
    default: '/link',
    description: 'Prefix of every key LinK writes in etcd (LinK v2 uses `/link`).',
  },
  { name: 'ETCD_TLS_CERT', kind: 'path', group: 'etcd', description: 'Client certificate (PEM) for etcd.' },
  {
    name: 'ETCD_TLS_KEY',
    kind: 'path',
    group: 'etcd',
    secret: true,
    description: 'Client key (PEM) for etcd.',
  },
  {
    name: 'ETCD_CACERT',
    kind: 'path',
    group: 'etcd',
    description: 'CA bundle (PEM) that signed the etcd servers.',
  },
  { name: 'ETCD_USER', kind: 'string', group: 'etcd', description: 'etcd user, when etcd auth is enabled.' },
  {
    name: 'ETCD_PASSWORD',
    kind: 'string',
    group: 'etcd',
    secret: true,
    description: 'Password of ETCD_USER.',
  },
  {
    name: 'ETCD_PASSWORD_FILE',
    kind: 'path',
    group: 'etcd',
    description:
      'File holding ETCD_PASSWORD, instead of the variable; `$CREDENTIALS_DIRECTORY/ETCD_PASSWORD` is read when neither is set.',
  },
  {
    name: 'LEASE_TTL',
    kind: 'duration',
    group: 'Election',
    default: '3s',
    defaultText: '3s, or 5 × KEEPALIVE_INTERVAL when only that is set',
    min: 1,
    max: 3600,
    description:
      'TTL of the agent’s etcd lease: how long a dead host keeps its VIPs. Kept alive every TTL/3. Whole seconds, ≥ 1.',
  },
  {
    name: 'KEEPALIVE_INTERVAL',
    kind: 'duration',
    group: 'Election',
    defaultText: 'LEASE_TTL / 3',
    description: 'LinK v2’s name for the keep-alive period; when set without LEASE_TTL, LEASE_TTL = 5 × it.',
  },
  {
    name: 'KEEPALIVE_RETRY',
    kind: 'int',
    group: 'Election',
    default: '3',
    min: 0,
    max: 100,
    description: 'Failed etcd calls in a row tolerated before the session is declared in fault.',
  },
  {
    name: 'FAULT_POLICY',
    kind: 'enum',
    group: 'Election',
    default: 'at-least-one',
    values: ['at-least-one', 'at-most-one'],
    description:
      'What a host that loses etcd does: `at-least-one` binds its VIPs (no outage, two holders possible), `at-most-one` drops them before its lease can expire.',
  },
  {
    name: 'ADDRESS_LIFETIME',
    kind: 'duration',
    group: 'Election',
    default: '30s',
    defaultText: '30s (at-least-one); the lease TTL (at-most-one)',
    min: 0,
    max: 86400,
    description:
      'Kernel lifetime of a bound VIP (kernel fencing). While etcd is reachable it never outlives the lease, so a killed or frozen agent’s address disappears about when its lock does; during an etcd outage `at-least-one` holds the VIP this long, refreshed while the agent lives. 0 = no lifetime at all.',
  },
  {
    name: 'HANDOVER_TIMEOUT',
    kind: 'duration',
    group: 'Election',
    default: '5s',
    min: 0,
    max: 600,
    description: 'How long DELETE and failover wait for another host to take the VIP.',
  },
  {
    name: 'BALANCE',
    kind: 'enum',
    group: 'Election',
    default: 'off',
    values: ['on', 'off'],
    description:
      'Spread the VIPs whose candidates share one priority evenly: an agent owning 2 or more than another candidate hands one over (zero-gap), one per BALANCE_INTERVAL (docs/placement.md).',
  },
  {
    name: 'BALANCE_INTERVAL',
    kind: 'duration',
    group: 'Election',
    default: '2s',
    min: 1,
    max: 3600,
    description: 'How often a BALANCE=on agent looks at the cluster, and at most one move each time.',
  },
  {
    name: 'RESTART_GRACE',
    kind: 'duration',
    group: 'Election',
    default: '10s',
    min: 1,
    max: 600,
    description:
      'How long a restart (SIGUSR2, then start) may take and keep this host’s VIPs: its locks move to a lease of this TTL and its addresses get this lifetime. A host that does not come back loses its VIPs after it.',
  },
  {
    name: 'HEALTH_CHECK_INTERVAL',
    kind: 'duration',
    group: 'Health checks',
    default: '2s',
    min: 0.05,
    max: 3600,
    description: 'Default period of a VIP’s health checks (a VIP’s `healthcheck_interval` overrides it).',
  },
  {
    name: 'HEALTH_CHECK_TIMEOUT',
    kind: 'duration',
    group: 'Health checks',
    default: '5s',
    min: 0.01,
    max: 3600,
    description: 'Timeout of one health check.',
  },
  {
    name: 'FAIL_COUNT_BEFORE_FAILOVER',
    kind: 'int',
    group: 'Health checks',
    default: '3',
    min: 1,
    max: 1000,
    description: 'Failed health-check rounds in a row before the VIP goes FAILING (fall).',
  },
  {
    name: 'RISE_COUNT',
    kind: 'int',
    group: 'Health checks',
    default: '1',
    min: 1,
    max: 1000,
    description: 'Successful rounds in a row before a FAILING VIP competes again (rise).',
  },
  {
    name: 'TRACK_INTERFACE',
    kind: 'enum',
    group: 'Health checks',
    default: 'on',
    values: ['on', 'off'],
    description:
      'Follow INTERFACE’s link from netlink notifications: when it goes down or loses carrier every VIP gets `health_check_fail` (source `link`) at once; when it is back, `health_check_success` after RISE_COUNT rounds of HEALTH_CHECK_INTERVAL, once etcd has answered since (a host cut from its switch was cut from etcd too).',
  },
  {
    name: 'EXEC_CHECKS_DIR',
    kind: 'path',
    group: 'Health checks',
    description:
      'Folder of the programs EXEC health checks may run (owned by root, not writable by the agent’s user). Unset: EXEC checks are refused.',
  },
  {
    name: 'ARP_GRATUITOUS_COUNT',
    kind: 'int',
    group: 'Announcements',
    default: '3',
    min: 1,
    max: 100,
    description: 'Gratuitous ARPs / neighbour advertisements sent when a VIP is taken.',
  },
  {
    name: 'ARP_GRATUITOUS_INTERVAL',
    kind: 'duration',
    group: 'Announcements',
    default: '100ms',
    min: 0,
    max: 60,
    description: 'Time between two announcements of one burst.',
  },
  {
    name: 'ARP_REFRESH_INTERVAL',
    kind: 'duration',
    group: 'Announcements',
    default: '0',
    min: 0,
    max: 86400,
    description: 'Announce again every this long while owner; 0 = off.',
  },
  {
    name: 'NOTIFY_EXEC',
    kind: 'path',
    group: 'Hooks',
    description: 'Command run (no shell) on every state change, with LINK_* variables in its environment.',
  },
  {
    name: 'NOTIFY_WEBHOOK_URL',
    kind: 'url',
    group: 'Hooks',
    description: 'URL POSTed a JSON body on every state change.',
  },
  {
    name: 'NOTIFY_WEBHOOK_SECRET',
    kind: 'string',
    group: 'Hooks',
    secret: true,
    description: 'HMAC-SHA256 key signing webhook bodies (`X-Link-Signature`).',
  },
  {
    name: 'NOTIFY_WEBHOOK_SECRET_FILE',
    kind: 'path',
    group: 'Hooks',
    description:
      'File holding NOTIFY_WEBHOOK_SECRET, instead of the variable; `$CREDENTIALS_DIRECTORY/NOTIFY_WEBHOOK_SECRET` is read when neither is set.',
  },
  {
    name: 'HOOK_TIMEOUT',
    kind: 'duration',
    group: 'Hooks',
    default: '10s',
    min: 0.1,
    max: 600,
    description: 'Timeout of one hook run or webhook call.',
  },
  {
    name: 'LOG_LEVEL',
    kind: 'enum',
    group: 'Logs',
    default: 'info',
    values: ['error', 'warn', 'info', 'debug'],
    description: 'Least severe level logged.',
  },
  {
    name: 'LOG_FORMAT',
    kind: 'enum',
    group: 'Logs',
    default: 'json',
    values: ['json', 'pretty'],
    description: 'JSON lines for machines, or coloured text for people.',
  },
] as const satisfies readonly VarSpec[];

export type VarName = (typeof CONFIG_SCHEMA)[number]['name'];

export function defaultHostname(): string {
  return osHostname();
}
