/** A usage problem found by linkctl's own checks, not by commander: the command exits 2. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}
