/**
 * `<prefix>/config/<host>`: LinK v2's host record, `{"hostname":…,"lease_id":…,…}` (v2's
 * models.Host; v2 also writes `username` and `password`, empty). LinK keeps its lease id there,
 * in v2's shape, so a host rolled back to v2 finds a record it reads (Go's decoder ignores
 * fields it does not know) and reuses the lease while it lives.
 *
 * `lease_id` is a JSON number, as v2 writes it (an int64): lease ids pass 2^53, so the digits are
 * copied, never through a JS number.
 */

/** The record LinK writes for `leaseId` (decimal). */
export function encodeHostConfig(hostname: string, leaseId: string): string {
  if (!/^\d+$/.test(leaseId)) throw new RangeError(`not a lease id: ${JSON.stringify(leaseId)}`);
  return `{"hostname":${JSON.stringify(hostname)},"lease_id":${leaseId}}`;
}

/**
 * The lease id a stored value names, or null (no record, no lease, a value that does not parse).
 * Reads v2's record and the bare decimal id earlier LinK releases stored at `hosts/<host>/lease`.
 */
export function leaseIdOf(value: string | null | undefined): string | null {
  if (value === null || value === undefined) return null;
  const text = value.trim();
  if (/^\d+$/.test(text)) return text === '0' ? null : text;
  try {
    JSON.parse(text);
  } catch {
    return null;
  }
  const match = /"lease_id"\s*:\s*(\d+)\s*[,}]/.exec(text);
  return match === null || match[1] === '0' ? null : match[1]!;
}
