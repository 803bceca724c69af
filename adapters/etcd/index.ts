export type * from './types.ts';
export { createEtcdSession, EtcdSessionImpl } from './session.ts';
export type { SessionDeps, SessionTestHooks } from './session.ts';
export { buildClientOptions, resolveSessionOptions, DEFAULT_RETRY } from './options.ts';
export type {
  EtcdConnectionOptions,
  EtcdSessionOptions,
  EtcdTlsFiles,
  EtcdAuth,
  EtcdRetryPolicy,
} from './options.ts';
export * from './errors.ts';
export { makeKeys, storableIp, cidrFromStorable, DEFAULT_PREFIX, LEASE_KEY_NAME } from './keys.ts';
export type { Keys } from './keys.ts';
export { VipElection } from './election.ts';
export { tlsProbeFor } from './tls-probe.ts';
export { checkEtcd, checkHostName, type EtcdCheck, type EtcdCheckOptions } from './check.ts';
export type { AgentInstance, HostClaim } from './host-claim.ts';
