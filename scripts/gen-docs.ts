/**
 * Writes the docs generated from code: docs/state-machine.md (machines/ip.ts) and
 * docs/configuration.md (config/schema.ts). `--check` exits 1 when a committed doc is stale.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { renderConfigurationDoc } from '../config/doc.ts';
import { renderStateMachineDoc } from './gen-state-machine-doc.ts';

export const GENERATED_DOCS: Record<string, () => string> = {
  'docs/state-machine.md': renderStateMachineDoc,
  'docs/configuration.md': renderConfigurationDoc,
};

const root = fileURLToPath(new URL('..', import.meta.url));

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  let stale = false;
  for (const [file, render] of Object.entries(GENERATED_DOCS)) {
    const path = root + file;
    if (process.argv.includes('--check')) {
      if (readFileSync(path, 'utf8') !== render()) {
        console.error(`${file} is stale: run npm run docs`);
        stale = true;
      }
    } else {
      writeFileSync(path, render());
    }
  }
  if (stale) process.exit(1);
}
