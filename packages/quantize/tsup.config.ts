export { default } from '../../configs/tsup.method.js';
