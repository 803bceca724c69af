import { parseArgs } from 'node:util';
import { createNetAdapter } from '../../adapters/net/index.ts';
import { serveNetAdapter } from './net-stdio.ts';

/**
 * Entry point of an adapter child: `ip netns exec NS node --import tsx test/support/net-stdio-main.ts
 * --interface eth0`; speaks net-stdio.ts's protocol.
 */
const { values } = parseArgs({
  options: {
    interface: { type: 'string' },
  },
});
const adapter = createNetAdapter({ interfaceName: values.interface ?? 'eth0' });
await serveNetAdapter(adapter, process.stdin, process.stdout);
