/**
 * One host name, one agent (adapters/etcd/README.md, "Host records"). Each agent's host record
 * at `<prefix>/agents/<hostname>` carries the agent process's `instance`; a starting agent reads
 * the record before it touches its lease and refuses to start when another live agent holds the
 * name. Pure: the session reads the key, the process adapter says what is running here.
 */

/** Who an agent process is, as its host record says it (adapters/process/instance.ts makes one). */
export interface AgentInstance {
  /** Random, per process start. */
  id: string;
  /** The running system it started on: the kernel's boot id and its network namespace. */
  system: string;
  pid: number;
  /** The process's start time (clock ticks since boot, /proc/<pid>/stat), against pid reuse. */
  started: string;
}

/** What a session checks its host name with (cli/agent.ts provides it). */
export interface HostClaim {
  instance: AgentInstance;
  /** Whether the process `pid`, started at `started`, runs on this system now. */
  running(pid: number, started: string): boolean;
}

/**
 * The other live agent registered under our host name, described in a few words, or null when
 * starting is fine. The record exists only while its lease lives (etcd deletes it with the lease).
 *
 * - no record, or one without `instance` (an older LinK): start;
 * - our own instance (a session of this process): start;
 * - another system (another machine, VM or network namespace): refuse; a restart on this system
 *   never finds that (its predecessor's record says this system), a reboot within the lease's
 *   TTL could: then the refusal ends when the lease does;
 * - this system: refuse while that process still runs (another agent started by hand beside the
 *   service), start when it is gone (killed, crashed, or stopped for a restart handing over
 *   through the bridge lease: its lease is the one to reuse).
 */
export function otherLiveAgent(recordValue: string | null, claim: HostClaim): string | null {
  const other = instanceOf(recordValue);
  if (other === null) return null;
  const me = claim.instance;
  if (other.id === me.id) return null;
  if (other.system !== me.system) {
    return `an agent on another system (instance ${other.id.slice(0, 8)}, pid ${other.pid}, system ${other.system})`;
  }
  if (other.pid === me.pid) return null; // an earlier session of this process
  return claim.running(other.pid, other.started)
    ? `another agent on this system (pid ${other.pid}, instance ${other.id.slice(0, 8)})`
    : null;
}

function instanceOf(value: string | null): AgentInstance | null {
  if (value === null) return null;
  let record: unknown;
  try {
    record = JSON.parse(value);
  } catch {
    return null;
  }
  const i = (record as { instance?: Partial<AgentInstance> } | null)?.instance;
  if (
    typeof i !== 'object' ||
    i === null ||
    typeof i.id !== 'string' ||
    typeof i.system !== 'string' ||
    typeof i.pid !== 'number' ||
    typeof i.started !== 'string'
  )
    return null;
  return { id: i.id, system: i.system, pid: i.pid, started: i.started };
}
