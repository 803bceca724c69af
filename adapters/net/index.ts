export type * from './types.ts';
export { createNetAdapter, type NetAdapterOptions } from './adapter.ts';
export * from './address.ts';
export * from './errors.ts';
