import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { watchLink } from '../../adapters/net/link-watch.ts';
import type { LinkState } from '../../adapters/net/types.ts';

const run = promisify(execFile);
const ip = (...args: string[]) => run('ip', args);

/**
 * The link watch against the kernel: a veth pair in the test's own namespace (scripts/in-netns.sh).
 * Downing the peer takes the carrier away from the watched end (IFF_LOWER_UP cleared), as a pulled
 * cable does; downing the end itself clears IFF_UP. Every change must arrive as a notification.
 */
describe('net adapter: link notifications (RTMGRP_LINK)', () => {
  const name = 'itw0';
  const peer = 'itw1';
  const states: LinkState[] = [];
  let stop: (() => void) | undefined;
  const errors: unknown[] = [];

  /** Waits for the next state after `count` states, with a deadline (no fixed sleep). */
  const nth = (count: number, timeoutMs = 2000): Promise<LinkState> =>
    new Promise((resolve, reject) => {
      const started = Date.now();
      const tick = setInterval(() => {
        const s = states[count];
        if (s !== undefined) {
          clearInterval(tick);
          resolve(s);
        } else if (Date.now() - started > timeoutMs) {
          clearInterval(tick);
          reject(new Error(`no link state #${count + 1} within ${timeoutMs} ms: ${JSON.stringify(states)}`));
        }
      }, 2);
    });

  before(async () => {
    await ip('link', 'add', name, 'type', 'veth', 'peer', 'name', peer);
    await ip('link', 'set', peer, 'up');
    await ip('link', 'set', name, 'up');
  });
  after(async () => {
    stop?.();
    await ip('link', 'del', name).catch(() => undefined);
  });

  it('reports the state at start, then carrier loss and return, then admin down and up', async () => {
    // veth needs both ends up for carrier: wait for it before watching (the kernel sets it async).
    for (let i = 0; i < 200; i++) {
      const { stdout } = await ip('-o', 'link', 'show', name);
      if (stdout.includes('LOWER_UP')) break;
      await new Promise((r) => setImmediate(r));
    }
    stop = watchLink(name, { state: (s) => states.push(s), error: (err) => errors.push(err) });
    assert.equal((await nth(0)).up, true);

    let t = performance.now();
    await ip('link', 'set', peer, 'down');
    const lost = await nth(1);
    const lostMs = performance.now() - t;
    assert.equal(lost.up, false);
    assert.match(lost.reason, /carrier|operationally/);
    assert.ok(lostMs < 500, `carrier loss seen after ${lostMs.toFixed(0)} ms`);

    await ip('link', 'set', peer, 'up');
    assert.equal((await nth(2)).up, true);

    t = performance.now();
    await ip('link', 'set', name, 'down');
    const down = await nth(3);
    assert.equal(down.up, false);
    assert.match(down.reason, /IFF_UP/);
    assert.ok(performance.now() - t < 500);

    await ip('link', 'set', name, 'up');
    assert.equal((await nth(4)).up, true);
    assert.deepEqual(errors, []);
    // Only changes are reported: five states for four changes and the start.
    assert.equal(states.length, 5);
  });

  it('says down at start for a link that is down, and for one that does not exist', async () => {
    await ip('link', 'set', peer, 'down');
    const seen: LinkState[] = [];
    const stopDown = watchLink(name, { state: (s) => seen.push(s), error: (err) => errors.push(err) });
    const stopMissing = watchLink('itw-none', {
      state: (s) => seen.push(s),
      error: (err) => errors.push(err),
    });
    try {
      const started = Date.now();
      while (seen.length < 2 && Date.now() - started < 2000) await new Promise((r) => setTimeout(r, 2));
      assert.equal(seen.length, 2, JSON.stringify(seen));
      assert.ok(seen.every((s) => !s.up));
      assert.ok(seen.some((s) => s.interfaceName === 'itw-none' && /does not exist/.test(s.reason)));
    } finally {
      stopDown();
      stopMissing();
      await ip('link', 'set', peer, 'up');
    }
  });
});
