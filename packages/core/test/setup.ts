import { initBackend } from '../src/backend/index.js';

await initBackend('wasm');
