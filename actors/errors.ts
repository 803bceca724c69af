/**
 * Typed errors of the agent. Each has a stable `code`; the HTTP layer maps codes to status
 * codes in one place and the CLI prints `message`. Never match on message text.
 */

export type AgentErrorCode =
  | 'VIP_NOT_FOUND'
  | 'VIP_DUPLICATE'
  | 'VIP_INVALID'
  | 'NOT_OWNER'
  | 'NO_OTHER_CANDIDATE'
  | 'HANDOVER_TIMEOUT'
  | 'ETCD_UNAVAILABLE'
  | 'AGENT_STOPPING';

export class AgentError extends Error {
  override readonly name: string = 'AgentError';
  constructor(
    readonly code: AgentErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

export class VipNotFoundError extends AgentError {
  override readonly name = 'VipNotFoundError';
  constructor(readonly vipId: string) {
    super('VIP_NOT_FOUND', `no VIP with id ${vipId}`);
  }
}

export class DuplicateVipError extends AgentError {
  override readonly name = 'DuplicateVipError';
  constructor(
    readonly ip: string,
    readonly existingId: string,
  ) {
    super('VIP_DUPLICATE', `${ip} is already assigned (${existingId})`);
  }
}

/** Bad input that reached the agent (the HTTP layer validates first; this is the last guard). */
export class InvalidVipError extends AgentError {
  override readonly name = 'InvalidVipError';
  constructor(
    readonly field: string,
    message: string,
  ) {
    super('VIP_INVALID', message);
  }
}

export class NotOwnerError extends AgentError {
  override readonly name = 'NotOwnerError';
  constructor(
    readonly ip: string,
    readonly owner: string | null,
  ) {
    super('NOT_OWNER', `this host does not own ${ip}${owner ? ` (${owner} does)` : ''}`);
  }
}

/** `notLive`: hosts that carry the VIP but do not count as live candidates, and why. */
export class NoOtherCandidateError extends AgentError {
  override readonly name = 'NoOtherCandidateError';
  constructor(
    readonly ip: string,
    readonly notLive: readonly { hostname: string; why: string }[] = [],
  ) {
    super(
      'NO_OTHER_CANDIDATE',
      `no other live host carries ${ip}: nobody to hand it over to${
        notLive.length > 0 ? ` (${notLive.map((h) => `${h.hostname}: ${h.why}`).join('; ')})` : ''
      }; this host keeps it`,
    );
  }
}

/** `offered`: the candidates the lock was offered to, none of which took it. */
export class HandoverTimeoutError extends AgentError {
  override readonly name = 'HandoverTimeoutError';
  constructor(
    readonly ip: string,
    readonly waitedMs: number,
    readonly offered: readonly string[] = [],
  ) {
    super(
      'HANDOVER_TIMEOUT',
      `no other host took ${ip}${
        offered.length > 0 ? ` (offered to ${offered.join(', ')})` : ''
      } within the ${waitedMs} ms bound; this host keeps it`,
    );
  }
}

export class EtcdUnavailableError extends AgentError {
  override readonly name = 'EtcdUnavailableError';
  constructor(message: string, options?: { cause?: unknown }) {
    super('ETCD_UNAVAILABLE', message, options);
  }
}

export class AgentStoppingError extends AgentError {
  override readonly name = 'AgentStoppingError';
  constructor() {
    super('AGENT_STOPPING', 'the agent is stopping');
  }
}
