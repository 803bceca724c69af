import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createFileVipCache } from '../../adapters/cache/vip-cache.ts';

function withDir(run: (dir: string) => void): void {
  const dir = mkdtempSync(join(tmpdir(), 'link-cache-'));
  try {
    run(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function logger() {
  const warnings: string[] = [];
  return { warnings, warn: (message: string) => void warnings.push(message) };
}

const VIP = { id: 'vip-1', ip: '198.18.0.10/32', checks: [], healthcheck_interval: 0 };

describe('local VIP cache (file)', () => {
  it('reads back what it wrote, creating its folder', () => {
    withDir((dir) => {
      const cache = createFileVipCache(join(dir, 'state', 'vips.json'), logger());
      cache.write([VIP]);
      assert.deepEqual(cache.read(), [VIP]);
      assert.deepEqual(JSON.parse(readFileSync(join(dir, 'state', 'vips.json'), 'utf8')), [VIP]);
    });
  });

  it('no file is an empty cache, silently', () => {
    withDir((dir) => {
      const log = logger();
      assert.deepEqual(createFileVipCache(join(dir, 'vips.json'), log).read(), []);
      assert.deepEqual(log.warnings, []);
    });
  });

  it('checks its entries as the etcd config store does: a bad one is logged and skipped', () => {
    withDir((dir) => {
      const file = join(dir, 'vips.json');
      writeFileSync(
        file,
        JSON.stringify([VIP, { id: 7, ip: '198.18.0.11/32' }, 'x', { id: 'vip-2', ip: '198.18.0.12/32' }]),
      );
      const log = logger();
      assert.deepEqual(createFileVipCache(file, log).read(), [
        VIP,
        { id: 'vip-2', ip: '198.18.0.12/32', checks: [] },
      ]);
      assert.equal(log.warnings.length, 2);
    });
  });

  it('a file that is not JSON, or not a list, is no VIPs and a warning', () => {
    withDir((dir) => {
      const file = join(dir, 'vips.json');
      for (const text of ['{"id":', '{"id":"vip-1","ip":"198.18.0.10/32"}']) {
        writeFileSync(file, text);
        const log = logger();
        assert.deepEqual(createFileVipCache(file, log).read(), []);
        assert.equal(log.warnings.length, 1);
      }
    });
  });
});
