import { defineConfig } from 'tsup';

export default defineConfig({
  // sweepCli: the job module that sweep job processes and queue workers import by path.
  entry: { cli: 'src/cli.ts', index: 'src/index.ts', sweepCli: 'src/sweepCli.ts' },
  format: ['esm'],
  dts: false,
  clean: true,
  target: 'node20',
  external: [/^@edge-compress\//, /^@tensorflow\//],
});
