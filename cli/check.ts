import { constants as fsConstants } from 'node:fs';
import { access, mkdtemp, rm, stat } from 'node:fs/promises';
import { createServer } from 'node:net';
import { dirname, join } from 'node:path';
import { checkHostName as probeHostName, checkEtcd as probeEtcd } from '../adapters/etcd/index.ts';
import { createExecChecksPolicy } from '../adapters/health/index.ts';
import {
  checkCapabilities as probeCapabilities,
  checkInterface as probeInterface,
} from '../adapters/net/index.ts';
import { createChildSandbox, currentInstance, processRunning } from '../adapters/process/index.ts';
import {
  MIN_ETCD_VERSION,
  NEEDED_CAPABILITIES,
  checkExitCode,
  formatCheckReport,
  validateEnvironment,
  type CheckResult,
} from '../config/check.ts';
import type { AgentConfig } from '../config/parse.ts';

/**
 * `linkctl agent --check`: validates the whole configuration and the host around it without
 * changing anything (the state directory check creates and removes one temporary file), prints
 * one line per check and resolves with the exit code (0 all good, 1 something failed).
 * Run it as the agent runs: same user, same capabilities, same environment, same namespace.
 */

export interface CheckOptions {
  /** Deadline of the etcd check (ms); default 3000. */
  etcdTimeoutMs?: number;
  /** Where /proc/self/status is read from (tests). */
  procStatusFile?: string;
}

export async function runCheck(
  env: NodeJS.ProcessEnv,
  write: (text: string) => void = (text) => process.stdout.write(text),
  options: CheckOptions = {},
): Promise<0 | 1> {
  const results = await collectChecks(env, options);
  write(formatCheckReport(results));
  return checkExitCode(results);
}

export async function collectChecks(
  env: NodeJS.ProcessEnv,
  options: CheckOptions = {},
): Promise<CheckResult[]> {
  const { config, fallback, errors } = validateEnvironment(env);
  const results: CheckResult[] = [];
  if (errors.length === 0) {
    results.push({ name: 'configuration', status: 'ok', message: summary(config!) });
  } else {
    for (const err of errors) results.push({ name: 'configuration', status: 'fail', message: err.message });
  }
  const bad = new Set(errors.map((e) => e.variable));
  /** Runs a check only when the variables it reads are valid. */
  const guarded = async (
    name: string,
    variables: readonly string[],
    check: (c: AgentConfig) => Promise<CheckResult> | CheckResult,
  ) => {
    const invalid = variables.filter((v) => bad.has(v));
    if (!fallback || invalid.length > 0) {
      results.push({
        name,
        status: 'skip',
        message: `not checked: ${invalid.length > 0 ? invalid.join(', ') : 'the configuration'} is invalid`,
      });
      return;
    }
    try {
      results.push(await check(fallback));
    } catch (err) {
      results.push({ name, status: 'fail', message: describe(err) });
    }
  };

  await guarded(
    'files',
    ['TLS_CERT', 'TLS_KEY', 'ETCD_TLS_CERT', 'ETCD_TLS_KEY', 'ETCD_CACERT', 'NOTIFY_EXEC'],
    (c) => checkFiles(c),
  );
  await guarded('EXEC checks', ['EXEC_CHECKS_DIR', 'NOTIFY_EXEC'], (c) => checkChildren(c));
  await guarded('interface', ['INTERFACE'], (c) => checkInterface(c.interfaceName));
  results.push(await checkCapabilities(options.procStatusFile));
  await guarded(
    'etcd',
    [
      'ETCD_HOSTS',
      'ETCD_PREFIX',
      'ETCD_TLS_CERT',
      'ETCD_TLS_KEY',
      'ETCD_CACERT',
      'ETCD_USER',
      'ETCD_PASSWORD',
    ],
    (c) => checkEtcd(c, options.etcdTimeoutMs ?? 3000),
  );
  if (results.at(-1)?.name === 'etcd' && results.at(-1)?.status === 'ok') {
    await guarded('HOSTNAME', ['HOSTNAME'], (c) => checkHostName(c, options.etcdTimeoutMs ?? 3000));
  } else results.push({ name: 'HOSTNAME', status: 'skip', message: 'not checked: etcd is not reachable' });
  await guarded('state directory', ['STATE_DIR'], (c) => checkStateDir(c.stateDir));
  await guarded('API port', ['PORT', 'LISTEN_ADDRESS'], (c) => checkPort(c.port, c.listenAddress));
  return results;
}

function describe(err: unknown): string {
  const code = typeof err === 'object' && err !== null && 'code' in err ? `${String(err.code)}: ` : '';
  return `${code}${err instanceof Error ? err.message : String(err)}`;
}

