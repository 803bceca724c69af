import { it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { STATE_MACHINE_DOC, renderStateMachineDoc } from '../../scripts/gen-state-machine-doc.ts';

it('docs/state-machine.md is generated from the machine and up to date (npm run docs)', () => {
  assert.equal(readFileSync(STATE_MACHINE_DOC, 'utf8'), renderStateMachineDoc());
});
