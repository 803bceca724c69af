import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  isInside,
  refusedExecChecks,
  unsafeOwnership,
  type ExecChecksPolicy,
} from '../../adapters/health/exec-policy.ts';
import { childEnvironment, parseCapabilities } from '../../adapters/process/sandbox.ts';

/** The pure parts of EXEC_CHECKS_DIR's rule and of the sandbox (the file system ones are in integration). */

describe('EXEC_CHECKS_DIR rule, pure parts', () => {
  it('isInside: strictly below the folder, never the folder itself, its parent or a sibling', () => {
    assert.equal(isInside('/etc/link/checks', '/etc/link/checks/db'), true);
    assert.equal(isInside('/etc/link/checks', '/etc/link/checks/sub/db'), true);
    assert.equal(isInside('/etc/link/checks', '/etc/link/checks/..db'), true, 'a name starting with ..');
    assert.equal(isInside('/etc/link/checks', '/etc/link/checks'), false);
    assert.equal(isInside('/etc/link/checks', '/etc/link'), false);
    assert.equal(
      isInside('/etc/link/checks', '/etc/link/checks-evil/db'),
      false,
      'a sibling sharing the prefix',
    );
    assert.equal(isInside('/etc/link/checks', '/bin/sh'), false);
  });

  it('unsafeOwnership: root and no group/other write bit; sticky only where allowed', () => {
    assert.equal(unsafeOwnership({ uid: 0, mode: 0o100755 }), null);
    assert.equal(unsafeOwnership({ uid: 0, mode: 0o40700 }), null);
    assert.equal(unsafeOwnership({ uid: 998, mode: 0o100755 }), 'is owned by uid 998, not root');
    assert.equal(unsafeOwnership({ uid: 0, mode: 0o100775 }), 'is writable by its group (mode 0775)');
    assert.equal(unsafeOwnership({ uid: 0, mode: 0o100757 }), 'is writable by others (mode 0757)');
    assert.equal(unsafeOwnership({ uid: 0, mode: 0o41777 }), 'is writable by its group (mode 1777)');
    assert.equal(unsafeOwnership({ uid: 0, mode: 0o41777 }, true), null, '/tmp as an ancestor');
    assert.equal(unsafeOwnership({ uid: 0, mode: 0o40777 }, true), 'is writable by its group (mode 0777)');
  });

  it('refusedExecChecks: one refusal per refused EXEC check, named checks[N].command', () => {
    const policy: ExecChecksPolicy = {
      dir: '/etc/link/checks',
      folder: () => ({ ok: true, path: '/etc/link/checks' }),
      resolve: (command) =>
        command === 'good'
          ? { ok: true, path: '/etc/link/checks/good' }
          : { ok: false, code: 'EXEC_OUTSIDE_DIR', message: `${command} is outside EXEC_CHECKS_DIR` },
    };
    assert.deepEqual(
      refusedExecChecks(
        [
          { type: 'TCP', host: '127.0.0.1', port: 80 },
          { type: 'EXEC', command: 'good' },
          { type: 'EXEC', command: '/bin/sh' },
        ],
        policy,
      ),
      [
        {
          code: 'EXEC_OUTSIDE_DIR',
          field: 'checks[2].command',
          message: 'checks[2].command: /bin/sh is outside EXEC_CHECKS_DIR',
        },
      ],
    );
    assert.deepEqual(refusedExecChecks([{ type: 'HTTP', url: 'http://x/' }], policy), []);
  });
});

describe('sandbox, pure parts', () => {
  it('childEnvironment: PATH and LANG, plus the caller’s variables, which cannot replace them', () => {
    assert.deepEqual(childEnvironment(), { PATH: '/usr/sbin:/usr/bin:/sbin:/bin', LANG: 'C.UTF-8' });
    assert.deepEqual(childEnvironment({ LINK_VIP: '198.18.0.10/32', PATH: '/tmp/evil' }), {
      LINK_VIP: '198.18.0.10/32',
      PATH: '/usr/sbin:/usr/bin:/sbin:/bin',
      LANG: 'C.UTF-8',
    });
  });

  it('parseCapabilities: the five sets of /proc/<pid>/status, or null when one is missing', () => {
    const status = [
      'Name:\tcat',
      'CapInh:\t0000000000000000',
      'CapPrm:\t0000000000003000',
      'CapEff:\t0000000000003000',
      'CapBnd:\t000001ffffffffff',
      'CapAmb:\t0000000000000000',
      'NoNewPrivs:\t1',
    ].join('\n');
    assert.deepEqual(parseCapabilities(status), {
      CapInh: 0n,
      CapPrm: 0x3000n,
      CapEff: 0x3000n,
      CapBnd: 0x1ffffffffffn,
      CapAmb: 0n,
    });
    assert.equal(parseCapabilities('Name:\tcat\nCapEff:\t0\n'), null);
  });
});
