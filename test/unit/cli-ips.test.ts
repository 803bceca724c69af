import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { HostSyntaxError, createSseParser, parseHost } from '../../cli/client.ts';
import type { SseEvent } from '../../cli/client.ts';
import { formatTable, formatVipList } from '../../cli/format.ts';
import { UsageError } from '../../cli/usage.ts';
import { buildAddBody, parseCheckArgs, placementBody } from '../../cli/vip-body.ts';

describe('linkctl pieces', () => {
  it('parses LinK v2 check pairs', () => {
    assert.deepEqual(
      parseCheckArgs([
        'TCP',
        '198.18.0.2:80',
        'tcp',
        '[2001:db8::2]:443',
        'HTTP',
        'http://x/h',
        'EXEC',
        '/bin/check -q',
      ]),
      [
        { type: 'TCP', host: '198.18.0.2', port: 80 },
        { type: 'TCP', host: '2001:db8::2', port: 443 },
        { type: 'HTTP', url: 'http://x/h' },
        { type: 'EXEC', command: '/bin/check', args: ['-q'] },
      ],
    );
    assert.throws(() => parseCheckArgs(['TCP']), UsageError);
    assert.throws(() => parseCheckArgs(['UDP', 'x:1']), UsageError);
    assert.throws(() => parseCheckArgs(['TCP', '2001:db8::2:80']), UsageError);
  });

  it('validates an add locally with the API schema', () => {
    assert.deepEqual(buildAddBody('198.18.0.010', [], 5), {
      ip: '198.18.0.10/32',
      checks: [],
      healthcheck_interval: 5,
    });
    assert.throws(
      () => buildAddBody('198.18.0.1', [{ type: 'TCP', host: 'x', port: 0 }], undefined),
      /checks\[0\]\.port/,
    );
  });

  it('takes a placement: --priority, --preempt, --preempt-delay (issue 16), checked as the API checks it', () => {
    assert.deepEqual(
      buildAddBody('198.18.0.1', [], undefined, { priority: '200', preempt: true, preemptDelay: '5' }),
      {
        ip: '198.18.0.1/32',
        checks: [],
        priority: 200,
        preempt: true,
        preempt_delay: 5,
      },
    );
    assert.deepEqual(placementBody({ preempt: false }), { preempt: false });
    assert.throws(() => placementBody({ priority: '256' }), /priority must be at most 255/);
    assert.throws(() => placementBody({ priority: '1e2' }), /priority must be a whole number 0-255/);
    assert.throws(() => placementBody({ preemptDelay: '-1' }), /preempt_delay/);
    assert.throws(() => placementBody({}), /nothing to set/);
  });

  it('reads --host forms', () => {
    assert.deepEqual(parseHost('unix:/run/link.sock'), {
      kind: 'unix',
      socketPath: '/run/link.sock',
      label: 'unix:/run/link.sock',
    });
    assert.deepEqual(parseHost('127.0.0.1'), {
      kind: 'tcp',
      protocol: 'http:',
      hostname: '127.0.0.1',
      port: 1313,
      label: 'http://127.0.0.1:1313',
    });
    assert.equal((parseHost('https://[::1]:8443') as { hostname: string }).hostname, '::1');
    for (const bad of ['ftp://x', 'http://x/path', 'unix:', 'http://['])
      assert.throws(() => parseHost(bad), HostSyntaxError, bad);
  });

  it('parses SSE across chunk boundaries and skips comments', () => {
    const events: SseEvent[] = [];
    const feed = createSseParser((e) => events.push(e));
    for (const chunk of [
      ': hi\n\nid: 1\nevent: jour',
      'nal\ndata: {"a"',
      ':1}\n\n: ping\n\n',
      'data: x\ndata: y\n\n',
    ])
      feed(chunk);
    assert.deepEqual(events, [
      { event: 'journal', data: '{"a":1}', id: '1' },
      { event: 'message', data: 'x\ny', id: '1' },
    ]);
  });

  it('formats aligned tables without trailing spaces', () => {
    assert.equal(
      formatTable(
        ['A', 'BB'],
        [
          ['xxx', 'y'],
          ['z', ''],
        ],
      ),
      'A    BB\nxxx  y\nz\n',
    );
    assert.equal(formatVipList([]), 'no VIPs configured\n');
  });
});
