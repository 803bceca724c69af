/**
 * The logging port every layer writes to (winston's logger satisfies it; tests pass
 * `silentLogger`). It lives in adapters/ because that is the lowest layer that logs: actors/
 * re-exports it, so there is one definition.
 */
export interface Logger {
  debug(message: string, meta?: Record<string, unknown>): void;
  info(message: string, meta?: Record<string, unknown>): void;
  warn(message: string, meta?: Record<string, unknown>): void;
  error(message: string, meta?: Record<string, unknown>): void;
}

export const silentLogger: Logger = {
  debug: () => undefined,
  info: () => undefined,
  warn: () => undefined,
  error: () => undefined,
};
