import assert from 'node:assert/strict';

/**
 * Polls `probe` every 25 ms until it returns something truthy, and resolves with it; fails the
 * test naming `what` once `timeoutMs` has passed. Tests wait on conditions, never on sleeps.
 */
export async function until<T>(
  what: string,
  probe: () => Promise<T | null | undefined | false> | T | null | undefined | false,
  timeoutMs: number,
  /** What was seen last, for the failure message. */
  seen?: () => string,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value) return value;
    if (Date.now() > deadline) {
      assert.fail(
        `timed out after ${timeoutMs} ms waiting for ${what}${seen ? `; last seen: ${seen()}` : ''}`,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}
