// Lint: the dependency rules of STYLE.md, checked on the imports themselves (check-deps.mjs checks package.json).
// - every bare import must be declared by the importing package's package.json (dependencies, peer or dev);
// - a method package (anything under packages/ but core) imports no other @edge-compress package than core;
// - no relative import reaches into another package; no import of another package's /src or /dist;
// - packages never print (console) outside their CLI entry points and benches.
import tsParser from '@typescript-eslint/parser';
import tsPlugin from '@typescript-eslint/eslint-plugin';
import { existsSync, readFileSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { dirname, join, relative, resolve } from 'node:path';

const root = dirname(new URL(import.meta.url).pathname);
const manifests = new Map();
function manifestOf(file) {
  let dir = dirname(file);
  while (dir.startsWith(root) && dir !== root) {
    if (existsSync(join(dir, 'package.json'))) {
      if (!manifests.has(dir)) manifests.set(dir, { dir, json: JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) });
      return manifests.get(dir);
    }
    dir = dirname(dir);
  }
  return undefined;
}
const pkgName = (spec) => (spec.startsWith('@') ? spec.split('/').slice(0, 2).join('/') : spec.split('/')[0]);
const rootJson = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
// Workspace tooling (vitest, tsup, fast-check, ...) is declared once at the root, for tests, configs and benches.
const rootTools = new Set(Object.keys(rootJson.devDependencies ?? {}));
const builtins = new Set([...builtinModules, ...builtinModules.map((m) => `node:${m}`)]);

const imports = {
  meta: { type: 'problem', schema: [] },
  create(context) {
    const file = context.filename;
    const m = manifestOf(file);
    const check = (node, spec) => {
      if (typeof spec !== 'string') return;
      if (spec.startsWith('.')) {
        const target = resolve(dirname(file), spec);
        if (m && !target.startsWith(m.dir) && !target.startsWith(join(root, 'configs')))
          context.report({ node, message: `'${spec}' reaches outside ${relative(root, m.dir)}; import the other package by name` });
        return;
      }
      if (builtins.has(spec) || spec.startsWith('node:')) return;
      if (/^@edge-compress\/[^/]+\/(src|dist)(\/|$)/.test(spec)) context.report({ node, message: `'${spec}' imports another package's internals; use its exports` });
      if (!m) return;
      const name = pkgName(spec);
      if (name === m.json.name) return;
      // Benches run inside the monorepo (never published) and may drive sibling packages, e.g. a sweep over quantize.
      if (relative(m.dir, file).startsWith('bench/') && name.startsWith('@edge-compress/')) return;
      const j = m.json;
      const declared = { ...j.dependencies, ...j.peerDependencies, ...j.devDependencies, ...j.optionalDependencies };
      const inSrc = relative(m.dir, file).startsWith('src/') && !/\.test\.ts$/.test(file);
      if (!(name in declared) && !(rootTools.has(name) && !inSrc))
        context.report({ node, message: `'${name}' is imported by ${relative(root, file)} but not declared in ${relative(root, join(m.dir, 'package.json'))}` });
      const isMethod = m.dir.includes('/packages/') && j.name !== '@edge-compress/core';
      if (isMethod && name.startsWith('@edge-compress/') && name !== '@edge-compress/core')
        context.report({ node, message: `${j.name} must not import ${name}: method packages depend on @edge-compress/core only` });
    };
    return {
      ImportDeclaration: (node) => check(node, node.source.value),
      ExportNamedDeclaration: (node) => node.source && check(node, node.source.value),
      ExportAllDeclaration: (node) => check(node, node.source.value),
      ImportExpression: (node) => node.source.type === 'Literal' && check(node, node.source.value),
    };
  },
};

export default [
  { ignores: ['**/node_modules/**', '**/dist/**', '**/.turbo/**', 'out/**', 'bench-results/**', '**/*.d.ts', '**/assembly/**', '**/generated/**', '**/.tmp-*/**'] },
  {
    files: ['**/*.ts', '**/*.mts', '**/*.mjs', '**/*.js'],
    languageOptions: { parser: tsParser, ecmaVersion: 2022, sourceType: 'module' },
    plugins: { edge: { rules: { imports } }, '@typescript-eslint': tsPlugin },
    rules: { 'edge/imports': 'error', '@typescript-eslint/no-explicit-any': 'error', 'no-debugger': 'error', 'no-dupe-keys': 'error', 'no-unreachable': 'error' },
  },
  {
    files: ['packages/*/src/**/*.ts'],
    ignores: ['packages/*/src/**/cli.ts', 'packages/*/src/**/*.test.ts', 'packages/*/src/**/bin/**'],
    rules: { 'no-console': 'error' },
  },
];