function summary(config: AgentConfig): string {
  return [
    'every variable is valid',
    `(INTERFACE=${config.interfaceName}`,
    `HOSTNAME=${config.hostname}`,
    `ETCD_HOSTS=${config.etcd.hosts.join(',')}`,
    `LEASE_TTL=${config.leaseTtlMs / 1000}s`,
    `FAULT_POLICY=${config.faultPolicy})`,
  ].join(' ');
}

async function checkFiles(config: AgentConfig): Promise<CheckResult> {
  const files: [string, string | undefined, number][] = [
    ['TLS_CERT', config.tls?.certFile, fsConstants.R_OK],
    ['TLS_KEY', config.tls?.keyFile, fsConstants.R_OK],
    ['ETCD_TLS_CERT', config.etcd.tls?.certFile, fsConstants.R_OK],
    ['ETCD_TLS_KEY', config.etcd.tls?.keyFile, fsConstants.R_OK],
    ['ETCD_CACERT', config.etcd.tls?.caFile, fsConstants.R_OK],
    ['NOTIFY_EXEC', config.hooks.exec, fsConstants.X_OK],
  ];
  const present = files.filter((f): f is [string, string, number] => f[1] !== undefined);
  const problems: string[] = [];
  for (const [variable, path, mode] of present) {
    try {
      await access(path, mode);
    } catch (err) {
      const code = typeof err === 'object' && err !== null && 'code' in err ? String(err.code) : 'ERROR';
      problems.push(
        `${variable}=${path} is not ${mode === fsConstants.X_OK ? 'executable' : 'readable'} (${code})`,
      );
    }
  }
  if (problems.length > 0) return { name: 'files', status: 'fail', message: problems.join('; ') };
  return {
    name: 'files',
    status: 'ok',
    message:
      present.length === 0
        ? 'no certificate, key or hook configured'
        : `${present.map(([v]) => v).join(', ')} readable by uid ${process.getuid?.() ?? '?'}`,
  };
}

/**
 * EXEC_CHECKS_DIR (unset: EXEC checks refused; set: a root-owned folder nobody else can write)
 * and, when anything will run (EXEC checks or NOTIFY_EXEC), the sandbox that confines it.
 */
async function checkChildren(config: AgentConfig): Promise<CheckResult> {
  const name = 'EXEC checks';
  const dir = config.execChecksDir;
  const folder = createExecChecksPolicy(dir).folder();
  if (dir !== undefined && !folder.ok) return { name, status: 'fail', message: folder.message };
  if (dir !== undefined || config.hooks.exec !== undefined) {
    const unavailable = await createChildSandbox().check();
    if (unavailable) return { name, status: 'fail', message: unavailable.message };
  }
  const confined = "run without capabilities nor the agent's environment (setpriv)";
  if (dir === undefined) {
    return {
      name,
      status: 'ok',
      message: `refused: EXEC_CHECKS_DIR is not set${config.hooks.exec ? `; NOTIFY_EXEC will ${confined}` : ''}`,
    };
  }
  return {
    name,
    status: 'ok',
    message: `EXEC_CHECKS_DIR=${dir} is root's and writable by nobody else; its programs ${confined}`,
  };
}

function checkInterface(interfaceName: string): CheckResult {
  const state = probeInterface(interfaceName);
  if (state === 'missing') {
    return {
      name: 'interface',
      status: 'fail',
      message: `${interfaceName} does not exist in this network namespace (INTERFACE; see ip link)`,
    };
  }
  if (state === 'down') {
    return {
      name: 'interface',
      status: 'fail',
      message: `${interfaceName} exists but is down (ip link set ${interfaceName} up)`,
    };
  }
  if (state === 'no-carrier') {
    return {
      name: 'interface',
      status: 'fail',
      message: `${interfaceName} is up but has no carrier (cable, switch port or veth peer down)`,
    };
  }
  return { name: 'interface', status: 'ok', message: `${interfaceName} exists and is up` };
}

async function checkCapabilities(procStatusFile?: string): Promise<CheckResult> {
  const check = await probeCapabilities(procStatusFile);
  if (!check.ok && check.capEff === null) {
    return { name: 'capabilities', status: 'fail', message: 'no CapEff line in /proc/self/status' };
  }
  if (!check.ok) {
    const { missing, capEff } = check;
    return {
      name: 'capabilities',
      status: 'fail',
      message:
        `missing ${missing.join(' and ')} (effective set 0x${capEff.toString(16)}); run as root or grant ` +
        `them, e.g. systemd AmbientCapabilities=CAP_NET_ADMIN CAP_NET_RAW`,
    };
  }
  return {
    name: 'capabilities',
    status: 'ok',
    message: `${NEEDED_CAPABILITIES.join(' and ')} effective (uid ${process.getuid?.() ?? '?'})`,
  };
}

