import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import type { Server } from 'node:http';
import Koa from 'koa';
import { buildUiBundle, UI_CSP, uiRoutes, type UiBundle } from '../../http/ui-routes.ts';

/** GET /ui and its assets: routing, headers, the lazy one-time build, and the real esbuild bundle. */

describe('ui routes', () => {
  let server: Server;
  let base = '';
  let loads = 0;
  const bundle: UiBundle = new Map([
    ['index.html', { type: 'text/html; charset=utf-8', body: '<!doctype html><title>t</title>' }],
    ['main.js', { type: 'text/javascript; charset=utf-8', body: 'export {};' }],
  ]);

  before(async () => {
    const app = new Koa();
    app.use(
      uiRoutes({
        load: () => {
          loads++;
          return Promise.resolve(bundle);
        },
      }),
    );
    app.use((ctx) => {
      ctx.status = 404;
      ctx.body = { error: 'not found' };
    });
    server = app.listen(0, '127.0.0.1');
    await new Promise<void>((resolve) => server.once('listening', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(() => new Promise<void>((resolve) => server.close(() => resolve())));

  it('serves the page at /ui and its assets at /ui/<name>, with a strict CSP', async () => {
    const page = await fetch(`${base}/ui`);
    assert.equal(page.status, 200);
    assert.match(page.headers.get('content-type') ?? '', /text\/html/);
    assert.equal(page.headers.get('content-security-policy'), UI_CSP);
    assert.equal(await page.text(), '<!doctype html><title>t</title>');
    const js = await fetch(`${base}/ui/main.js`);
    assert.equal(js.status, 200);
    assert.match(js.headers.get('content-type') ?? '', /javascript/);
    assert.equal(loads, 1, 'built once');
  });

  it('redirects /ui/ to /ui, passes unknown paths on, refuses other methods', async () => {
    const slash = await fetch(`${base}/ui/`, { redirect: 'manual' });
    assert.equal(slash.status, 302);
    assert.equal(slash.headers.get('location'), '../ui');
    assert.equal((await fetch(`${base}/ui/nope.js`)).status, 404);
    assert.equal((await fetch(`${base}/ui/index.html`)).status, 404);
    assert.equal((await fetch(`${base}/uix`)).status, 404);
    assert.equal((await fetch(`${base}/ui`, { method: 'POST' })).status, 405);
  });

  it('builds the real bundle with esbuild: page, script and style, nothing from the network', async () => {
    const real = await buildUiBundle();
    assert.deepEqual([...real.keys()].sort(), ['index.html', 'main.js', 'style.css']);
    const html = real.get('index.html')!.body;
    assert.match(html, /src="ui\/main\.js"/);
    assert.match(html, /href="ui\/style\.css"/);
    assert.doesNotMatch(html, /(src|href)="(https?:)?\/\//, 'no CDN');
    assert.ok(real.get('main.js')!.body.length > 100_000, 'elkjs and xstate are bundled');
  });
});
