import { defineConfig } from 'tsup';

/**
 * The build of a method package (one `src/index.ts` entry): ESM + CJS + d.ts for Node 20, with core and tfjs left
 * external (one engine). A package's tsup.config.ts is one line: `export { default } from '../../configs/tsup.method.js';`
 */
export default defineConfig({
  entry: { index: 'src/index.ts' },
  format: ['esm', 'cjs'],
  dts: true,
  clean: true,
  target: 'node20',
  external: [/^@edge-compress\//, /^@tensorflow\//],
});
