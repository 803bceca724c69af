import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import type * as Esbuild from 'esbuild';
import type { Context, Middleware, Next } from 'koa';
import { HttpError } from './errors.ts';

/**
 * `GET /ui` and its assets: the visualiser (http/ui/). Mounted by http/app.ts after basic auth,
 * so the page and everything it loads sit behind the same credentials as the API.
 *
 * The bundle is built in-process with esbuild's JS API on the first request (a few hundred ms,
 * then served from memory), from the TypeScript sources next to this file: a clean clone needs
 * no build step and nothing is fetched at run time (elkjs and xstate are bundled, no CDN). When
 * esbuild is not installed (a production install without devDependencies) a prebuilt copy in
 * http/ui/dist/ is served if there is one; otherwise /ui answers 503 saying so.
 */

// `../http/ui/` rather than `./ui/`: the same from http/ and from the lab's agent bundle in dist/.
const UI_DIR = fileURLToPath(new URL('../http/ui/', import.meta.url));
const DIST_DIR = fileURLToPath(new URL('../http/ui/dist/', import.meta.url));

export interface UiAsset {
  type: string;
  body: string;
}

/** Asset name (as in `/ui/<name>`) → content. `index.html` is the page itself. */
export type UiBundle = ReadonlyMap<string, UiAsset>;

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
};

function typeOf(name: string): string {
  return TYPES[name.slice(name.lastIndexOf('.'))] ?? 'application/octet-stream';
}

/** What the page may load: itself only. A violation is a console error, which the e2e test catches. */
export const UI_CSP =
  "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
  "base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

type EsbuildModule = typeof Esbuild;

/** Builds the page's assets with esbuild, in memory. */
export async function buildUiBundle(esbuild?: EsbuildModule): Promise<UiBundle> {
  const { build } = esbuild ?? (await import('esbuild'));
  const result = await build({
    entryPoints: [`${UI_DIR}main.ts`, `${UI_DIR}style.css`],
    bundle: true,
    write: false,
    outdir: '/ui',
    entryNames: '[name]',
    format: 'esm',
    platform: 'browser',
    target: ['es2022'],
    minify: true,
    legalComments: 'none',
    define: { 'process.env.NODE_ENV': '"production"' },
    logLevel: 'silent',
  });
  const assets = new Map<string, UiAsset>();
  for (const file of result.outputFiles) {
    const name = file.path.slice(file.path.lastIndexOf('/') + 1);
    assets.set(name, { type: typeOf(name), body: file.text });
  }
  assets.set('index.html', { type: TYPES['.html']!, body: await readFile(`${UI_DIR}index.html`, 'utf8') });
  return assets;
}

async function readPrebuilt(): Promise<UiBundle> {
  const assets = new Map<string, UiAsset>();
  for (const name of ['index.html', 'main.js', 'style.css']) {
    assets.set(name, { type: typeOf(name), body: await readFile(`${DIST_DIR}${name}`, 'utf8') });
  }
  return assets;
}

function isModuleMissing(err: unknown): boolean {
  return (
    typeof err === 'object' && err !== null && (err as { code?: unknown }).code === 'ERR_MODULE_NOT_FOUND' // Node's code for a missing package
  );
}

async function loadBundle(): Promise<UiBundle> {
  let esbuild: EsbuildModule;
  try {
    esbuild = await import('esbuild');
  } catch (err: unknown) {
    if (!isModuleMissing(err)) throw err;
    try {
      return await readPrebuilt();
    } catch {
      throw new HttpError(503, {
        error: 'visualiser unavailable: esbuild is not installed and there is no http/ui/dist/ build',
      });
    }
  }
  return buildUiBundle(esbuild);
}

export interface UiRoutesOptions {
  /** Where the bundle comes from (tests); esbuild in-process by default. */
  load?: () => Promise<UiBundle>;
}

/** Koa middleware answering GET/HEAD `/ui`, `/ui/` and `/ui/<asset>`; passes everything else on. */
export function uiRoutes(options: UiRoutesOptions = {}): Middleware {
  const load = options.load ?? loadBundle;
  let bundle: Promise<UiBundle> | undefined;
  const assets = (): Promise<UiBundle> => {
    // Built once per app; a failed build is retried on the next request.
    bundle ??= load().catch((err: unknown) => {
      bundle = undefined;
      throw err;
    });
    return bundle;
  };

  return async function serveUi(ctx: Context, next: Next): Promise<void> {
    const path = ctx.path;
    if (path !== '/ui' && !path.startsWith('/ui/')) {
      await next();
      return;
    }
    if (ctx.method !== 'GET' && ctx.method !== 'HEAD') {
      throw new HttpError(405, { error: 'method not allowed' }, { Allow: 'GET, HEAD' });
    }
    if (path === '/ui/') {
      // The page's relative URLs (ui/main.js, ips, machine) assume it is at /ui.
      ctx.redirect('../ui');
      return;
    }
    const name = path === '/ui' ? 'index.html' : path.slice('/ui/'.length);
    const asset = name === 'index.html' && path !== '/ui' ? undefined : (await assets()).get(name);
    if (!asset) {
      await next();
      return;
    }
    ctx.set('Content-Security-Policy', UI_CSP);
    ctx.set('Referrer-Policy', 'no-referrer');
    ctx.type = asset.type;
    ctx.body = asset.body;
  };
}
