import { createRegistry, magnitudePrune } from '@edge-compress/core';
import { quantize } from '@edge-compress/quantize';

/**
 * THE list of compression methods the app knows. Adding a method = one import and one entry here, plus a
 * recipe in recipes/. Nothing registers itself on import.
 */
export const registry = createRegistry([magnitudePrune, quantize]);
