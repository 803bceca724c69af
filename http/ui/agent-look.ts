/** What of /healthz's answer the header reads (api.ts HealthResponse has it); no DOM here, so tests import it. */
export interface HealthLook {
  status: 'ok' | 'degraded' | 'failing';
  codes?: string[];
  drain?: { drained: boolean; since?: string; kept?: number };
}

/**
 * What the header says of the agent: drained is on purpose (POST /drain), not sickness, so an
 * agent whose only code is DRAINED shows healthy with the drained badge.
 */
export function agentLook(health: HealthLook): { healthy: boolean; drained: boolean; badge: string } {
  const codes = health.codes ?? [];
  const drained = health.drain?.drained === true || codes.includes('DRAINED');
  const others = codes.filter((code) => code !== 'DRAINED');
  const healthy = health.status === 'ok' || (drained && others.length === 0);
  const { since, kept } = health.drain ?? {};
  const badge = !drained
    ? ''
    : `drained${since ? ` since ${since}` : ''}: its VIPs are handed over and it competes for none${
        kept ? `; keeps ${kept} VIP(s) no other host took` : ''
      } (linkctl undrain resumes)`;
  return { healthy, drained, badge };
}
