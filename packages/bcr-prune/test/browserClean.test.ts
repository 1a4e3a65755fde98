import { readFileSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { wasmBytes } from '../src/runtime/module.js';
import { WASM_BASE64, WASM_BYTES_LENGTH } from '../src/runtime/wasmBytes.generated.js';

const src = join(dirname(fileURLToPath(import.meta.url)), '..', 'src');

/** Every source file reachable from src/index.ts through relative imports, with its bare import specifiers. */
function reachable(): Map<string, string[]> {
  const seen = new Map<string, string[]>();
  const visit = (file: string) => {
    if (seen.has(file)) return;
    const text = readFileSync(file, 'utf8');
    const specs = [...text.matchAll(/(?:import|export)[^'"]*?from\s*['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)/g)].map((m) => (m[1] ?? m[2])!);
    seen.set(file, specs);
    for (const s of specs) if (s.startsWith('.')) visit(resolve(dirname(file), s.replace(/\.js$/, '.ts')));
  };
  visit(join(src, 'index.ts'));
  return seen;
}

describe('main entry is browser-clean', () => {
  it('no node built-ins, process, Buffer or setImmediate reachable from src/index.ts', () => {
    const files = reachable();
    expect(files.size).toBeGreaterThan(5);
    const builtins = new Set(builtinModules);
    for (const [file, specs] of files) {
      for (const s of specs) expect({ file, spec: s, builtin: s.startsWith('node:') || builtins.has(s.split('/')[0]!) }).toMatchObject({ builtin: false });
      const code = readFileSync(file, 'utf8').replace(/\/\/.*$|\/\*[\s\S]*?\*\//gm, '');
      expect({ file, hit: code.match(/\bprocess\.|\bBuffer\b|\bsetImmediate\b/)?.[0] ?? null }).toMatchObject({ hit: null });
    }
  });

  it('the wasm runtime is decoded from the bytes embedded in the bundle (decoded without Buffer, identical to the Node decoder)', () => {
    const b = wasmBytes();
    expect(b.length).toBe(WASM_BYTES_LENGTH);
    expect(Array.from(b.subarray(0, 4))).toEqual([0, 0x61, 0x73, 0x6d]);
    expect(Buffer.compare(Buffer.from(b), Buffer.from(WASM_BASE64, 'base64'))).toBe(0);
    const wa = (globalThis as unknown as { WebAssembly: { validate(b: Uint8Array): boolean } }).WebAssembly;
    expect(wa.validate(b)).toBe(true);
  });
});
