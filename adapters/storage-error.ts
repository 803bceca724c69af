/**
 * A write to STATE_DIR that failed: the journal's files and the local VIP cache both throw it.
 * Node's own error often lacks the path (`ENOSPC: no space left on device, write`), so this one
 * carries it; `code` is the OS error's name (`ENOSPC`, `EROFS`, `EIO`, `EISDIR`, `EACCES`, …),
 * `STORAGE_FAILED` when the OS gave none. The message is one line naming the path.
 */
export class StorageError extends Error {
  override readonly name = 'StorageError';
  constructor(
    readonly code: string,
    /** The file or folder the write was for. */
    readonly path: string,
    /** What was being done: `append`, `rewrite`, `mkdir`, `remove`, `write`. */
    readonly operation: string,
    options?: { cause?: unknown },
  ) {
    super(`${code}: cannot ${operation} ${path}: ${describe(options?.cause)}`, options);
  }
}

function describe(cause: unknown): string {
  if (!(cause instanceof Error)) return String(cause);
  // Node's text is "ENOSPC: no space left on device, write": keep the middle.
  const match = /^[A-Z0-9_]+: ([^,]+)/.exec(cause.message);
  return match?.[1] ?? cause.message;
}

/** Runs `write`; an error it throws becomes a StorageError for `path`. */
export function storageWrite<T>(path: string, operation: string, write: () => T): T {
  try {
    return write();
  } catch (err) {
    if (err instanceof StorageError) throw err;
    const code = (err as NodeJS.ErrnoException).code;
    throw new StorageError(typeof code === 'string' ? code : 'STORAGE_FAILED', path, operation, {
      cause: err,
    });
  }
}
