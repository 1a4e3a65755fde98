import { CompressionError } from '../errors.js';
import { sizeOf } from '../ir/shapes.js';
import { countNonZero } from '../tensor/prune.js';
import { defOf } from './registry.js';
import type { Encoding, EncodingBase, EncodingSummary, SummaryNode } from './types.js';

/** The fp32 weight in tfjs layout, exactly as an inference engine would see it. */
export function toDense(e: Encoding | EncodingBase): Float32Array {
  return defOf(e).toDense(e);
}

/**
 * True storage: values + indices/bitmaps + scales/zero points + factors, exactly the bits core IO writes
 * (each array rounded up to whole bytes there, so the payload is within one byte per array of this / 8).
 * `kept`: for elementwise encodings, the number of entries stored (under a mask).
 */
export function storageBits(e: Encoding | EncodingBase, kept?: number): number {
  const d = defOf(e);
  const ck = d.childKept?.(e) ?? {};
  let bits = d.ownBits(e, kept);
  for (const [slot, c] of Object.entries(d.children(e))) bits += storageBits(c, ck[slot]);
  return bits;
}

/** Values physically stored (codes, fp32 values, factor entries). */
export function storedValues(e: Encoding | EncodingBase, kept?: number): number {
  const d = defOf(e);
  const ck = d.childKept?.(e) ?? {};
  let n = d.ownValues(e, kept);
  for (const [slot, c] of Object.entries(d.children(e))) n += storedValues(c, ck[slot]);
  return n;
}

/** Non-zeros of the dense weight the encoding decodes to (the one definition; see storedValues for the other count). */
export function nonZeros(e: Encoding | EncodingBase): number {
  return countNonZero(toDense(e));
}

/** The summary tree: per node kind, shape, stored values, dense non-zeros, bits, scheme, block, N:M, rank, factors. */
export function summarizeTree(e: Encoding | EncodingBase, kept?: number): SummaryNode {
  const d = defOf(e);
  const ck = d.childKept?.(e) ?? {};
  const children: Record<string, SummaryNode> = {};
  for (const [slot, c] of Object.entries(d.children(e))) children[slot] = summarizeTree(c, ck[slot]);
  const elements = sizeOf(e.shape);
  const nz = nonZeros(e);
  return {
    kind: e.kind,
    shape: [...e.shape],
    elements,
    storedValues: storedValues(e, kept),
    nonZeros: nz,
    density: elements ? nz / elements : 0,
    storageBits: storageBits(e, kept),
    ownBits: d.ownBits(e, kept),
    ...(d.summary?.(e) ?? {}),
    children,
  };
}

function minBits(n: SummaryNode): number {
  const own = n.bits ?? Infinity;
  return Math.min(own, ...Object.values(n.children).map(minBits));
}

/** Flat summary for reports (plus the tree, for cost models). */
export function summarize(e: Encoding | EncodingBase): EncodingSummary {
  const tree = summarizeTree(e);
  const kinds: string[] = [];
  for (let n: SummaryNode | undefined = tree; n; n = Object.values(n.children)[0]) kinds.push(n.kind);
  const structure: EncodingSummary['structure'] = kinds.includes('lowRank')
    ? 'lowRank'
    : kinds.includes('factorized')
      ? 'factorized'
      : kinds.includes('blockSparse')
        ? 'block'
        : kinds.includes('nm')
          ? 'nm'
          : tree.nonZeros < tree.elements
            ? 'unstructured'
            : 'dense';
  const bits = minBits(tree);
  const s: EncodingSummary = {
    shape: tree.shape,
    kinds,
    elements: tree.elements,
    nonZeros: tree.nonZeros,
    storedValues: tree.storedValues,
    density: tree.density,
    bits: Number.isFinite(bits) ? bits : 32,
    structure,
    storageBits: tree.storageBits,
    tree,
  };
  const lr = findNode(tree, 'lowRank');
  if (lr?.rank !== undefined) s.rank = lr.rank;
  return s;
}

function findNode(n: SummaryNode, kind: string): SummaryNode | undefined {
  if (n.kind === kind) return n;
  for (const c of Object.values(n.children)) {
    const f = findNode(c, kind);
    if (f) return f;
  }
  return undefined;
}

/** Outer-to-inner kinds along the first child, e.g. ['masked', 'quantized']. */
export function kindsOf(e: Encoding | EncodingBase): string[] {
  const out: string[] = [];
  for (let x: EncodingBase | undefined = e; x; x = Object.values(defOf(x).children(x))[0]) out.push(x.kind);
  return out;
}

/** True when the encoding contains a node of `kind` anywhere in its tree. */
export function containsKind(e: Encoding | EncodingBase, kind: string): boolean {
  if (e.kind === kind) return true;
  return Object.values(defOf(e).children(e)).some((c) => containsKind(c, kind));
}

/**
 * Applies `fn` to every elementwise leaf (dense or quantized value store) of an encoding and rebuilds the
 * structure around the results: quantizing a masked, block-sparse or factorized weight keeps its structure.
 * `mask` is passed for leaves under a mask, so range estimation can ignore pruned entries.
 */
export function mapLeaves(e: Encoding, fn: (leaf: Encoding, mask?: Uint8Array) => Encoding, mask?: Uint8Array): Encoding {
  const d = defOf(e);
  if (d.elementwise) return fn(e, mask);
  const keep = d.childKeep?.(e) ?? {};
  const ch = d.children(e);
  const next: Record<string, Encoding> = {};
  let changed = false;
  for (const [slot, c] of Object.entries(ch)) {
    next[slot] = mapLeaves(c, fn, keep[slot]);
    if (next[slot] !== c) changed = true;
  }
  return changed ? (d.withChildren(e, next) as Encoding) : e;
}

/** Checks an encoding object: known kinds, shapes, lengths (each kind's own checks). */
export function validateEncoding(e: Encoding | EncodingBase, where = 'encoding'): void {
  if (!e || typeof e !== 'object' || typeof e.kind !== 'string' || !Array.isArray(e.shape)) {
    throw new CompressionError({ code: 'BAD_MODEL_FILE', path: where, message: `${where}: not an encoding object (needs kind and shape)` });
  }
  const d = defOf(e);
  d.validate?.(e, where);
  for (const [slot, c] of Object.entries(d.children(e))) validateEncoding(c, `${where}.${slot}`);
}

/** Row-major product [m,k]·[k,n]. */
export function matmulF32(a: Float32Array, b: Float32Array, m: number, k: number, n: number): Float32Array {
  const out = new Float32Array(m * n);
  for (let i = 0; i < m; i++) {
    for (let p = 0; p < k; p++) {
      const av = a[i * k + p]!;
      if (av === 0) continue;
      const bo = p * n,
        oo = i * n;
      for (let j = 0; j < n; j++) out[oo + j]! += av * b[bo + j]!;
    }
  }
  return out;
}
