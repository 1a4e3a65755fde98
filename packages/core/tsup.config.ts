import { defineConfig, type Options } from 'tsup';

const common: Options = {
  entry: { index: 'src/index.ts', 'node/index': 'src/node/index.ts', 'testing/index': 'src/testing/index.ts', 'node/trainWorker': 'src/node/trainWorker.ts' },
  dts: true,
  // `npm run build` empties dist first; the two formats build side by side.
  clean: false,
  target: 'es2022',
  // Bundle tfjs-core's gradient registrations (STACK-NOTES §2): they register into the one global engine.
  noExternal: [/register_all_gradients/],
  external: ['vitest'],
};

export default defineConfig([
  // ESM: no shims, so the platform-neutral entry stays free of Node built-ins (`import.meta.url` is native here).
  { ...common, format: ['esm'] },
  // CJS: the shim gives `import.meta.url` (used by the Node entry to find the mnist package) a value.
  { ...common, format: ['cjs'], shims: true },
]);
