export { createApp, closeApp } from './app.ts';
export type { CreateAppOptions } from './app.ts';
export { startApiServer } from './server.ts';
export type { ApiServer, ApiServerOptions } from './server.ts';
export { createMetrics } from './metrics.ts';
export type { ApiMetrics } from './metrics.ts';
export type { ApiLogger, BasicAuthCredentials } from './types.ts';
