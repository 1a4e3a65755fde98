#!/usr/bin/env node
// Dependency direction (STYLE.md): core depends on no workspace package; method packages, hw-cost and
// bandit-select depend on core only; only the app depends on everything. Also: no source imports another
// package by relative path or through /dist/.
import { readFileSync, readdirSync, existsSync, statSync } from 'node:fs';
import { join } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
const dirs = ['packages', 'apps'].flatMap((d) => (existsSync(join(root, d)) ? readdirSync(join(root, d)).map((p) => join(d, p)) : []));
const pkgs = dirs.filter((d) => existsSync(join(root, d, 'package.json'))).map((d) => ({ dir: d, json: JSON.parse(readFileSync(join(root, d, 'package.json'), 'utf8')) }));
const errors = [];
for (const { dir, json } of pkgs) {
  const deps = Object.keys({ ...json.dependencies, ...json.peerDependencies, ...json.devDependencies }).filter((d) => d.startsWith('@edge-compress/'));
  const isApp = dir.startsWith('apps/');
  const allowed = json.name === '@edge-compress/core' ? [] : isApp ? deps : ['@edge-compress/core'];
  for (const d of deps) if (!allowed.includes(d)) errors.push(`${dir}/package.json: ${json.name} must not depend on ${d} (methods depend on @edge-compress/core only)`);
  const walk = (p) => (statSync(p).isDirectory() ? readdirSync(p).flatMap((f) => (f === 'node_modules' || f === 'dist' ? [] : walk(join(p, f)))) : [p]);
  const src = join(root, dir, 'src');
  if (!existsSync(src)) continue;
  for (const f of walk(src).filter((f) => /\.(ts|mts|cts|js|mjs)$/.test(f))) {
    const text = readFileSync(f, 'utf8');
    for (const m of text.matchAll(/from\s+['"]([^'"]+)['"]/g)) {
      const spec = m[1];
      if (/^(\.\.\/)+(packages|apps)\//.test(spec) || /\.\.\/\.\.\/[^/]+\/src\//.test(spec))
        errors.push(`${f.slice(root.length)}: imports another package by path ('${spec}'); import it by name`);
      if (/^@edge-compress\/[^/]+\/dist\//.test(spec)) errors.push(`${f.slice(root.length)}: imports '${spec}'; import the package's exports, not /dist/`);
    }
  }
}
if (errors.length) {
  console.error(`check-deps: ${errors.length} problem(s):\n${errors.map((e) => `  - ${e}`).join('\n')}`);
  process.exit(1);
}
console.log(`check-deps: ${pkgs.length} packages follow the dependency rules`);
