import type { Options } from 'tsup';
import base from '../../configs/tsup.method.js';

// Two entries: the platform-neutral one (browser condition) and the Node one (adds exportQuantized).
const config: Options = { ...(base as Options), entry: { index: 'src/index.ts', node: 'src/node.ts' } };
export default config;
