import { createHmac, timingSafeEqual } from 'node:crypto';

/**
 * Webhook signatures that cannot be replayed. Each attempt is signed over
 * `${timestamp}.${deliveryId}.${body}` (HMAC-SHA256, hex), so a receiver can refuse a captured
 * delivery sent again: too old or too far in the future (`X-Link-Timestamp`, Unix seconds), or an
 * id it has already processed (`X-Link-Delivery`). docs/hooks.md shows the same verifier in plain
 * Node; `verifyDelivery` is the reference, used by the tests.
 */

export const SIGNATURE_HEADER = 'X-Link-Signature';
export const TIMESTAMP_HEADER = 'X-Link-Timestamp';
export const DELIVERY_HEADER = 'X-Link-Delivery';
/** The signature's version prefix: `v1=<hex>`. A new scheme would be `v2=`, sent beside it. */
export const SIGNATURE_VERSION = 'v1';
/** A delivery more than this far from the receiver's clock (either way) is refused. */
export const DELIVERY_TOLERANCE_SECONDS = 300;

/** `v1=<hex>`: HMAC-SHA256 of `${timestamp}.${deliveryId}.` followed by the exact body bytes. */
export function signDelivery(
  secret: string,
  timestamp: number,
  deliveryId: string,
  body: string | Uint8Array,
): string {
  const mac = createHmac('sha256', secret).update(`${timestamp}.${deliveryId}.`, 'utf8').update(body);
  return `${SIGNATURE_VERSION}=${mac.digest('hex')}`;
}

/**
 * Ids of deliveries already processed, remembered for twice the tolerance (after that a replay
 * is refused as stale anyway) and at most `max` of them, the oldest forgotten first.
 */
export class SeenDeliveries {
  private readonly ids = new Map<string, number>();
  constructor(
    private readonly max = 10_000,
    private readonly keepSeconds = 2 * DELIVERY_TOLERANCE_SECONDS,
  ) {}

  has(id: string): boolean {
    return this.ids.has(id);
  }

  /** Call once the delivery was processed: a retry of one that failed must still be accepted. */
  remember(id: string, nowSeconds: number = Date.now() / 1000): void {
    for (const [old, at] of this.ids) {
      if (nowSeconds - at <= this.keepSeconds && this.ids.size < this.max) break;
      this.ids.delete(old);
    }
    this.ids.set(id, nowSeconds);
  }

  get size(): number {
    return this.ids.size;
  }
}

export type DeliveryVerdict =
  | { ok: true; deliveryId: string; timestamp: number }
  | { ok: false; reason: 'unsigned' | 'bad-signature' | 'stale' | 'future' | 'replayed' };

export interface DeliveryHeaders {
  signature: string | undefined;
  timestamp: string | undefined;
  deliveryId: string | undefined;
}

/**
 * Checks one received delivery: the signature first (so unsigned requests cannot fill `seen`),
 * then the timestamp against `nowSeconds` ± `toleranceSeconds`, then the id against `seen`.
 * Does not remember the id: call `seen.remember(deliveryId)` once the change was processed.
 */
export function verifyDelivery(
  secret: string,
  body: string | Uint8Array,
  headers: DeliveryHeaders,
  options: { seen?: SeenDeliveries; nowSeconds?: number; toleranceSeconds?: number } = {},
): DeliveryVerdict {
  const { signature, timestamp, deliveryId } = headers;
  if (signature === undefined || timestamp === undefined || deliveryId === undefined) {
    return { ok: false, reason: 'unsigned' };
  }
  if (!/^\d{1,12}$/.test(timestamp)) return { ok: false, reason: 'bad-signature' };
  const sentAt = Number(timestamp);
  const expected = Buffer.from(signDelivery(secret, sentAt, deliveryId, body));
  // A header may carry several comma-separated signatures (a future v2 beside v1).
  const matches = signature
    .split(',')
    .map((candidate) => Buffer.from(candidate.trim()))
    .some((received) => received.length === expected.length && timingSafeEqual(received, expected));
  if (!matches) return { ok: false, reason: 'bad-signature' };
  const now = options.nowSeconds ?? Date.now() / 1000;
  const tolerance = options.toleranceSeconds ?? DELIVERY_TOLERANCE_SECONDS;
  if (now - sentAt > tolerance) return { ok: false, reason: 'stale' };
  if (sentAt - now > tolerance) return { ok: false, reason: 'future' };
  if (options.seen?.has(deliveryId)) return { ok: false, reason: 'replayed' };
  return { ok: true, deliveryId, timestamp: sentAt };
}
