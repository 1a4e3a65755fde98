/**
 * The ONE core-facing file of hw-cost: a core model (IR + encodings) → one feature record per layer.
 * Everything else in the package works on these plain records. Reads core v2's summary tree.
 */
import {
  CompressionError,
  gemmDims,
  inferShapes,
  maskIndexBits,
  sizeOf,
  summarize,
  type Encoding,
  type Layer,
  type LayerShapes,
  type Model,
  type ModelIR,
} from '@edge-compress/core';

/** The sparsity / factor structure a device may or may not exploit. */
export const PATTERNS = ['dense', 'unstructured', 'block', 'nm', 'channel', 'lowRank', 'factorized'] as const;
export type Pattern = (typeof PATTERNS)[number];

export const OPS = ['conv2d', 'depthwiseConv2d', 'dense', 'maxPool2d', 'avgPool2d', 'flatten', 'activation', 'batchNorm', 'dropout', 'zeroPad2d', 'add', 'concatenate'] as const;
export type Op = (typeof OPS)[number];

/** One layer (= one kernel; tfjs fuses bias + activation into conv / matmul) at a given batch. */
export interface LayerFeatures {
  name: string;
  op: Op;
  /** Batch. */
  N: number;
  /** Input spatial size and channels (dense: H = W = 1, Cin = fan-in). */
  H: number;
  W: number;
  Cin: number;
  Ho: number;
  Wo: number;
  Cout: number;
  Kh: number;
  Kw: number;
  stride: number;
  padding: 'same' | 'valid';
  act: string;
  /** Dense-equivalent multiply-accumulates at batch N (conv2d / dense only). */
  macs: number;
  /** Other arithmetic at batch N: pooling window reads, batch-norm / activation element ops. */
  ops: number;
  /** MACs when the structure is exploited: non-zeros for sparse patterns, factor MACs for lowRank / factorized. */
  macsEff: number;
  /** Stored value bytes of the kernel + bias as encoded (no indices). */
  weightBytes: number;
  /** Index bytes (mask bitmap / relative index, block or N:M indices). */
  indexBytes: number;
  /** Bytes of the same weights as plain fp32 (what a runtime that dequantizes holds). */
  denseWeightBytes: number;
  /** Input + output activation elements at batch N. */
  actInElems: number;
  actOutElems: number;
  pattern: Pattern;
  /** Non-zeros / elements of the kernel (1 for dense). */
  density: number;
  /** Block shape [rows, cols] in the GEMM view for pattern 'block'. */
  block?: [number, number];
  /** [n, m] for pattern 'nm'. */
  nm?: [number, number];
  rank?: number;
  /** Bit width of stored weight values (32 = fp32). */
  wBits: number;
  /** Exact storage in bits of every weight of the layer (values + indices + scales + factors). */
  storageBits: number;
  /** Kernel parameters (dense-equivalent). */
  params: number;
}

/** Structure facts about one weight, independent of the device. */
export interface WeightFacts {
  pattern: Pattern;
  density: number;
  /** MAC fraction executed when the structure is exploited (density, or factor MACs / dense MACs). */
  macFraction: number;
  valueBits: number;
  indexBits: number;
  storageBits: number;
  wBits: number;
  block?: [number, number];
  nm?: [number, number];
  rank?: number;
}

function maskOf(e: Encoding): Uint8Array | undefined {
  return e.kind === 'masked' ? e.mask : undefined;
}

