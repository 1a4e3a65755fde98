import { CompressionError, inferShapes, type ModelIR } from '@edge-compress/core';
import type { FactorView } from './factors.js';

/** What the cost of a weighted layer depends on (per example). */
export interface LayerGeometry {
  layer: string;
  kind: 'conv2d' | 'dense';
  /** tfjs kernel shape. */
  shape: number[];
  /** conv: input [h, w, c] and output [oh, ow, cout]; dense: [in] and [out]. */
  inputShape: number[];
  outputShape: number[];
  strides: [number, number];
}

export function layerGeometry(ir: ModelIR, layer: string): LayerGeometry {
  const s = inferShapes(ir).find((x) => x.layer.name === layer);
  if (!s || (s.layer.kind !== 'conv2d' && s.layer.kind !== 'dense')) {
    throw new CompressionError({ code: 'UNSUPPORTED_LAYER', layer, message: `layer '${layer}' is not a conv2d or dense layer of model '${ir.name}'` });
  }
  const l = s.layer;
  return { layer, kind: l.kind, shape: s.weights[`${layer}/kernel`]!, inputShape: s.inputShape, outputShape: s.outputShape, strides: l.kind === 'conv2d' ? l.strides : [1, 1] };
}

/** Multiply-accumulates and parameters (kernel only; bias excluded) of a layer stored dense. */
export function denseCost(g: LayerGeometry): { macs: number; params: number } {
  const params = g.shape.reduce((a, b) => a * b, 1);
  if (g.kind === 'dense') return { macs: params, params };
  const [oh, ow] = g.outputShape as [number, number, number];
  return { macs: oh * ow * params, params };
}

/**
 * MACs and parameters (U, V and s) of a layer stored at rank r in a view (ALGORITHMS §3.5), counted for
 * the kernel that runs it: dense x·(V·s)·Uᵀ; channel-wise conv k×k C→r then 1×1 r→N; spatial conv
 * kh×1 C→r (output [oh, w_in, r]) then 1×kw r→N.
 */
export function lowRankCost(g: LayerGeometry, view: FactorView, r: number): { macs: number; params: number } {
  if (g.kind === 'dense') {
    const [n, m] = g.shape as [number, number];
    return { macs: r * (m + n), params: r * (m + n) + r };
  }
  const [kh, kw, cin, cout] = g.shape as [number, number, number, number];
  const [oh, ow] = g.outputShape as [number, number, number];
  if (view === 'gemm') {
    const ck = kh * kw * cin;
    return { macs: oh * ow * r * (ck + cout), params: r * (ck + cout) + r };
  }
  const win = g.inputShape[1]!;
  // First conv: stride (sh, 1), output width = input width for 'same' and 'valid' (kernel width 1).
  return { macs: oh * win * r * cin * kh + oh * ow * r * cout * kw, params: r * (cin * kh + cout * kw) + r };
}

/**
 * The largest rank at which the low-rank form is strictly cheaper than dense in both MACs and parameters
 * (0 when no rank is). At or above it the layer is stored dense: factoring never inflates a layer.
 */
export function breakEvenRank(g: LayerGeometry, view: FactorView): number {
  const d = denseCost(g);
  const one = lowRankCost(g, view, 1);
  // Both costs are linear in r (params: r·(m+n+1)), so the bound is a division.
  const byMacs = Math.ceil(d.macs / one.macs) - 1;
  const byParams = Math.ceil(d.params / one.params) - 1;
  return Math.max(0, Math.min(byMacs, byParams));
}
