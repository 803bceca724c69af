import type { Router } from '@koa/router';
import type { AgentService } from '../actors/types.ts';

/**
 * GET /cluster: every VIP of the cluster as etcd shows it (adapters/etcd/cluster-view.ts), not
 * only this agent's; `linkctl status` prints it. Thin: etcd failing is the agent's
 * EtcdUnavailableError, a 503 through the error middleware.
 */
export function addClusterRoutes(router: Router, agent: Pick<AgentService, 'cluster'>): void {
  router.get('/cluster', async (ctx) => {
    ctx.body = await agent.cluster();
  });
}
