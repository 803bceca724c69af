/** What the API logs through; a winston logger fits. */
export interface ApiLogger {
  info(message: string, meta?: Record<string, unknown>): void;
  warn(message: string, meta?: Record<string, unknown>): void;
  error(message: string, meta?: Record<string, unknown>): void;
}

export interface BasicAuthCredentials {
  user: string;
  password: string;
}

/** The header of a failover's 204 that names the host that took the VIP (cli/ reads it too). */
export const VIP_OWNER_HEADER = 'VIP-Owner';
