import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const SRC = join(dirname(fileURLToPath(import.meta.url)), '..', 'src');
const NODE_BUILTINS = ['fs', 'path', 'os', 'module', 'url', 'child_process', 'worker_threads', 'crypto', 'http', 'net', 'stream', 'util'];

/** Every source file reachable from an entry through relative imports / re-exports, with its bare imports. */
function reachable(entry: string): Map<string, string[]> {
  const seen = new Map<string, string[]>();
  const stack = [resolve(SRC, entry)];
  while (stack.length > 0) {
    const file = stack.pop()!;
    if (seen.has(file)) continue;
    const text = readFileSync(file, 'utf8');
    const bare: string[] = [];
    for (const m of text.matchAll(/(?:import|export)\s[^'"]*?from\s+['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)/g)) {
      const spec = (m[1] ?? m[2])!;
      if (spec.startsWith('.')) stack.push(resolve(dirname(file), spec.replace(/\.js$/, '.ts')));
      else bare.push(spec);
    }
    seen.set(file, bare);
  }
  return seen;
}

describe('main entry is browser-clean', () => {
  it('src/index.ts reaches no Node built-in, no server/CLI module and no process / Buffer / setImmediate', () => {
    const files = reachable('index.ts');
    expect(files.size).toBeGreaterThan(10);
    for (const [file, bare] of files) {
      const rel = file.slice(SRC.length + 1);
      expect(rel.startsWith('server/') || rel === 'cli.ts', rel).toBe(false);
      for (const spec of bare) {
        expect(spec.startsWith('node:') || NODE_BUILTINS.includes(spec), `${rel} imports ${spec}`).toBe(false);
        expect(['fastify', 'better-sqlite3', 'commander'].includes(spec), `${rel} imports ${spec}`).toBe(false);
      }
      const code = readFileSync(file, 'utf8')
        .replace(/\/\*[\s\S]*?\*\//g, '')
        .replace(/\/\/.*$/gm, '');
      expect(/\bprocess\.|\bBuffer\b|\bsetImmediate\b/.test(code), `${rel} uses a Node global`).toBe(false);
    }
  });
});
