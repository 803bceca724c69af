import assert from 'node:assert/strict';
import { mkdtempSync, mkdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { chromium } from 'playwright-core';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import type { VipView } from '../../actors/types.ts';
import { callAgent, type ApiResponse } from '../../lab/api.ts';
import { forwardToUnixSocket, type Forwarder } from '../../lab/forward.ts';
import { DEFAULT_VIP, Lab } from '../../lab/lab.ts';
import { until } from '../support/until.ts';

/**
 * The visualiser in Debian's chromium (playwright-core) against two real agents in the lab,
 * with basic auth on: the chart drawn from /machine, the host named in the header, the live
 * highlight on both hosts' pages through a failover, time travel through the journal (its
 * caption naming the entry), a host that left shown as down, the page opened with the
 * credentials in its URL (http://user:pass@…/ui, in a browser without any other credentials),
 * the empty and unreachable states, a phone-width (390 px) layout. Any console error fails it.
 * Screenshots go to $LINK_TEST_OUTPUT (default: <tmpdir>/link-test-output), never into the
 * tree: docs/visualiser.png is copied from there by hand when the page changes.
 * Run under scripts/in-netns.sh (the lab builds namespaces).
 */

const AUTH = { user: 'admin', password: 'vis-secret' };
const STATES = ['BOOTING', 'ACTIVATED', 'STANDBY', 'FAILING'];
const OUTPUT = process.env['LINK_TEST_OUTPUT'] ?? join(tmpdir(), 'link-test-output');
const SCREENSHOT = join(OUTPUT, 'visualiser.png');
const PHONE_SCREENSHOT = join(OUTPUT, 'visualiser-390px.png');

function api<T>(
  lab: Lab,
  host: string,
  method: string,
  path: string,
  body?: unknown,
): Promise<ApiResponse<T>> {
  return callAgent<T>(lab.host(host).socket, method, path, body, { auth: AUTH });
}

/** Polls `check` until it returns a value, or fails naming `what` after `ms`. */
interface Watched {
  page: Page;
  errors: string[];
  /** Console errors expected from now on (the agent is being stopped on purpose). */
  tolerate?: RegExp;
}

function watch(page: Page): Watched {
  const watched: Watched = { page, errors: [] };
  page.on('console', (message) => {
    if (message.type() !== 'error') return;
    const text = `${message.text()} (${message.location().url})`;
    if (watched.tolerate?.test(text)) return;
    watched.errors.push(text);
  });
  page.on('pageerror', (err) => watched.errors.push(`page error: ${err.message}`));
  return watched;
}

async function highlighted(page: Page, state: string, ms = 15_000): Promise<void> {
  await page.locator(`#chart svg[data-highlight="${state}"]`).waitFor({ state: 'attached', timeout: ms });
  await page.locator(`#chart g.state.current[data-state="${state}"]`).waitFor({ timeout: ms });
}

/** On a phone the chart keeps a readable size and scrolls sideways: the current state is in its box. */
async function currentStateInView(page: Page): Promise<void> {
  const chartBox = await page.locator('#chart').boundingBox();
  const current = await page.locator('#chart g.state.current').boundingBox();
  assert.ok(chartBox && current, 'chart and current state drawn');
  assert.ok(
    current.x >= chartBox.x && current.x + current.width <= chartBox.x + chartBox.width,
    `current state at x ${current.x}..${current.x + current.width}, chart box ${chartBox.x}..${chartBox.x + chartBox.width}`,
  );
}

describe('visualiser (browser, lab with two agents)', { timeout: 180_000 }, () => {
  let lab: Lab | undefined;
  let context: BrowserContext | undefined;
  /** A second browser, with no credentials of its own: only those in the page's URL. */
  let bare: Browser | undefined;
  const forwarders: Forwarder[] = [];
  let userDataDir = '';

  before(async () => {
    lab = await Lab.up({
      name: `vis-${process.pid}`,
      hosts: 2,
      agentEnv: { USER: AUTH.user, PASSWORD: AUTH.password },
    });
    userDataDir = mkdtempSync(join(tmpdir(), 'link-vis-chromium-'));
    context = await chromium.launchPersistentContext(userDataDir, {
      executablePath: '/usr/bin/chromium',
      headless: true,
      args: [
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
      ],
      // As a person typing into the browser's basic-auth dialog for /ui.
      httpCredentials: { username: AUTH.user, password: AUTH.password },
      viewport: { width: 1440, height: 960 },
    });
  });

  after(async () => {
    await context?.close().catch(() => undefined);
    await bare?.close().catch(() => undefined);
    await Promise.all(forwarders.map((f) => f.close()));
    await lab?.down();
    if (userDataDir) rmSync(userDataDir, { recursive: true, force: true });
  });

  it('draws the chart, follows a failover live on both hosts, replays the journal', async () => {
    assert.ok(lab && context);
    const hosts = ['h1', 'h2'];
    const ids: Record<string, string> = {};
    for (const host of hosts) {
      assert.equal((await callAgent(lab.host(host).socket, 'GET', '/ips')).status, 401, 'auth is on');
      const res: ApiResponse<VipView> = await api<VipView>(lab, host, 'POST', '/ips', { ip: DEFAULT_VIP });
      assert.equal(res.status, 201, JSON.stringify(res.body));
      ids[host] = res.body.id;
    }
    const stateOf = async (host: string) =>
      (await api<{ ip: VipView }>(lab!, host, 'GET', `/ips/${ids[host]}`)).body.ip.status;
    const owner = await until(
      'one owner and one standby',
      async () => {
        const [s1, s2] = await Promise.all(hosts.map(stateOf));
        if (s1 === 'ACTIVATED' && s2 === 'STANDBY') return 'h1';
        if (s2 === 'ACTIVATED' && s1 === 'STANDBY') return 'h2';
        return undefined;
      },
      15_000,
    );
    const other = owner === 'h1' ? 'h2' : 'h1';

    const pages: Record<string, Watched> = {};
    for (const host of hosts) {
      const forwarder = await forwardToUnixSocket(lab.host(host).socket);
      forwarders.push(forwarder);
      const watched = watch(await context.newPage());
      pages[host] = watched;
      const response = await watched.page.goto(`${forwarder.url}/ui`);
      assert.equal(response?.status(), 200);
      assert.match(response?.headers()['content-security-policy'] ?? '', /default-src 'none'/);
    }

    // The chart from GET /machine: four states, labelled transitions, the initial marker.
    for (const host of hosts) {
      const { page } = pages[host]!;
      await page.locator('#chart g.state').nth(3).waitFor({ timeout: 20_000 });
      const drawn = await Promise.all(
        (await page.locator('#chart g.state').all()).map((g) => g.getAttribute('data-state')),
      );
      assert.deepEqual([...drawn].sort(), [...STATES].sort());
      assert.equal(await page.locator('#chart g.initial[data-initial="BOOTING"]').count(), 1);
      assert.ok(
        (await page.locator('#chart g.edge[data-edge="STANDBY->ACTIVATED"]').textContent())?.includes(
          'elected',
        ),
      );
      assert.ok(await page.locator('#chart g.edge[data-edge="FAILING->FAILING"]').count(), 'self-loop drawn');
      await page.locator(`#vip-list button[data-vip="${ids[host]}"][aria-pressed="true"]`).waitFor();
      await page.locator('#host', { hasText: new RegExp(`^${host}$`) }).waitFor();
      assert.match(await page.title(), new RegExp(`\\b${host}\\b`));
    }
    await highlighted(pages[owner]!.page, 'ACTIVATED');
    await highlighted(pages[other]!.page, 'STANDBY');
    await pages[owner]!.page.locator(`#host-list li[data-host="${owner}"][data-owner="true"]`).waitFor();
    await pages[owner]!.page.locator(`#host-list li[data-host="${other}"][data-owner="false"]`).waitFor();

    // A failover: the highlight moves on both pages, through SSE (no reload).
    const failover = await api(lab, owner, 'POST', `/ips/${ids[owner]}/failover`);
    assert.equal(failover.status, 204, JSON.stringify(failover.body));
    await highlighted(pages[owner]!.page, 'STANDBY');
    await highlighted(pages[other]!.page, 'ACTIVATED');
    await pages[other]!.page.locator(`#host-list li[data-host="${other}"][data-owner="true"]`).waitFor();
    await pages[owner]!.page.locator('#journal button', { hasText: 'ACTIVATED → STANDBY' }).waitFor();

    // Time travel on the former owner: stepping back (arrow keys) reaches the state before the
    // failover; the step after it is the demotion, drawn as the edge it took.
    const { page } = pages[owner]!;
    const steps = await page.locator('#journal button').count();
    await page.locator('#chart').click({ position: { x: 2, y: 2 } });
    for (
      let i = 0;
      i < steps && (await page.locator('#chart svg').getAttribute('data-highlight')) !== 'ACTIVATED';
      i++
    ) {
      await page.keyboard.press('ArrowLeft');
    }
    await highlighted(page, 'ACTIVATED', 1000);
    await page.locator('#chart svg.replaying').waitFor();
    // The caption names the entry highlighted: its seq, event and move, and the state.
    const seq = await page.locator('#journal button[aria-current="step"]').getAttribute('data-seq');
    await page
      .locator('#chart-caption', {
        hasText: new RegExp(
          `^Replaying step \\d+ of \\d+: entry #${seq}, \\w+ \\(\\w+ → ACTIVATED\\) at .* — state ACTIVATED,`,
        ),
      })
      .waitFor();
    await page.locator('#journal button[aria-current="step"]').waitFor();
    await page.keyboard.press('ArrowRight');
    await page.locator('#chart g.edge.taken[data-edge="ACTIVATED->STANDBY"]').waitFor();
    await page.keyboard.press('ArrowLeft');
    await highlighted(page, 'ACTIVATED');
    // All the way back with the button: the actor's start, BOOTING.
    while (await page.locator('#back').isEnabled()) await page.locator('#back').click();
    await highlighted(page, 'BOOTING');
    await page.locator('#position', { hasText: 'Step 1 of' }).waitFor();
    await page.keyboard.press('ArrowRight');
    await page.locator('#position', { hasText: 'Step 2 of' }).waitFor();
    // Live again, then back to just before the failover for the screenshot.
    await page.locator('#live').click();
    await highlighted(page, 'STANDBY');
    await page.locator('#chart svg:not(.replaying)').waitFor();
    while ((await page.locator('#chart svg').getAttribute('data-highlight')) !== 'ACTIVATED') {
      await page.keyboard.press('ArrowLeft');
    }
    await page.keyboard.press('ArrowRight');
    await page.locator('#chart g.edge.taken[data-edge="ACTIVATED->STANDBY"]').waitFor();
    mkdirSync(OUTPUT, { recursive: true });
    await page.screenshot({ path: SCREENSHOT, fullPage: true });
    await page.keyboard.press('End');
    await page.locator('#back').focus();
    await page.keyboard.press('End');
    await highlighted(page, 'STANDBY');

    // Phone width: everything stacks, nothing overflows the page horizontally.
    await page.setViewportSize({ width: 390, height: 844 });
    await page.locator('#chart g.state').first().waitFor();
    // A string runs in the page: the test program has no DOM types.
    const overflow = Number(await page.evaluate('document.documentElement.scrollWidth - window.innerWidth'));
    assert.ok(overflow <= 0, `page overflows a phone screen by ${overflow}px`);
    await page.locator('#host', { hasText: owner }).waitFor();
    await currentStateInView(page);
    await page.screenshot({ path: PHONE_SCREENSHOT, fullPage: true });
    await page.setViewportSize({ width: 1440, height: 960 });

    // Empty state: the VIP deleted on the standby host.
    const deleted = await api(lab, owner, 'DELETE', `/ips/${ids[owner]}`);
    assert.equal(deleted.status, 204, JSON.stringify(deleted.body));
    await page.locator('#vip-empty').waitFor({ state: 'visible' });
    assert.equal(await page.locator('#vip-list li').count(), 0);
    // The other page: the host that left the VIP stays in its cluster panel, as down.
    await pages[other]!.page.locator(`#host-list li[data-host="${owner}"][data-up="false"]`, {
      hasText: 'down',
    }).waitFor({ timeout: 10_000 });
    await pages[other]!.page.locator(
      `#host-list li[data-host="${other}"][data-up="true"][data-owner="true"]`,
    ).waitFor();

    // Opened with the credentials in the URL, in a browser that has no others: every request
    // (fetch and the SSE stream) must reach the agent.
    bare = await chromium.launch({
      executablePath: '/usr/bin/chromium',
      headless: true,
      args: ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking'],
    });
    const withCredentials = watch(
      await (await bare.newContext({ viewport: { width: 390, height: 844 } })).newPage(),
    );
    const address = new URL(`${forwarders[hosts.indexOf(other)]!.url}/ui`);
    address.username = AUTH.user;
    address.password = AUTH.password;
    const opened = await withCredentials.page.goto(address.href);
    assert.equal(opened?.status(), 200);
    await withCredentials.page
      .locator(`#vip-list button[data-vip="${ids[other]}"][aria-pressed="true"]`)
      .waitFor({ timeout: 20_000 });
    await withCredentials.page.locator('#host', { hasText: other }).waitFor();
    await withCredentials.page.locator('#agent[data-health="ok"]').waitFor();
    await highlighted(withCredentials.page, 'ACTIVATED');
    await currentStateInView(withCredentials.page);
    await withCredentials.page
      .locator('#chart-caption', { hasText: /^Live: .* is ACTIVATED \(this host holds it\)$/ })
      .waitFor();
    assert.deepEqual(withCredentials.errors, [], 'console errors with credentials in the URL');

    for (const host of hosts) assert.deepEqual(pages[host]!.errors, [], `console errors on ${host}'s page`);

    // Unreachable: that host's agent stops; the page says so instead of going blank.
    pages[owner]!.tolerate = /ERR_|Failed to load resource|EventSource/;
    await lab.signalAgent(owner, 'SIGTERM');
    await page.locator('#banner', { hasText: 'Cannot reach the agent' }).waitFor({ timeout: 10_000 });
    await page.locator('#agent[data-health="unreachable"]').waitFor();
    assert.deepEqual(pages[owner]!.errors, []);

    // etcd down: the other page quotes /healthz's reason (its 503s are the expected errors).
    const survivor = pages[other]!;
    survivor.tolerate = /status of 503/;
    await lab.stopEtcd();
    await survivor.page
      .locator('#banner[data-kind="warn"]', { hasText: 'The agent is unhealthy: etcd' })
      .waitFor({ timeout: 15_000 });
    await survivor.page.locator('#agent[data-health="unhealthy"]').waitFor();
    assert.deepEqual(survivor.errors, []);
  });
});
