import type { Router } from '@koa/router';
import type { DrainService } from '../actors/drain.ts';
import { HttpError } from './errors.ts';

/**
 * POST /drain, DELETE /drain and GET /drain (actors/drain.ts): thin, as every route. POST answers
 * once the flag is stored, with the handovers under way: 202 while some VIP is still pending or
 * being handed over (GET /drain follows them; `linkctl drain --wait` does), 200 when none is.
 * etcd refusing the flag is a 503 and nothing changed (docs/api.md, "Drain"). An agent without
 * a drain (the API tests' fakes) answers 404.
 */
export function addDrainRoutes(router: Router, drainer: DrainService | undefined): void {
  const drain = (): DrainService => {
    if (!drainer) throw new HttpError(404, { error: 'not found' });
    return drainer;
  };
  router.get('/drain', (ctx) => {
    ctx.body = drain().status();
  });
  router.post('/drain', async (ctx) => {
    const status = await drain().drain();
    ctx.status = status.done ? 200 : 202;
    ctx.body = status;
  });
  router.delete('/drain', async (ctx) => {
    ctx.body = await drain().undrain();
  });
}
