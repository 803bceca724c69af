import { parseArgs } from 'node:util';
import { createNetAdapter } from '../../adapters/net/index.ts';
import { serveNetAdapter } from './net-stdio.ts';

/**
 * Entry point of an adapter child: `ip netns exec NS node --import tsx test/support/net-stdio-main.ts
 * --interface eth0 [--refresh-ms N]`; speaks net-stdio.ts's protocol.
 */
const { values } = parseArgs({
  options: {
    interface: { type: 'string' },
    'refresh-ms': { type: 'string' },
  },
});
const num = (v: string | undefined): number | undefined => (v === undefined ? undefined : Number(v));
const adapter = createNetAdapter({
  interfaceName: values.interface ?? 'eth0',
  refreshIntervalMs: num(values['refresh-ms']),
});
await serveNetAdapter(adapter, process.stdin, process.stdout);
