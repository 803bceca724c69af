import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { checkCapabilities } from '../../adapters/net/index.ts';

describe('adapters/net checkCapabilities: the typed result linkctl agent --check words', () => {
  const dir = mkdtempSync(join(tmpdir(), 'link-net-check-'));
  after(() => rmSync(dir, { recursive: true, force: true }));
  const status = (text: string): string => {
    const file = join(dir, `status-${Math.random().toString(36).slice(2)}`);
    writeFileSync(file, `Name:\tnode\n${text}`);
    return file;
  };

  it('is ok with CAP_NET_ADMIN and CAP_NET_RAW effective', async () => {
    assert.deepEqual(await checkCapabilities(status('CapEff:\t0000000000003000\n')), { ok: true });
  });

  it('names the missing capabilities and the effective set', async () => {
    assert.deepEqual(await checkCapabilities(status('CapEff:\t0000000000001000\n')), {
      ok: false,
      capEff: 0x1000n,
      missing: ['CAP_NET_RAW'],
    });
    assert.deepEqual(await checkCapabilities(status('CapEff:\t0000000000000000\n')), {
      ok: false,
      capEff: 0n,
      missing: ['CAP_NET_ADMIN', 'CAP_NET_RAW'],
    });
  });

  it('says when there is no CapEff line, and throws when the file cannot be read', async () => {
    assert.deepEqual(await checkCapabilities(status('')), { ok: false, capEff: null });
    await assert.rejects(checkCapabilities(join(dir, 'absent')), { code: 'ENOENT' });
  });
});
