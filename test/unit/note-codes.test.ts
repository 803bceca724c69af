import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { NOTE_CODES, type NoteCode } from '../../actors/notes.ts';
import { METRIC_NOTE_CODES } from '../../http/metrics.ts';

const docs = (name: string) => readFileSync(new URL(`../../docs/${name}`, import.meta.url), 'utf8');

/** The rows of troubleshooting.md's "VIP journal notes" table: each code with its level. */
function documentedNotes(): Map<string, string> {
  const text = docs('troubleshooting.md');
  const start = text.indexOf('## VIP journal notes');
  assert.notEqual(start, -1, 'troubleshooting.md has a "VIP journal notes" section');
  const end = text.indexOf('\n## ', start + 1);
  const rows = new Map<string, string>();
  for (const line of text.slice(start, end === -1 ? undefined : end).split('\n')) {
    const cells = line.split(' | ');
    if (!line.startsWith('| `') || cells.length < 3) continue;
    for (const [, code] of cells[0]!.matchAll(/`([A-Z_]+)`/g)) rows.set(code!, cells[1]!.trim());
  }
  return rows;
}

describe('note codes', () => {
  it('every code of the registry is documented in troubleshooting.md, at its level', () => {
    const documented = documentedNotes();
    for (const [code, { level }] of Object.entries(NOTE_CODES))
      assert.equal(documented.get(code), level, `${code} documented at level ${level}`);
  });

  it('every documented note code exists in the registry', () => {
    for (const code of documentedNotes().keys())
      assert.ok(code in NOTE_CODES, `${code} is in actors/notes.ts`);
  });

  it('every metric fed by a note code can be fed: its code is in the registry', () => {
    for (const code of METRIC_NOTE_CODES) assert.ok(code in NOTE_CODES, `${code} is in actors/notes.ts`);
  });

  it('every note code docs/api.md names for a counter is one the registry has and metrics.ts counts', () => {
    const table = docs('api.md')
      .split('\n')
      .filter((line) => line.startsWith('| `link_') && / \| counters?[ :(]/.test(line));
    const named = table.flatMap((line) => [...line.matchAll(/`([A-Z][A-Z_]+)`/g)].map((m) => m[1]!));
    assert.ok(named.length > 0, 'api.md names note codes in its metrics table');
    const counted: readonly string[] = METRIC_NOTE_CODES;
    for (const code of named) {
      assert.ok(code in NOTE_CODES, `${code} (api.md) is in actors/notes.ts`);
      assert.ok(counted.includes(code), `${code} (api.md) is counted by http/metrics.ts`);
    }
  });

  it('the registry types its codes', () => {
    const code: NoteCode = 'ANNOUNCE_SENT';
    assert.equal(NOTE_CODES[code].level, 'info');
  });
});
