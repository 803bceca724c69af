import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createNetAdapter } from '../../adapters/net/adapter.ts';
import { InvalidAddressError, InvalidArgumentError } from '../../adapters/net/errors.ts';

/** Validation happens before any system call, so these run without a namespace or privileges. */
describe('net adapter: validation before any system call', () => {
  it('refuses bad interface names and options at creation', () => {
    for (const interfaceName of ['', 'a-very-long-name0', 'eth 0', 'eth/0']) {
      assert.throws(() => createNetAdapter({ interfaceName }), InvalidArgumentError, interfaceName);
    }
    assert.throws(
      () => createNetAdapter({ interfaceName: 'eth0', probeTimeoutMs: 1.5 }),
      InvalidArgumentError,
    );
  });

  it('rejects malformed addresses and options with typed errors', async () => {
    // An interface that cannot exist: reaching a system call would give ENODEV instead.
    const adapter = createNetAdapter({ interfaceName: 'lk-none0' });
    await assert.rejects(adapter.bind('198.18.0.1/40'), InvalidAddressError);
    await assert.rejects(adapter.unbind('2001:db8::g/64'), InvalidAddressError);
    await assert.rejects(adapter.isBound('x'), InvalidAddressError);
    await assert.rejects(adapter.bind('198.18.0.1/24', { lifetimeSec: -5 }), InvalidArgumentError);
    await assert.rejects(adapter.refresh('198.18.0.1/24', { lifetimeSec: 2 ** 32 }), InvalidArgumentError);
    await adapter.close();
    await assert.rejects(adapter.bind('198.18.0.1/24'), { code: 'CLOSED' });
  });
});