/** Detects whole-output-channel, block or N:M structure of a mask in the GEMM view (rows = out channels). */
export function maskStructure(mask: Uint8Array, shape: readonly number[]): { pattern: Pattern; block?: [number, number]; nm?: [number, number] } {
  const { rows, cols } = gemmDims(shape);
  // tfjs layout: element i has out channel i % rows and fan-in index floor(i / rows).
  const at = (r: number, c: number) => mask[c * rows + r]!;
  let kept = 0;
  for (let i = 0; i < mask.length; i++) kept += mask[i] ? 1 : 0;
  if (kept === mask.length) return { pattern: 'dense' };
  // Whole rows (out channels) or whole columns (inputs) removed, and nothing else.
  const rowKept = new Uint8Array(rows),
    colKept = new Uint8Array(cols);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) if (at(r, c)) ((rowKept[r] = 1), (colKept[c] = 1));
  let rk = 0,
    ck = 0;
  for (const v of rowKept) rk += v;
  for (const v of colKept) ck += v;
  if (rk * ck === kept) return { pattern: 'channel' };
  // Blocks: the largest block on which the mask is constant (what a block-sparse kernel can use).
  const blocks: Array<[number, number]> = [
    [8, 8],
    [4, 4],
    [16, 1],
    [1, 16],
    [8, 1],
    [1, 8],
    [2, 2],
    [4, 1],
    [1, 4],
  ];
  for (const [br, bc] of blocks) {
    if (rows % br || cols % bc || rows * cols === br * bc) continue;
    let ok = true;
    for (let r0 = 0; r0 < rows && ok; r0 += br) {
      for (let c0 = 0; c0 < cols && ok; c0 += bc) {
        const v = at(r0, c0);
        for (let r = r0; r < r0 + br && ok; r++) for (let c = c0; c < c0 + bc; c++) if (at(r, c) !== v) ok = false;
      }
    }
    if (ok) return { pattern: 'block', block: [br, bc] };
  }
  // N:M along the fan-in (each group of m consecutive inputs of a row keeps at most n).
  for (const m of [4, 8, 16]) {
    if (cols % m) continue;
    let maxN = 0;
    for (let r = 0; r < rows; r++) {
      for (let c0 = 0; c0 < cols; c0 += m) {
        let n = 0;
        for (let c = c0; c < c0 + m; c++) n += at(r, c);
        if (n > maxN) maxN = n;
      }
    }
    if (maxN < m && Math.abs(maxN / m - kept / mask.length) < 1e-9) return { pattern: 'nm', nm: [maxN, m] };
  }
  return { pattern: 'unstructured' };
}

type Node = {
  kind: string;
  elements: number;
  storedValues?: number;
  ownBits?: number;
  block?: [number, number];
  nm?: [number, number];
  rank?: number;
  factorShapes?: number[][];
  children: Record<string, Node>;
};
function findNode(n: Node, kind: string): Node | undefined {
  if (n.kind === kind) return n;
  for (const c of Object.values(n.children)) {
    const f = findNode(c, kind);
    if (f) return f;
  }
  return undefined;
}

/**
 * Device-independent facts about one kernel encoding, read from core's summary tree (core v2: kind, stored
 * values, own index bits, block, N:M, rank, factor shapes per node) plus, for masks, the detected structure.
 */
export function weightFacts(e: Encoding): WeightFacts {
  const s = summarize(e);
  const tree = s.tree as unknown as Node;
  const elements = sizeOf(e.shape);
  if (s.structure === 'lowRank' || s.structure === 'factorized') {
    const node = findNode(tree, s.structure)!;
    const { rows, cols } = gemmDims(e.shape);
    const k = node.rank ?? s.rank ?? (e.kind === 'lowRank' ? e.rank : 1);
    // Factor MACs per output pixel = entries of the factors (gemm view: k·(rows + cols); spatial view: kh·cin·k + kw·k·cout).
    const factorElems = node.factorShapes?.length ? node.factorShapes.reduce((a, f) => a + sizeOf(f), 0) : k * (rows + cols);
    return {
      pattern: s.structure,
      density: s.density,
      macFraction: factorElems / elements,
      valueBits: s.storageBits,
      indexBits: 0,
      storageBits: s.storageBits,
      wBits: s.bits,
      rank: k,
    };
  }
  if (s.structure === 'block' || s.structure === 'nm') {
    const node = findNode(tree, s.structure === 'block' ? 'blockSparse' : 'nm')!;
    const indexBits = node.ownBits ?? 0;
    const f: WeightFacts = {
      pattern: s.structure,
      density: s.density,
      macFraction: (node.storedValues ?? s.nonZeros) / elements,
      valueBits: s.storageBits - indexBits,
      indexBits,
      storageBits: s.storageBits,
      wBits: s.bits,
    };
    if (node.block) f.block = node.block;
    if (node.nm) f.nm = node.nm;
    return f;
  }
  const mask = maskOf(e);
  if (mask) {
    const st = maskStructure(mask, e.shape);
    const stored = maskIndexBits(mask).bits;
    let indexBits = stored;
    if (st.pattern === 'block' && st.block) indexBits = Math.min(indexBits, Math.ceil(elements / (st.block[0] * st.block[1])));
    if (st.pattern === 'nm' && st.nm) indexBits = Math.min(indexBits, (elements / st.nm[1]) * Math.ceil(Math.log2(binom(st.nm[1], st.nm[0]))));
    if (st.pattern === 'channel') indexBits = Math.min(indexBits, gemmDims(e.shape).rows + gemmDims(e.shape).cols);
    const f: WeightFacts = {
      pattern: st.pattern,
      density: s.density,
      macFraction: s.density,
      valueBits: s.storageBits - stored,
      indexBits,
      storageBits: s.storageBits,
      wBits: s.bits,
    };
    if (st.block) f.block = st.block;
    if (st.nm) f.nm = st.nm;
    return f;
  }
  // Plain dense or quantized values: zero codes of a quantized tensor are not pruning; only a mostly-zero
  // tensor (density < 0.5, e.g. pruned weights stored densely) counts as unstructured sparsity.
  const pattern: Pattern = s.density < UNSTRUCTURED_BELOW ? 'unstructured' : 'dense';
  return { pattern, density: s.density, macFraction: pattern === 'dense' ? 1 : s.density, valueBits: s.storageBits, indexBits: 0, storageBits: s.storageBits, wBits: s.bits };
}

