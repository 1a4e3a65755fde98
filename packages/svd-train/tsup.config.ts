import { defineConfig, type Options } from 'tsup';

/**
 * The method build (configs/tsup.method.ts) plus a second entry: `factoredForward`, the module training workers
 * import to rebuild the factored forward (core's portableLayerForward). `train.ts` finds it next to itself through
 * `import.meta.url`, which the CJS build gets from tsup's shim.
 */
const common: Options = {
  // `npm run build` empties dist first; the two formats build side by side.
  clean: false,
  entry: { index: 'src/index.ts', factoredForward: 'src/factoredForward.ts' },
  dts: true,
  target: 'node20',
  external: [/^@edge-compress\//, /^@tensorflow\//],
};

export default defineConfig([
  { ...common, format: ['esm'] },
  { ...common, format: ['cjs'], shims: true },
]);
