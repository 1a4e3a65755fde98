import { existsSync } from 'node:fs';
import { defineConfig } from 'vitest/config';

/**
 * The tests of a package: sources through the `@edge-compress/source` condition (no build needed), forked
 * workers, generous timeouts for a loaded 2-core machine, and `test/setup.ts` when the package has one (it
 * calls `initBackend('wasm')`; the contract suite starts its own backend).
 */
const conditions = ['@edge-compress/source', 'module', 'node', 'import', 'default'];
export default defineConfig({
  resolve: { conditions },
  ssr: { resolve: { conditions } },
  test: {
    setupFiles: existsSync('test/setup.ts') ? ['./test/setup.ts'] : [],
    testTimeout: 120_000,
    hookTimeout: 120_000,
    pool: 'forks',
    include: ['src/**/*.test.ts', 'test/**/*.test.ts'],
  },
});