/** Without a mask, a weight counts as unstructured-sparse only below this density. */
export const UNSTRUCTURED_BELOW = 0.5;

function binom(n: number, k: number): number {
  let r = 1;
  for (let i = 1; i <= k; i++) r = (r * (n - k + i)) / i;
  return r;
}

const DENSE_FACTS: WeightFacts = { pattern: 'dense', density: 1, macFraction: 1, valueBits: 0, indexBits: 0, storageBits: 0, wBits: 32 };

function checkBatch(batch: number): void {
  if (!Number.isInteger(batch) || batch < 1) {
    throw new CompressionError({
      code: 'BAD_CONFIG',
      path: 'batch',
      message: `batch must be an integer ≥ 1, got ${String(batch)}`,
      hint: 'pass --batch 1 (or any positive integer)',
    });
  }
}

function supported(l: Layer, i: number): void {
  if (!(OPS as readonly string[]).includes(l.kind)) {
    throw new CompressionError({
      code: 'UNSUPPORTED_LAYER',
      layer: (l as { name?: string }).name,
      message: `layers[${i}] ('${(l as { name?: string }).name}'): layer kind '${String((l as { kind: unknown }).kind)}' has no cost model`,
      hint: `hw-cost supports ${OPS.join(', ')}`,
    });
  }
}

function record(s: LayerShapes, batch: number, kernel: WeightFacts, extraStorageBits: number, biasBits: number): LayerFeatures {
  const l = s.layer;
  const inS = s.inputShape,
    outS = s.outputShape;
  const spatial = (sh: number[]) => (sh.length === 3 ? [sh[0]!, sh[1]!, sh[2]!] : [1, 1, sh.reduce((a, b) => a * b, 1)]) as [number, number, number];
  const [H, W, Cin] = spatial(inS);
  const [Ho, Wo, Cout] = spatial(outS);
  let Kh = 1,
    Kw = 1,
    stride = 1;
  let padding: 'same' | 'valid' = 'valid';
  let act = 'linear';
  let macs = s.macs * batch;
  let ops = 0;
  if (l.kind === 'conv2d' || l.kind === 'depthwiseConv2d') {
    [Kh, Kw] = l.kernelSize;
    stride = l.strides[0];
    padding = l.padding;
    act = l.activation;
    // A depthwise conv is a windowed multiply-add per output element, like a pooling window: its MACs are its window ops.
    if (l.kind === 'depthwiseConv2d') ops = macs;
  } else if (l.kind === 'dense') act = l.activation;
  else if (l.kind === 'maxPool2d' || l.kind === 'avgPool2d') {
    [Kh, Kw] = l.poolSize;
    stride = l.strides[0];
    padding = l.padding;
    ops = batch * Ho * Wo * Cout * Kh * Kw; // window reads (compares / adds)
  } else if (l.kind === 'activation') ((act = l.activation), (ops = batch * sizeOf(outS)));
  else if (l.kind === 'batchNorm') ops = 2 * batch * sizeOf(outS);
  else if (l.kind === 'add') ops = batch * sizeOf(outS) * (s.inputShapes.length - 1);
  const weighted = l.kind === 'conv2d' || l.kind === 'dense';
  const params = Object.entries(s.weights)
    .filter(([n]) => n.endsWith('/kernel'))
    .reduce((a, [, sh]) => a + sizeOf(sh), 0);
  const storageBits = kernel.storageBits + biasBits + extraStorageBits;
  const f: LayerFeatures = {
    name: l.name,
    op: l.kind,
    N: batch,
    H,
    W,
    Cin,
    Ho,
    Wo,
    Cout,
    Kh,
    Kw,
    stride,
    padding,
    act,
    macs,
    ops,
    macsEff: weighted ? macs * kernel.macFraction : macs,
    weightBytes: (kernel.valueBits + biasBits + extraStorageBits) / 8,
    indexBytes: kernel.indexBits / 8,
    denseWeightBytes: 4 * Object.values(s.weights).reduce((a, sh) => a + sizeOf(sh), 0),
    actInElems: batch * s.inputShapes.reduce((a, x) => a + sizeOf(x), 0),
    actOutElems: batch * sizeOf(outS),
    pattern: weighted ? kernel.pattern : 'dense',
    density: weighted ? kernel.density : 1,
    wBits: weighted ? kernel.wBits : 32,
    storageBits,
    params,
  };
  if (kernel.block) f.block = kernel.block;
  if (kernel.nm) f.nm = kernel.nm;
  if (kernel.rank !== undefined) f.rank = kernel.rank;
  return f;
}

