import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError, parseConfig, parseDurationMs } from '../../config/parse.ts';
import { CONFIG_SCHEMA } from '../../config/schema.ts';

const base = { INTERFACE: 'eth0', HOSTNAME: 'node-1' };

function errorOf(env: NodeJS.ProcessEnv): ConfigError {
  try {
    parseConfig(env);
  } catch (err) {
    assert.ok(err instanceof ConfigError, String(err));
    return err;
  }
  assert.fail('expected a ConfigError');
}

describe('configuration', () => {
  it('has working defaults', () => {
    const config = parseConfig(base);
    assert.equal(config.port, 1313);
    assert.equal(config.leaseTtlMs, 3000);
    assert.equal(config.faultPolicy, 'at-least-one');
    assert.equal(config.addressLifetimeSec, 30);
    assert.deepEqual(config.etcd.hosts, ['http://127.0.0.1:2379']);
    assert.equal(config.auth, undefined);
  });

  it('reads durations as LinK v2 did', () => {
    assert.equal(parseDurationMs('500ms'), 500);
    assert.equal(parseDurationMs('3s'), 3000);
    assert.equal(parseDurationMs('2'), 2000);
    assert.equal(parseDurationMs('1m'), 60_000);
    assert.equal(parseDurationMs('soon'), null);
  });

  it('derives the lease TTL from KEEPALIVE_INTERVAL alone (5x)', () => {
    const config = parseConfig({ ...base, KEEPALIVE_INTERVAL: '1s' });
    assert.equal(config.leaseTtlMs, 5000);
    assert.equal(config.keepaliveIntervalMs, 1000);
  });

  it('caps the address lifetime by the lease under at-most-one', () => {
    assert.equal(parseConfig({ ...base, FAULT_POLICY: 'at-most-one', LEASE_TTL: '3' }).addressLifetimeSec, 3);
  });

  const bad: Array<[string, NodeJS.ProcessEnv]> = [
    ['INTERFACE', { HOSTNAME: 'x' }],
    ['PORT', { ...base, PORT: '70000' }],
    ['PORT', { ...base, PORT: 'http' }],
    ['LEASE_TTL', { ...base, LEASE_TTL: '1500ms' }],
    ['LEASE_TTL', { ...base, LEASE_TTL: 'forever' }],
    ['FAULT_POLICY', { ...base, FAULT_POLICY: 'maybe' }],
    ['USER', { ...base, PASSWORD: 'secret', USER: '' }],
    ['TLS_KEY', { ...base, TLS_CERT: '/etc/cert.pem' }],
    ['ETCD_PREFIX', { ...base, ETCD_PREFIX: 'link/' }],
    ['NOTIFY_WEBHOOK_URL', { ...base, NOTIFY_WEBHOOK_URL: 'ftp://x' }],
    ['KEEPALIVE_INTERVAL', { ...base, LEASE_TTL: '2', KEEPALIVE_INTERVAL: '3s' }],
    ['METRICS_PUBLIC', { ...base, METRICS_PUBLIC: 'perhaps' }],
    ['LEASE_TTL', { ...base, FAULT_POLICY: 'at-most-one', LEASE_TTL: '1' }],
    // Accepted once, then refused by the etcd adapter at start with an error naming no variable.
    ['KEEPALIVE_INTERVAL', { ...base, KEEPALIVE_INTERVAL: '0' }],
  ];
  for (const [variable, env] of bad) {
    it(`names ${variable} when it is bad (${JSON.stringify(env[variable] ?? 'missing')})`, () => {
      const err = errorOf(env);
      assert.equal(err.variable, variable);
      assert.equal(err.code, 'CONFIG_INVALID');
      assert.match(err.message, new RegExp(`^${variable}: `));
      assert.ok(!err.message.includes('\n'), 'one line');
    });
  }
});

describe('LinK v2 compatibility', () => {
  // Every variable of LinK v2's README (Scalingo/link v2.0.4, "Configuration").
  const V2_VARIABLES = [
    'INTERFACE',
    'HOSTNAME',
    'USER',
    'PASSWORD',
    'PORT',
    'KEEPALIVE_INTERVAL',
    'KEEPALIVE_RETRY',
    'HEALTH_CHECK_INTERVAL',
    'HEALTH_CHECK_TIMEOUT',
    'FAIL_COUNT_BEFORE_FAILOVER',
    'ARP_GRATUITOUS_INTERVAL',
    'ARP_GRATUITOUS_COUNT',
    'ETCD_HOSTS',
    'ETCD_TLS_CERT',
    'ETCD_TLS_KEY',
    'ETCD_CACERT',
  ];

  it('every LinK v2 variable is in the schema (so in docs/configuration.md)', () => {
    const names = new Set<string>(CONFIG_SCHEMA.map((spec) => spec.name));
    assert.deepEqual(
      V2_VARIABLES.filter((name) => !names.has(name)),
      [],
    );
  });

  it('a typical LinK v2 environment parses with the same meaning', () => {
    const config = parseConfig({
      INTERFACE: 'eth0',
      HOSTNAME: 'node-1',
      USER: 'admin',
      PASSWORD: 'secret',
      PORT: '1313',
      KEEPALIVE_INTERVAL: '3s',
      KEEPALIVE_RETRY: '5',
      HEALTH_CHECK_INTERVAL: '5s',
      HEALTH_CHECK_TIMEOUT: '5s',
      FAIL_COUNT_BEFORE_FAILOVER: '3',
      ARP_GRATUITOUS_INTERVAL: '1s',
      ARP_GRATUITOUS_COUNT: '3',
      ETCD_HOSTS: 'https://10.0.0.1:2379,https://10.0.0.2:2379',
      ETCD_TLS_CERT: '/etc/link/client.pem',
      ETCD_TLS_KEY: '/etc/link/client-key.pem',
      ETCD_CACERT: '/etc/link/ca.pem',
    });
    assert.equal(config.leaseTtlMs, 15_000, 'v2: lease = 5 × KEEPALIVE_INTERVAL');
    assert.equal(config.keepaliveIntervalMs, 3000);
    assert.equal(config.keepaliveRetry, 5);
    assert.equal(config.health.intervalMs, 5000);
    assert.equal(config.health.fallCount, 3);
    assert.deepEqual(config.announce, { count: 3, intervalMs: 1000, refreshIntervalMs: 0 });
    assert.deepEqual(config.auth, { user: 'admin', password: 'secret' });
    assert.deepEqual(config.etcd.hosts, ['https://10.0.0.1:2379', 'https://10.0.0.2:2379']);
    assert.equal(config.etcd.prefix, '/link');
    assert.deepEqual(config.etcd.tls, {
      certFile: '/etc/link/client.pem',
      keyFile: '/etc/link/client-key.pem',
      caFile: '/etc/link/ca.pem',
    });
  });
});

