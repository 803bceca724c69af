import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { agentLook } from '../../http/ui/agent-look.ts';

describe('the visualiser header: drained (http/ui/agent-look.ts)', () => {
  it('drained on purpose is healthy with the badge', () => {
    const look = agentLook({
      status: 'degraded',
      codes: ['DRAINED'],
      drain: { drained: true, since: '2026-12-03T09:00:00.000Z', kept: 1 },
    });
    assert.equal(look.healthy, true);
    assert.equal(look.drained, true);
    assert.match(look.badge, /since 2026-12-03T09:00:00.000Z.*keeps 1 VIP/);
  });

  it('the brief answer (codes only) is enough; another reason is still unhealthy', () => {
    assert.equal(agentLook({ status: 'degraded', codes: ['DRAINED'] }).drained, true);
    const sick = agentLook({ status: 'failing', codes: ['DRAINED', 'ETCD_SESSION'] });
    assert.deepEqual([sick.healthy, sick.drained], [false, true]);
    assert.deepEqual(agentLook({ status: 'ok', codes: [] }), { healthy: true, drained: false, badge: '' });
  });
});
