import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { mergeHosts } from '../../http/ui/hosts.ts';

/** The cluster panel keeps a host that went away, as down, instead of dropping it. */

describe('visualiser hosts of a VIP', () => {
  it('lists the current hosts, up, with the owner', () => {
    assert.deepEqual(
      mergeHosts(
        [],
        [
          { hostname: 'h2', owner: false, priority: 100, preempt: false },
          { hostname: 'h1', owner: true, priority: 100, preempt: false },
        ],
      ),
      [
        { hostname: 'h1', owner: true, up: true },
        { hostname: 'h2', owner: false, up: true },
      ],
    );
  });

  it('keeps a host etcd no longer lists as down (not the owner), and brings it back up', () => {
    const before = mergeHosts(
      [],
      [
        { hostname: 'h1', owner: true, priority: 100, preempt: false },
        { hostname: 'h2', owner: false, priority: 100, preempt: false },
      ],
    );
    const gone = mergeHosts(before, [{ hostname: 'h2', owner: true, priority: 100, preempt: false }]);
    assert.deepEqual(gone, [
      { hostname: 'h1', owner: false, up: false },
      { hostname: 'h2', owner: true, up: true },
    ]);
    assert.deepEqual(
      mergeHosts(gone, [{ hostname: 'h2', owner: true, priority: 100, preempt: false }]),
      gone,
      'still down on the next poll',
    );
    assert.deepEqual(
      mergeHosts(gone, [
        { hostname: 'h1', owner: false, priority: 100, preempt: false },
        { hostname: 'h2', owner: true, priority: 100, preempt: false },
      ]),
      [
        { hostname: 'h1', owner: false, up: true },
        { hostname: 'h2', owner: true, up: true },
      ],
    );
  });
});