async function checkEtcd(config: AgentConfig, timeoutMs: number): Promise<CheckResult> {
  const name = 'etcd';
  const how = [
    config.etcd.tls?.caFile ? 'TLS' : 'plain text',
    ...(config.etcd.tls?.certFile ? ['client certificate'] : []),
    ...(config.etcd.auth ? [`user ${config.etcd.auth.user}`] : []),
  ].join(', ');
  const hosts = config.etcd.hosts.join(',');
  const check = await probeEtcd({
    hosts: config.etcd.hosts,
    ...(config.etcd.tls ? { tls: config.etcd.tls } : {}),
    ...(config.etcd.auth
      ? { auth: { username: config.etcd.auth.user, password: config.etcd.auth.password } }
      : {}),
    callTimeoutMs: timeoutMs,
    prefix: config.etcd.prefix,
    minimumVersion: MIN_ETCD_VERSION,
    what: `etcd at ${hosts} (${how})`,
  });
  if (check.ok) {
    return {
      name,
      status: 'ok',
      message: `${hosts} reachable (${how}), etcd ${check.version} ≥ ${MIN_ETCD_VERSION}, ${config.etcd.prefix}/ readable`,
    };
  }
  switch (check.reason) {
    case 'options':
      return { name, status: 'fail', message: describe(check.error) };
    case 'version':
      return {
        name,
        status: 'fail',
        message: `${hosts} runs etcd ${check.version}; LinK needs ≥ ${MIN_ETCD_VERSION}`,
      };
    case 'call':
      return { name, status: 'fail', message: `${check.error.code}: ${check.error.message}` };
  }
}

/** What a start would say about HOSTNAME: another live agent registered under it refuses it. */
async function checkHostName(config: AgentConfig, timeoutMs: number): Promise<CheckResult> {
  const name = 'HOSTNAME';
  const check = await probeHostName({
    hosts: config.etcd.hosts,
    ...(config.etcd.tls ? { tls: config.etcd.tls } : {}),
    ...(config.etcd.auth
      ? { auth: { username: config.etcd.auth.user, password: config.etcd.auth.password } }
      : {}),
    callTimeoutMs: timeoutMs,
    prefix: config.etcd.prefix,
    hostname: config.hostname,
    claim: { instance: currentInstance(), running: processRunning },
  });
  if (!check.ok) return { name, status: 'fail', message: `${check.error.code}: ${check.error.message}` };
  if (check.other !== null) {
    return {
      name,
      status: 'fail',
      message: `${config.hostname} is taken: ${check.other} runs as ${config.hostname} under a live lease; an agent started now refuses to (ETCD_HOSTNAME_TAKEN): give this host its own HOSTNAME, or stop that agent`,
    };
  }
  return { name, status: 'ok', message: `no other live agent is registered as ${config.hostname}` };
}

async function nearestExisting(path: string): Promise<string> {
  for (let p = path; ; p = dirname(p)) {
    try {
      await stat(p);
      return p;
    } catch {
      if (dirname(p) === p) return p;
    }
  }
}

async function checkStateDir(stateDir: string): Promise<CheckResult> {
  const name = 'state directory';
  const existing = await nearestExisting(stateDir);
  if (existing !== stateDir) {
    try {
      if (!(await stat(existing)).isDirectory()) throw new Error('not a directory');
      await access(existing, fsConstants.W_OK | fsConstants.X_OK);
      return {
        name,
        status: 'ok',
        message: `${stateDir} does not exist yet; the agent can create it in ${existing}`,
      };
    } catch {
      return {
        name,
        status: 'fail',
        message: `${stateDir} does not exist and ${existing} is not a writable directory (create it, owned by uid ${process.getuid?.() ?? '?'})`,
      };
    }
  }
  let probe: string | undefined;
  try {
    probe = await mkdtemp(join(stateDir, '.link-check-'));
    return { name, status: 'ok', message: `${stateDir} is writable` };
  } catch (err) {
    return { name, status: 'fail', message: `${stateDir} is not writable: ${describe(err)}` };
  } finally {
    if (probe) await rm(probe, { recursive: true, force: true });
  }
}

function checkPort(port: number, host: string): Promise<CheckResult> {
  const name = 'API port';
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', (err: NodeJS.ErrnoException) => {
      const why =
        err.code === 'EADDRINUSE'
          ? 'is in use (another agent? see ss -ltnp)'
          : err.code === 'EACCES'
            ? 'needs CAP_NET_BIND_SERVICE (ports below 1024); pick PORT ≥ 1024'
            : err.code === 'EADDRNOTAVAIL'
              ? 'cannot be bound: LISTEN_ADDRESS is not an address of this host'
              : `cannot be bound (${err.code ?? err.message})`;
      resolve({ name, status: 'fail', message: `${host}:${port} ${why}` });
    });
    server.listen({ port, host, exclusive: true }, () => {
      server.close(() => resolve({ name, status: 'ok', message: `${host}:${port} is free` }));
    });
  });
}
