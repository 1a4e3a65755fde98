#!/usr/bin/env node
// Checks every publishable package as npm would ship it: publint --strict (package.json, exports, files)
// and are-the-types-wrong (types resolve for node16 CJS/ESM and bundlers). Run after the build.
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
const bin = (name) => join(root, 'node_modules', '.bin', name);
const pkgs = readdirSync(join(root, 'packages'))
  .map((d) => join(root, 'packages', d))
  .filter((d) => existsSync(join(d, 'package.json')) && !JSON.parse(readFileSync(join(d, 'package.json'), 'utf8')).private);
let failed = 0;
for (const dir of pkgs) {
  const name = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')).name;
  for (const [tool, args] of [
    ['publint', ['--strict']],
    ['attw', ['--pack', '.', '--profile', 'node16', '--format', 'ascii']],
  ]) {
    try {
      execFileSync(bin(tool), args, { cwd: dir, stdio: 'pipe', encoding: 'utf8' });
    } catch (e) {
      failed++;
      console.error(`check-packages: ${tool} failed for ${name}:\n${e.stdout ?? ''}${e.stderr ?? ''}`);
    }
  }
}
if (failed) process.exit(1);
console.log(`check-packages: publint and attw pass for ${pkgs.length} packages`);
