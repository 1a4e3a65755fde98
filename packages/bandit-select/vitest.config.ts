import { defineConfig } from 'vitest/config';

const conditions = ['@edge-compress/source', 'module', 'node', 'import', 'default'];

export default defineConfig({
  resolve: { conditions },
  ssr: { resolve: { conditions } },
  test: { include: ['src/**/*.test.ts', 'test/**/*.test.ts'], testTimeout: 20_000, hookTimeout: 20_000, pool: 'forks' },
});
