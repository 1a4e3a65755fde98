import { defineConfig } from 'vitest/config';

const conditions = ['@edge-compress/source', 'module', 'node', 'import', 'default'];
export default defineConfig({
  resolve: { conditions },
  ssr: { resolve: { conditions } },
  test: { testTimeout: 300_000, hookTimeout: 300_000, pool: 'forks', include: ['test/**/*.test.ts'] },
});
