/**
 * Failures of the process adapter (the agent's children and its own process attributes). Each
 * has a stable `code`; messages are one line and safe to log.
 */

export type ProcessErrorCode = 'SANDBOX_UNAVAILABLE' | 'PRCTL_FAILED';

export class ProcessError extends Error {
  override readonly name: string = 'ProcessError';
  constructor(
    readonly code: ProcessErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/**
 * Children cannot be confined (setpriv missing, or they would keep capabilities), so none is
 * started. It takes the place of a spawn error in a `CommandResult`.
 */
export class SandboxUnavailableError extends ProcessError {
  override readonly name = 'SandboxUnavailableError';
  constructor(message: string) {
    super('SANDBOX_UNAVAILABLE', message);
  }
}

/** prctl(2) failed; `errno` is the raw errno value. */
export class PrctlError extends ProcessError {
  override readonly name = 'PrctlError';
  constructor(
    readonly option: string,
    readonly errno: number,
  ) {
    super('PRCTL_FAILED', `prctl(${option}) failed with errno ${errno}`);
  }
}
