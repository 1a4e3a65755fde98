import { defineConfig, type Options } from 'tsup';

const common: Options = { clean: false, shims: true, target: 'node20', external: [/^@edge-compress\//, /^@tensorflow\//] };
export default defineConfig([
  { ...common, entry: { index: 'src/index.ts' }, format: ['esm', 'cjs'], dts: true },
  // The timing worker runs as its own Node process (ESM, top-level await).
  { ...common, entry: { measureWorker: 'src/measureWorker.ts' }, format: ['esm'], dts: false },
]);
