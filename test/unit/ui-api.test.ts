import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { apiUrl } from '../../http/ui/url.ts';

/**
 * The page's API URLs never carry the credentials of the page's address: a browser refuses
 * fetch() of a URL resolved against `http://user:pass@host/ui`.
 */

describe('visualiser API URLs', () => {
  it('resolve against the origin and the page path, so a proxy prefix is kept', () => {
    assert.equal(
      apiUrl('ips', { origin: 'http://198.18.0.1:1313', pathname: '/ui' }),
      'http://198.18.0.1:1313/ips',
    );
    assert.equal(
      apiUrl('ips/vip-1/events', { origin: 'https://proxy.example', pathname: '/link/ui' }),
      'https://proxy.example/link/ips/vip-1/events',
    );
  });

  it('hold no user nor password even when the page was opened with them', () => {
    const page = new URL('http://admin:secret@198.18.0.1:1313/ui');
    const url = new URL(apiUrl('healthz', page));
    assert.equal(url.username, '');
    assert.equal(url.password, '');
    assert.equal(url.href, 'http://198.18.0.1:1313/healthz');
    // What the page did before: resolving against its own address kept the credentials.
    assert.equal(new URL('healthz', page.href).username, 'admin');
  });
});
