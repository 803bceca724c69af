import { spawn } from 'node:child_process';
import { chmodSync, closeSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Lab, LabHost } from './lab.ts';
import { run } from './netns.ts';

/**
 * keepalived and ucarp in the lab's host namespaces, for the failover benchmark's comparison.
 * Each daemon runs inside its host's namespace on eth0 (VRRP/CARP multicast stays on the lab
 * bridge), with its configuration, scripts, pid files and log in the lab folder (never /etc or
 * /run), started detached like the lab's agents. The LinK agents of the lab are not involved:
 * the benchmark stops them before starting these.
 */

export type VrrpKind = 'keepalived' | 'ucarp';

export interface VrrpSpec {
  kind: VrrpKind;
  /** false: the Debian sample's values; true: the fastest stable settings (see docs/performance.md). */
  tuned: boolean;
  /** VIP with its prefix, e.g. 198.18.0.100/32. */
  vip: string;
}

/** VRRP router id / CARP vhid used in the lab (any value 1–255; one instance only). */
const VRID = 51;
const PASSWORD = 'linkbench';

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function waitUntil(what: string, check: () => boolean | Promise<boolean>, timeoutMs: number) {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`vrrp: timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/**
 * keepalived.conf as the Debian sample (/usr/share/doc/keepalived/samples) writes it: no state
 * (BACKUP), nopreempt, priority 100, advert_int 1, VRRPv2. Tuned: VRRPv3 with advert_int 0.1
 * (centisecond adverts; master down after 3 × 0.1 s + skew).
 */
export function keepalivedConfig(host: LabHost, spec: VrrpSpec): string {
  const [address = '', prefix = '32'] = spec.vip.split('/');
  return [
    'global_defs {',
    `  router_id ${host.name}`,
    ...(spec.tuned ? ['  vrrp_version 3'] : []),
    '}',
    '',
    'vrrp_instance VI_1 {',
    '  interface eth0',
    `  virtual_router_id ${VRID}`,
    '  nopreempt',
    '  priority 100',
    `  advert_int ${spec.tuned ? '0.1' : '1'}`,
    '  virtual_ipaddress {',
    `    ${address}/${prefix} dev eth0`,
    '  }',
    '}',
    '',
  ].join('\n');
}

/**
 * ucarp's command line. Defaults (Debian's README example): advbase 1 s, advskew 0, deadratio 3.
 * Tuned: advbase 1 s is ucarp's floor (whole seconds), so only deadratio drops, to 2.
 */
export function ucarpArgs(host: LabHost, spec: VrrpSpec, dir: string): string[] {
  const address = spec.vip.split('/')[0] ?? '';
  return [
    `--interface=eth0`,
    `--srcip=${host.ip}`,
    `--vhid=${VRID}`,
    `--pass=${PASSWORD}`,
    `--addr=${address}`,
    `--upscript=${join(dir, 'ucarp-up.sh')}`,
    `--downscript=${join(dir, 'ucarp-down.sh')}`,
    '--shutdown',
    '--advbase=1',
    '--advskew=0',
    `--deadratio=${spec.tuned ? 2 : 3}`,
  ];
}

/** The daemons of one VRRP system, one per lab host. */
export class VrrpDaemons {
  private readonly pids = new Map<string, number>();

  constructor(
    private readonly lab: Lab,
    readonly spec: VrrpSpec,
  ) {
    if (spec.kind === 'ucarp') {
      const prefix = spec.vip.split('/')[1] ?? '32';
      // ucarp calls these with: interface, VIP, xparam.
      const up = join(lab.dir, 'ucarp-up.sh');
      const down = join(lab.dir, 'ucarp-down.sh');
      writeFileSync(up, `#!/bin/sh\nexec ip addr add "$2/${prefix}" dev "$1"\n`);
      writeFileSync(down, `#!/bin/sh\nexec ip addr del "$2/${prefix}" dev "$1"\n`);
      chmodSync(up, 0o755);
      chmodSync(down, 0o755);
    } else {
      for (const host of lab.hosts) {
        writeFileSync(this.file(host, 'conf'), keepalivedConfig(host, spec));
      }
    }
  }

  get label(): string {
    return `${this.spec.kind}${this.spec.tuned ? ' tuned' : ''}`;
  }

  private file(host: LabHost, ext: string): string {
    return join(this.lab.dir, `${this.spec.kind}-${host.name}.${ext}`);
  }

  /** Starts the daemon of a host, detached in its namespace (foreground mode, log in the lab dir). */
  async start(name: string): Promise<void> {
    const host = this.lab.host(name);
    if (this.running(name)) throw new Error(`vrrp: ${this.spec.kind} of ${name} is already running`);
    const args =
      this.spec.kind === 'keepalived'
        ? [
            '--dont-fork',
            '--log-console',
            '--log-detail',
            '--no-syslog',
            '--vrrp',
            `--use-file=${this.file(host, 'conf')}`,
            `--pid=${this.file(host, 'pid')}`,
            `--vrrp_pid=${this.file(host, 'vrrp.pid')}`,
            `--checkers_pid=${this.file(host, 'checkers.pid')}`,
            `--bfd_pid=${this.file(host, 'bfd.pid')}`,
          ]
        : ucarpArgs(host, this.spec, this.lab.dir);
    // Pid files of a killed run would make keepalived refuse to start ("already running").
    for (const ext of ['pid', 'vrrp.pid', 'checkers.pid', 'bfd.pid'])
      rmSync(this.file(host, ext), { force: true });
    const fd = openSync(this.file(host, 'log'), 'a');
    try {
      const child = spawn('ip', ['netns', 'exec', host.ns, this.spec.kind, ...args], {
        detached: true,
        stdio: ['ignore', fd, fd],
      });
      child.unref();
      if (!child.pid) throw new Error(`vrrp: could not start ${this.spec.kind} in ${host.ns}`);
      this.pids.set(name, child.pid);
    } finally {
      closeSync(fd);
    }
    await waitUntil(
      `${this.spec.kind} of ${name} to run`,
      async () => {
        const pid = this.pids.get(name);
        if (pid === undefined || !alive(pid)) {
          throw new Error(`vrrp: ${this.spec.kind} of ${name} exited; see ${this.file(host, 'log')}`);
        }
        // keepalived is up once its VRRP child exists; ucarp at once.
        return this.spec.kind === 'ucarp' || (await this.processes(name)).length >= 2;
      },
      10_000,
    );
  }

  running(name: string): boolean {
    const pid = this.pids.get(name);
    return pid !== undefined && alive(pid);
  }

  /** Pids of this system's processes in the host's namespace (keepalived: parent and VRRP child). */
  async processes(name: string): Promise<number[]> {
    const { stdout } = await run('ip', ['netns', 'pids', this.lab.host(name).ns]);
    return stdout
      .split(/\s+/)
      .filter(Boolean)
      .map(Number)
      .filter((pid) => {
        try {
          return readFileSync(`/proc/${pid}/comm`, 'utf8').trim() === this.spec.kind;
        } catch {
          return false;
        }
      });
  }

  /**
   * SIGKILL: every process of the daemon at once (a crash: keepalived's parent would otherwise
   * respawn its VRRP child, and a VRRP child whose parent died would resign cleanly).
   * SIGTERM: the parent only, as systemd stops it (keepalived resigns with priority 0, ucarp
   * runs its down script). Resolves once all of them have exited.
   */
  async signal(name: string, signal: 'SIGKILL' | 'SIGTERM'): Promise<void> {
    const targets = signal === 'SIGKILL' ? await this.processes(name) : [this.pids.get(name) ?? -1];
    const send = (sig: NodeJS.Signals) => {
      for (const pid of targets) {
        try {
          process.kill(pid, sig);
        } catch {
          /* already gone */
        }
      }
    };
    // Frozen first, so no process sees another die (keepalived's VRRP child gets SIGTERM when
    // its parent dies and would resign with priority 0: a graceful stop, not a crash).
    if (signal === 'SIGKILL') send('SIGSTOP');
    send(signal);
    await waitUntil(
      `${this.spec.kind} of ${name} to exit`,
      async () => (await this.processes(name)).length === 0,
      10_000,
    );
  }

  /** Freezes (SIGSTOP) or resumes (SIGCONT) every process of the host's daemon, as a VM pause does. */
  async freeze(name: string, frozen: boolean): Promise<void> {
    for (const pid of await this.processes(name)) {
      try {
        process.kill(pid, frozen ? 'SIGSTOP' : 'SIGCONT');
      } catch {
        /* already gone */
      }
    }
  }

  /** Removes the VIP a killed daemon left behind (what an operator does after a crash). */
  async cleanAddress(name: string): Promise<void> {
    const host = this.lab.host(name);
    await run('ip', ['-n', host.ns, 'addr', 'del', this.spec.vip, 'dev', 'eth0']).catch(() => undefined);
  }

  async stopAll(): Promise<void> {
    for (const host of this.lab.hosts) {
      if ((await this.processes(host.name)).length > 0) await this.signal(host.name, 'SIGKILL');
      await this.cleanAddress(host.name);
    }
  }
}
