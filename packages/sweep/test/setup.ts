import { initBackend } from '@edge-compress/core';

await initBackend('wasm');
