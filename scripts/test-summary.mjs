#!/usr/bin/env node
// Adds up every workspace's vitest JSON results (written by `vitest run --reporter=json`) and prints one
// closing line: "Tests: N passed, N failed". Exits 1 if any test failed or no results were found.
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
let passed = 0,
  failed = 0,
  skipped = 0,
  files = 0;
for (const group of ['packages', 'apps']) {
  if (!existsSync(join(root, group))) continue;
  for (const pkg of readdirSync(join(root, group))) {
    const f = join(root, group, pkg, '.vitest-results.json');
    if (!existsSync(f)) continue;
    const r = JSON.parse(readFileSync(f, 'utf8'));
    files++;
    passed += r.numPassedTests ?? 0;
    failed += r.numFailedTests ?? 0;
    skipped += (r.numPendingTests ?? 0) + (r.numTodoTests ?? 0);
  }
}
if (files === 0) {
  console.error('test-summary: no .vitest-results.json found; did the tests run?');
  process.exit(1);
}
console.log(`Tests: ${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ''}`);
process.exit(failed > 0 || passed === 0 ? 1 : 0);
