import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { REPO_ROOT } from './netns.ts';

/**
 * Bundles `linkctl` into ES modules (dependencies stay in node_modules): the release build
 * (scripts/build.ts) and the lab's agents both run it. An agent started from it is serving in
 * ~0.6 s instead of ~2 s through tsx: fast enough to restart within one lease TTL, which a
 * restart that keeps the VIP needs. Lives in dist/, one folder below the repository like cli/
 * and http/, so paths built from import.meta.url still resolve.
 *
 * Code splitting keeps cli/main.ts's dynamic imports lazy: each command's modules are a chunk
 * loaded only when that command runs, so `linkctl ips` parses no etcd or FFI code. The chunks sit
 * next to the entry, not in a folder of their own, for the same import.meta.url paths. esbuild is
 * imported only to build: a production install, without devDependencies, loads this module too
 * (`linkctl lab`) and runs the build it was installed with.
 */
export const AGENT_BUNDLE = join(REPO_ROOT, 'dist', 'linkctl.mjs');

/** Writes `<root>/dist/linkctl.mjs` and its chunks; returns the entry's path. */
export async function buildAgentBundle(root = REPO_ROOT): Promise<string> {
  const outdir = join(root, 'dist');
  const entry = join(outdir, 'linkctl.mjs');
  const { build } = await import('esbuild');
  const result = await build({
    entryPoints: { linkctl: join(REPO_ROOT, 'cli', 'main.ts') },
    outdir,
    outExtension: { '.js': '.mjs' },
    chunkNames: '[name]-[hash]',
    write: false,
    bundle: true,
    splitting: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    packages: 'external',
    logLevel: 'warning',
  });
  // Each file by rename, the entry last: an agent started while another test rebuilds the same
  // checkout never loads half a file, nor an entry whose chunks are not there yet (a chunk's
  // name is its content's hash, so an older entry's chunks stay valid).
  const files = [...result.outputFiles].sort((a, b) => Number(a.path === entry) - Number(b.path === entry));
  for (const file of files) {
    mkdirSync(dirname(file.path), { recursive: true });
    const tmp = `${file.path}.${process.pid}.tmp`;
    writeFileSync(tmp, file.contents);
    renameSync(tmp, file.path);
  }
  return entry;
}