describe('configuration: a private API and secrets from files', () => {
  it('listens on loopback by default', () => {
    assert.equal(parseConfig(base).listenAddress, '127.0.0.1');
    assert.equal(parseConfig({ ...base, LISTEN_ADDRESS: '::1' }).listenAddress, '::1');
  });

  it('refuses a non-loopback LISTEN_ADDRESS without PASSWORD, naming both', () => {
    for (const address of ['0.0.0.0', '::', '198.18.0.11']) {
      const err = errorOf({ ...base, LISTEN_ADDRESS: address });
      assert.equal(err.variable, 'PASSWORD');
      assert.match(err.message, /PASSWORD/);
      assert.match(err.message, /LISTEN_ADDRESS/);
    }
    const open = parseConfig({ ...base, LISTEN_ADDRESS: '0.0.0.0', USER: 'admin', PASSWORD: 'pw' });
    assert.equal(open.listenAddress, '0.0.0.0');
  });

  it('refuses a LISTEN_ADDRESS that is not an address, and the old BIND_ADDRESS', () => {
    assert.equal(errorOf({ ...base, LISTEN_ADDRESS: 'localhost' }).variable, 'LISTEN_ADDRESS');
    const renamed = errorOf({ ...base, BIND_ADDRESS: '127.0.0.1' });
    assert.equal(renamed.variable, 'BIND_ADDRESS');
    assert.match(renamed.message, /LISTEN_ADDRESS/);
  });

  it('reads secrets from *_FILE and from $CREDENTIALS_DIRECTORY', () => {
    const files: Record<string, string> = {
      '/run/secrets/pw': 'from-file\n',
      '/run/credentials/link.service/ETCD_PASSWORD': 'etcd-secret\n',
      '/run/credentials/link.service/NOTIFY_WEBHOOK_SECRET': 'hook-key',
    };
    const readFile = (path: string): string => {
      const text = files[path];
      if (text === undefined) throw Object.assign(new Error('no such file'), { code: 'ENOENT' });
      return text;
    };
    const config = parseConfig(
      {
        ...base,
        USER: 'admin',
        PASSWORD_FILE: '/run/secrets/pw',
        ETCD_USER: 'link',
        CREDENTIALS_DIRECTORY: '/run/credentials/link.service',
      },
      readFile,
    );
    assert.deepEqual(config.auth, { user: 'admin', password: 'from-file' });
    assert.deepEqual(config.etcd.auth, { user: 'link', password: 'etcd-secret' });
    assert.equal(config.hooks.webhookSecret, 'hook-key');
  });

  it('names the *_FILE variable whose file cannot be read, and refuses both forms at once', () => {
    const missing = errorOf({ ...base, USER: 'a', PASSWORD_FILE: '/nonexistent/link-password' });
    assert.equal(missing.variable, 'PASSWORD_FILE');
    assert.match(missing.message, /\/nonexistent\/link-password/);
    const both = errorOf({ ...base, USER: 'a', PASSWORD: 'x', PASSWORD_FILE: '/etc/hostname' });
    assert.equal(both.variable, 'PASSWORD');
  });
});

describe('defaults live in the schema', () => {
  /** Derived from another variable, with no fixed starting point of its own (see its defaultText). */
  const DERIVED_ONLY = new Set(['KEEPALIVE_INTERVAL']);

  it('every number, duration, choice and flag has its default in config/schema.ts', () => {
    const missing = CONFIG_SCHEMA.filter(
      (spec) =>
        ['int', 'duration', 'enum', 'bool'].includes(spec.kind) &&
        !('default' in spec) &&
        !DERIVED_ONLY.has(spec.name),
    ).map((spec) => spec.name);
    assert.deepEqual(missing, [], 'a default the parser computes from nothing is a second home');
  });

  it('leaving a variable unset is the same as setting it to its schema default', () => {
    const unset = parseConfig(base);
    for (const spec of CONFIG_SCHEMA) {
      if (!('default' in spec)) continue;
      assert.deepEqual(parseConfig({ ...base, [spec.name]: spec.default }), unset, spec.name);
    }
  });
});
