import type * as undici from 'undici-types';

/**
 * The visualiser's files pull the DOM lib into the whole program (`/// <reference lib="dom" />`,
 * tsconfig has no separate program for browser code). With it, @types/node's global `fetch`
 * takes the DOM's `RequestInit`, whose body type refuses a Node `Buffer` (adapters/hooks/
 * webhook.ts sends one). This overload restores Node's own (undici) signature next to the DOM's.
 * Remove it once http/ui is type-checked by a tsconfig of its own with lib DOM.
 */
declare global {
  function fetch(input: string | URL | Request, init?: undici.RequestInit): Promise<Response>;
}