/** Feature records of every layer of a model with its encodings, at a batch. */
export function modelFeatures(model: Model, batch = 1): LayerFeatures[] {
  checkBatch(batch);
  model.ir.layers.forEach(supported);
  return inferShapes(model.ir).map((s) => {
    const names = Object.keys(s.weights);
    const kernelName = names.find((n) => n.endsWith('/kernel'));
    const enc = (n: string): Encoding => {
      const e = model.weights[n];
      if (!e)
        throw new CompressionError({
          code: 'BAD_MODEL_FILE',
          layer: s.layer.name,
          message: `weight '${n}' of layer '${s.layer.name}' is missing`,
          hint: 'load the model with loadModel so every weight is present',
        });
      return e;
    };
    const kernel = kernelName ? weightFacts(enc(kernelName)) : DENSE_FACTS;
    let other = 0;
    let bias = 0;
    for (const n of names) {
      if (n === kernelName) continue;
      const b = summarize(enc(n)).storageBits;
      if (n.endsWith('/bias')) bias += b;
      else other += b;
    }
    return record(s, batch, kernel, other, bias);
  });
}

/** Feature records of an IR alone (every weight dense fp32): what stock tfjs runs for any encoding. */
export function irFeatures(ir: ModelIR, batch = 1): LayerFeatures[] {
  checkBatch(batch);
  ir.layers.forEach(supported);
  return inferShapes(ir).map((s) => {
    const kernelBits = Object.entries(s.weights)
      .filter(([n]) => n.endsWith('/kernel'))
      .reduce((a, [, sh]) => a + 32 * sizeOf(sh), 0);
    const biasBits = Object.entries(s.weights)
      .filter(([n]) => n.endsWith('/bias'))
      .reduce((a, [, sh]) => a + 32 * sizeOf(sh), 0);
    const otherBits = Object.entries(s.weights)
      .filter(([n]) => !n.endsWith('/bias') && !n.endsWith('/kernel'))
      .reduce((a, [, sh]) => a + 32 * sizeOf(sh), 0);
    return record(s, batch, { ...DENSE_FACTS, valueBits: kernelBits, storageBits: kernelBits }, otherBits, biasBits);
  });
}

/** Summary fields hw-cost reads (core v1's EncodingSummary; core v2 adds structure 'block' | 'nm' and a node tree). */
export interface SummaryLike {
  shape: number[];
  kinds: string[];
  density: number;
  bits: number;
  structure: string;
  rank?: number;
  storageBits: number;
  tree?: { ownBits?: number; block?: [number, number]; nm?: [number, number]; children?: Record<string, unknown> };
}

/** Facts of a weight from core's `EncodingSummary` alone (what `CostFn` receives); structure as far as the summary tells. */
export function factsFromSummary(summary: SummaryLike): WeightFacts {
  const elements = sizeOf(summary.shape);
  if (summary.structure === 'lowRank' || summary.structure === 'factorized') {
    const { rows, cols } = gemmDims(summary.shape);
    const k = summary.rank ?? Math.max(1, Math.round(summary.storageBits / summary.bits / (rows + cols)));
    const f: WeightFacts = {
      pattern: summary.structure,
      density: summary.density,
      macFraction: (k * (rows + cols)) / (rows * cols),
      valueBits: summary.storageBits,
      indexBits: 0,
      storageBits: summary.storageBits,
      wBits: summary.bits,
      rank: k,
    };
    return f;
  }
  const masked = summary.kinds.includes('masked');
  const pattern: Pattern =
    summary.structure === 'block' || summary.structure === 'nm' ? summary.structure : summary.density < (masked ? 1 - 1e-9 : UNSTRUCTURED_BELOW) ? 'unstructured' : 'dense';
  const valueBits = Math.min(summary.storageBits, summary.density * elements * summary.bits);
  const f: WeightFacts = {
    pattern,
    density: summary.density,
    macFraction: pattern === 'dense' ? 1 : summary.density,
    valueBits,
    indexBits: summary.storageBits - valueBits,
    storageBits: summary.storageBits,
    wBits: summary.bits,
  };
  if (summary.tree?.block) f.block = summary.tree.block;
  if (summary.tree?.nm) f.nm = summary.tree.nm;
  return f;
}
