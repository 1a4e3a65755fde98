import { CompressionError, type Target } from '@edge-compress/core';
import type { QuantizeConfig } from './config.js';

/** Per-target checks run by plan (recipe errors surface before any work). */
export function checkQuantTarget(t: Target<QuantizeConfig>, path: string): void {
  const fail = (message: string, hint: string): never => {
    throw new CompressionError({ code: 'RECIPE_INVALID', method: 'quantize', layer: t.layer, path, message: `${path}: ${message}`, hint });
  };
  const g = t.config.granularity;
  if (g !== undefined && g !== 'default' && g !== 'out_channel' && g !== 'per_channel') {
    fail(`granularity ${JSON.stringify(g)} is not supported by 'quantize'`, "use 'default' (per tensor) or 'out_channel' (one scale per output channel)");
  }
  if (t.config.quantDtype === 'float16' && g !== undefined && g !== 'default') fail('float16 has no per-channel form', "remove granularity or use 'default'");
}
