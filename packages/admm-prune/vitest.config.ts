export { default } from '../../configs/vitest.method.js';
