import { defineConfig } from 'tsup';

export default defineConfig({
  entry: { index: 'src/index.ts', 'testing/index': 'src/testing/index.ts' },
  format: ['esm', 'cjs'],
  dts: true,
  clean: true,
  target: 'node20',
  // import.meta.url (used to find the mnist package) in the CJS build.
  shims: true,
  // Bundle tfjs-core's gradient registrations (STACK-NOTES §2): they register into the one global engine.
  noExternal: [/register_all_gradients/],
  external: ['vitest'],
});
