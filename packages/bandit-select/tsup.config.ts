import { defineConfig } from 'tsup';

// One build for all entries. src/cli.ts starts with `#!/usr/bin/env node`; esbuild keeps an entry's hashbang and
// tsup marks such outputs executable, so dist/cli.js is the `edge-select` bin.
export default defineConfig({
  entry: { index: 'src/index.ts', 'server/index': 'src/server/index.ts', cli: 'src/cli.ts' },
  format: ['esm', 'cjs'],
  dts: true,
  clean: true,
  target: 'node20',
  external: ['better-sqlite3', 'fastify', 'zod', 'commander'],
});
