export type * from './types.ts';
export { createNetAdapter, type NetAdapterOptions } from './adapter.ts';
export * from './address.ts';
export * from './errors.ts';
export {
  assertNetCapabilities,
  checkCapabilities,
  checkInterface,
  type CapabilityCheck,
  type InterfaceState,
} from './check.ts';
