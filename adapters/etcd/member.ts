/**
 * The value of a membership key `<prefix>/ips/<storable-ip>/<host>` (keys.ts): what every host
 * learns of a candidate's placement settings (issue 16). Written once here, read by the election,
 * the cluster view and balance.
 *
 * Three writers share the key:
 * - LinK now: JSON `{"hostname","priority","preempt","preempt_delay_ms"?}`;
 * - LinK before priorities: the plain hostname;
 * - LinK v2: `{"updated_at":…}` (no lease, see candidates.ts).
 * The older two read as the defaults (priority 100, no preemption), so a mixed cluster ranks
 * them as v2 did: all equal.
 */

/** keepalived's default and LinK's: the middle of 0–255. */
export const DEFAULT_PRIORITY = 100;
export const MIN_PRIORITY = 0;
export const MAX_PRIORITY = 255;
/** keepalived's `preempt_delay` is off by default; LinK's applies only with `preempt`. */
export const DEFAULT_PREEMPT_DELAY_S = 10;
export const MAX_PREEMPT_DELAY_S = 3600;

/** A VIP's placement settings on one host (its record's `priority`, `preempt`, `preempt_delay`). */
export interface Placement {
  priority: number;
  preempt: boolean;
  preemptDelayMs: number;
}

export const DEFAULT_PLACEMENT: Placement = {
  priority: DEFAULT_PRIORITY,
  preempt: false,
  preemptDelayMs: DEFAULT_PREEMPT_DELAY_S * 1000,
};

/** The placement a stored record asks for; a record written before priorities reads as the defaults. */
export function placementOf(vip: {
  priority?: number;
  preempt?: boolean;
  preempt_delay?: number;
}): Placement {
  return {
    priority: vip.priority ?? DEFAULT_PRIORITY,
    preempt: vip.preempt ?? false,
    preemptDelayMs: (vip.preempt_delay ?? DEFAULT_PREEMPT_DELAY_S) * 1000,
  };
}

export interface MemberInfo {
  hostname: string;
  /** 0–255, higher wins. */
  priority: number;
  /** Takes the VIP from a lower-priority owner (after `preemptDelayMs`). */
  preempt: boolean;
  /** Present only when `preempt` is (the record's `preempt_delay`, in ms). */
  preemptDelayMs?: number;
}

export function isPriority(value: unknown): value is number {
  return Number.isInteger(value) && (value as number) >= MIN_PRIORITY && (value as number) <= MAX_PRIORITY;
}

export function memberOf(hostname: string, placement: Placement): MemberInfo {
  const info: MemberInfo = { hostname, priority: placement.priority, preempt: placement.preempt };
  if (placement.preempt) info.preemptDelayMs = placement.preemptDelayMs;
  return info;
}

export function encodeMember(info: MemberInfo): Buffer {
  const body: Record<string, unknown> = {
    hostname: info.hostname,
    priority: info.priority,
    preempt: info.preempt,
  };
  if (info.preempt && info.preemptDelayMs !== undefined) body.preempt_delay_ms = info.preemptDelayMs;
  return Buffer.from(JSON.stringify(body));
}

/**
 * Never throws: `hostname` is the key's last segment (authoritative: the value may be an older
 * writer's); anything not understood in the value reads as the default.
 */
export function decodeMember(hostname: string, value: Buffer | string): MemberInfo {
  const text = typeof value === 'string' ? value : value.toString();
  const defaults: MemberInfo = { hostname, priority: DEFAULT_PRIORITY, preempt: false };
  if (!text.startsWith('{')) return defaults; // an older LinK's plain hostname, or empty
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return defaults;
  }
  if (parsed === null || typeof parsed !== 'object') return defaults;
  const o = parsed as Record<string, unknown>;
  const priority = isPriority(o.priority) ? o.priority : DEFAULT_PRIORITY;
  const preempt = o.preempt === true;
  const delay = o.preempt_delay_ms;
  const info: MemberInfo = { hostname, priority, preempt };
  if (preempt && typeof delay === 'number' && Number.isFinite(delay) && delay >= 0)
    info.preemptDelayMs = delay;
  return info;
}
