/**
 * The rule for the page's API URLs, DOM-free so Node tests it: resolved against the page's
 * origin and path, never against its address, which may hold credentials
 * (`http://user:pass@host:1313/ui`) that make browsers refuse `fetch()` of anything resolved
 * against it. The path is kept, so a proxy mounting the agent under a prefix still works.
 */

/** Where the page is (`location` in the browser). */
export interface PageLocation {
  origin: string;
  pathname: string;
}

/** `path` (relative to the page) as an absolute URL without credentials. */
export function apiUrl(path: string, page: PageLocation): string {
  return new URL(path, `${page.origin}${page.pathname}`).href;
}
