// Bundles bench/run.ts for Node (packages stay external, resolved through their public entries) and runs it.
import { mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { build } from 'esbuild';

const dir = mkdtempSync(join(import.meta.dirname, '.bench-'));
try {
  const outfile = join(dir, 'run.mjs');
  await build({ entryPoints: [join(import.meta.dirname, 'run.ts')], bundle: true, platform: 'node', format: 'esm', packages: 'external', outfile, logLevel: 'warning' });
  await import(pathToFileURL(outfile).href);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
