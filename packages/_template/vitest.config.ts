import { defineConfig } from 'vitest/config';

const conditions = ['@edge-compress/source', 'module', 'node', 'import', 'default'];
export default defineConfig({
  resolve: { conditions },
  ssr: { resolve: { conditions } },
  test: { testTimeout: 120_000, hookTimeout: 120_000, pool: 'forks', include: ['src/**/*.test.ts', 'test/**/*.test.ts'] },
});
