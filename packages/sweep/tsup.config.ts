import { defineConfig } from 'tsup';

export default defineConfig({
  // child: the entry of job processes (forked by the process pool; imports the app's job module).
  entry: { index: 'src/index.ts', child: 'src/child.ts' },
  format: ['esm', 'cjs'],
  dts: { entry: { index: 'src/index.ts' } },
  clean: true,
  shims: true,
  target: 'node20',
  external: [/^@edge-compress\//, /^@tensorflow\//, 'bullmq', 'ioredis'],
});
