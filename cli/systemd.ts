import { auditTime, merge, Subscription } from 'rxjs';
import type { Agent } from '../actors/agent.ts';
import type { EtcdSession, SessionStatus } from '../adapters/etcd/index.ts';
import type { SystemdNotifier } from '../adapters/systemd/index.ts';

/**
 * What `systemctl status link` shows on its Status: line while the agent runs, kept current from
 * the VIPs' transitions and the etcd session's state.
 */

export interface StatusCounts {
  vips: number;
  owned: number;
  failing: number;
}

export function statusLine(
  etcd: Pick<SessionStatus, 'state' | 'faultSource' | 'configError'>,
  counts: StatusCounts,
): string {
  const vips = `${counts.vips} ${counts.vips === 1 ? 'VIP' : 'VIPs'}, ${counts.owned} owned`;
  const failing = counts.failing > 0 ? `, ${counts.failing} failing health checks` : '';
  const summary = `${vips}${failing}`;
  switch (etcd.state) {
    case 'alive':
      return summary;
    case 'connecting':
      return `connecting to etcd; ${summary}`;
    case 'closed':
      return `etcd session closed; ${summary}`;
    case 'fault':
      if (etcd.faultSource === 'config') {
        return `etcd refuses this agent (${etcd.configError?.code ?? 'configuration'}); ${summary}`;
      }
      return `etcd unreachable; ${summary}`;
  }
}

/** Changes within this window share one STATUS= (a start of n VIPs makes n transitions). */
const STATUS_COALESCE_MS = 200;

export function currentStatus(agent: Agent, session: EtcdSession): string {
  const vips = agent.list();
  return statusLine(session.status(), {
    vips: vips.length,
    owned: vips.filter((vip) => vip.owner).length,
    failing: vips.filter((vip) => vip.status === 'FAILING').length,
  });
}

/** Sends STATUS= whenever a VIP or the session changes, until unsubscribed. */
export function reportStatus(notifier: SystemdNotifier, agent: Agent, session: EtcdSession): Subscription {
  if (!notifier.enabled) return Subscription.EMPTY;
  return merge(agent.journal$, session.status$)
    .pipe(auditTime(STATUS_COALESCE_MS))
    .subscribe(() => notifier.status(currentStatus(agent, session)));
}
