import type { ClusterHost, ClusterView } from '../adapters/etcd/cluster-view.ts';
import type { HostMembership } from '../adapters/etcd/types.ts';
import type { HealthCheckSpec } from '../adapters/health/types.ts';
import type { JournalEntry, VipView } from '../actors/types.ts';

/** Human output of `linkctl`: plain aligned tables, no colours, no trailing spaces. */

export function formatTable(headers: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]) =>
    cells
      .map((cell, i) => (i === cells.length - 1 ? cell : cell.padEnd(widths[i] ?? 0)))
      .join('  ')
      .trimEnd();
  return [line(headers), ...rows.map(line)].join('\n') + '\n';
}

export function describeCheckSpec(check: HealthCheckSpec): string {
  switch (check.type) {
    case 'TCP':
      return `TCP ${check.host.includes(':') ? `[${check.host}]` : check.host}:${check.port}`;
    case 'HTTP': {
      const status =
        check.expected_status === undefined
          ? ''
          : Array.isArray(check.expected_status)
            ? ` ${check.expected_status[0]}-${check.expected_status[1]}`
            : ` ${check.expected_status}`;
      return `HTTP ${check.url}${status}`;
    }
    case 'EXEC':
      return `EXEC ${[check.command, ...(check.args ?? [])].join(' ')}`;
  }
}

function checksCell(checks: readonly HealthCheckSpec[] | null | undefined): string {
  if (!checks || checks.length === 0) return '-';
  return checks.map(describeCheckSpec).join(', ');
}

export function formatVipList(vips: readonly VipView[]): string {
  if (vips.length === 0) return 'no VIPs configured\n';
  return formatTable(
    ['ID', 'IP', 'STATUS', 'OWNER', 'CHECKS'],
    vips.map((v) => [v.id, v.ip, v.status, v.owner ? 'yes' : 'no', checksCell(v.checks)]),
  );
}

export function formatVip(vip: VipView): string {
  const rows: [string, string][] = [
    ['id', vip.id],
    ['ip', vip.ip],
    ['status', vip.status],
    ['owner', vip.owner ? 'yes (this host)' : 'no'],
    ['healthcheck_interval', vip.healthcheck_interval ? `${vip.healthcheck_interval} s` : 'agent default'],
    ['priority', String(vip.priority)],
    ['preempt', vip.preempt ? `yes, after ${vip.preempt_delay} s` : 'no'],
    ['checks', checksCell(vip.checks)],
  ];
  const width = Math.max(...rows.map(([k]) => k.length));
  return rows.map(([k, v]) => `${k.padEnd(width)}  ${v}`).join('\n') + '\n';
}

export function formatHosts(hosts: readonly HostMembership[]): string {
  if (hosts.length === 0) return 'no host carries this VIP\n';
  return formatTable(
    ['HOST', 'OWNER', 'PRIORITY', 'PREEMPT'],
    hosts.map((h) => [
      h.hostname,
      h.owner ? 'yes' : 'no',
      h.priority === null ? '-' : String(h.priority),
      h.preempt === null ? '-' : h.preempt ? 'yes' : 'no',
    ]),
  );
}

/**
 * `host 200 owner`: name, priority (`-` unknown, `p` appended with preempt on) and state, with
 * `drained` and `v2` in brackets when they apply.
 */
export function describeClusterHost(host: ClusterHost): string {
  const priority = host.priority === null ? '-' : `${host.priority}${host.preempt ? 'p' : ''}`;
  const marks = [...(host.drained ? ['drained'] : []), ...(host.v2 ? ['v2'] : [])];
  return `${host.hostname} ${priority} ${host.state}${marks.length > 0 ? ` (${marks.join(', ')})` : ''}`;
}

/** `linkctl status`: one line per VIP of the cluster. */
export function formatClusterView(view: ClusterView): string {
  if (view.vips.length === 0) return 'no VIPs in the cluster\n';
  return formatTable(
    ['IP', 'OWNER', 'HOSTS (priority state)'],
    view.vips.map((v) => [v.ip, v.owner ?? '-', v.hosts.map(describeClusterHost).join(', ')]),
  );
}

/** One line per journal entry. */
export function formatJournalEntry(entry: JournalEntry): string {
  const head = `${entry.time}  #${entry.seq}`;
  switch (entry.kind) {
    case 'start':
      return `${head}  start    ${entry.ip} in ${entry.state} (${entry.faultPolicy})`;
    case 'event': {
      const move = entry.from === entry.to ? `stays ${entry.to}` : `${entry.from} -> ${entry.to}`;
      const reason = entry.reason ? ` (${entry.reason})` : '';
      return `${head}  event    ${entry.event} from ${entry.source}: ${move}${reason}`;
    }
    case 'note':
      return `${head}  ${entry.level.padEnd(7)}  ${entry.code}: ${entry.message}`;
  }
}

export function formatJournal(entries: readonly JournalEntry[]): string {
  if (entries.length === 0) return 'no journal entries\n';
  return entries.map(formatJournalEntry).join('\n') + '\n';
}
