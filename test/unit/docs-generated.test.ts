import { it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { GENERATED_DOCS } from '../../scripts/gen-docs.ts';

const root = fileURLToPath(new URL('../..', import.meta.url));

for (const [file, render] of Object.entries(GENERATED_DOCS)) {
  it(`${file} is generated from code and up to date (npm run docs)`, () => {
    assert.equal(readFileSync(root + file, 'utf8'), render());
  });
}
