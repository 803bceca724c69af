import type { Observable } from 'rxjs';
import type { BackoffPolicy } from '../backoff.ts';
import type { ChildSandbox } from '../process/sandbox.ts';
import type { HookError } from './errors.ts';

/**
 * One state change of one VIP, as the hooks see it (exec environment and webhook body). Its one
 * definition: the agent that emits it names its states' type (`StateChange<IpState>`), the hooks,
 * which only write them out, take any string.
 */
export interface StateChange<State extends string = string> {
  vipId: string;
  /** The VIP as configured, canonical CIDR (`198.18.0.10/32`). */
  ip: string;
  /** IP machine states (`BOOTING`, `ACTIVATED`, `STANDBY`, `FAILING`). */
  from: State;
  to: State;
  /**
   * The event that caused the change (`elected`, `health_check_fail`, …), or `conflict`: no
   * change (from = to), another MAC claimed the VIP (`conflictMac`), see docs/hooks.md.
   */
  event: string;
  hostname: string;
  /** Decimal string; null when the agent has no lease (etcd unreachable). */
  leaseId: string | null;
  /** etcd revision the election decided at (LINK_REVISION); absent for health and fault events. */
  revision?: number;
  /** ISO 8601. */
  time: string;
  /** With event `conflict`: the MAC that claimed the VIP (LINK_CONFLICT_MAC). */
  conflictMac?: string;
}

export type HookKind = 'exec' | 'webhook';

/** How a webhook delivery is retried: up to `retries` more attempts, with backoff between them. */
export interface WebhookRetryPolicy extends BackoffPolicy {
  /** Retries after the first attempt (0 = one attempt). */
  retries: number;
}

export interface ExecHookOptions {
  /** A program path (or a name looked up in PATH), run without a shell. */
  command: string;
  args?: string[];
  timeoutMs: number;
  /** SIGTERM at the timeout, SIGKILL this much later (default 1000; 0 = SIGKILL at once). */
  killGraceMs?: number;
  /** Bytes of stdout and of stderr kept for the failure message (the tail); default 4096. */
  maxOutputBytes?: number;
  /** How it is started: no capabilities, PATH, LANG and the LINK_* variables, its own group. */
  sandbox: ChildSandbox;
}

export interface WebhookOptions {
  url: string;
  /** HMAC-SHA256 key; without it no `X-Link-Signature` header is sent. */
  secret?: string;
  /** Per attempt. */
  timeoutMs: number;
  retry: WebhookRetryPolicy;
}

export interface HookRunnerOptions {
  exec?: ExecHookOptions;
  webhook?: WebhookOptions;
  /** Changes waiting per VIP and hook kind; beyond it the oldest waiting one is dropped (HOOK_QUEUE_FULL). Default 100. */
  maxQueuePerVip?: number;
  /** Default bound of `close()`: how long to let the queues drain before cancelling. Default 5000. */
  closeTimeoutMs?: number;
  /** Called for every failure (as `failures$` emits); exceptions thrown by it are ignored. */
  onFailure?: (failure: HookFailure) => void;
  /** Called after every successful hook run (for metrics). Exceptions are ignored. */
  onSuccess?: (success: HookSuccess) => void;
  /** Random source for the backoff jitter (tests); default Math.random. */
  random?: () => number;
}

export interface HookFailure {
  hook: HookKind;
  change: StateChange;
  error: HookError;
  /** Attempts made (webhook retries included); 0 when the hook never ran (queue full, cancelled). */
  attempts: number;
}

export interface HookSuccess {
  hook: HookKind;
  change: StateChange;
  attempts: number;
  durationMs: number;
}

export interface HookRunner {
  /**
   * Queues the hooks for this change and returns at once. Never throws, never waits: hooks of one
   * VIP run in order (per kind), different VIPs in parallel. Failures go to `failures$`.
   */
  notify(change: StateChange): void;
  readonly failures$: Observable<HookFailure>;
  /** Changes queued or running, all VIPs and kinds. */
  readonly pending: number;
  /**
   * Stops accepting changes, lets the queues drain for at most `timeoutMs` (default
   * `closeTimeoutMs`), then cancels what is left (running hooks are killed or aborted; each
   * dropped change is reported as HOOK_CANCELLED) and completes `failures$`.
   */
  close(timeoutMs?: number): Promise<void>;
}
