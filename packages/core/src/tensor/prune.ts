/**
 * Mask keeping the `keep` entries of largest |score|; ties broken by index (lower index kept) so the
 * result is deterministic. Returns 1 for kept, 0 for pruned.
 */
export function topkMask(scores: ArrayLike<number>, keep: number): Uint8Array {
  const n = scores.length;
  const mask = new Uint8Array(n);
  const k = Math.max(0, Math.min(n, Math.round(keep)));
  if (k === 0) return mask;
  if (k === n) return mask.fill(1);
  const idx = new Uint32Array(n);
  for (let i = 0; i < n; i++) idx[i] = i;
  const abs = new Float64Array(n);
  for (let i = 0; i < n; i++) abs[i] = Math.abs(scores[i]!);
  idx.sort((a, b) => abs[b]! - abs[a]! || a - b);
  for (let i = 0; i < k; i++) mask[idx[i]!] = 1;
  return mask;
}

/** Magnitude threshold such that exactly ⌊ratio·n⌋ entries of the union of `tensors` are pruned (global). */
export function globalTopkMasks(tensors: Float32Array[], sparseRatio: number): Uint8Array[] {
  const total = tensors.reduce((a, t) => a + t.length, 0);
  const all = new Float32Array(total);
  let o = 0;
  for (const t of tensors) {
    all.set(t, o);
    o += t.length;
  }
  const keep = total - Math.floor(sparseRatio * total);
  const m = topkMask(all, keep);
  const out: Uint8Array[] = [];
  o = 0;
  for (const t of tensors) {
    out.push(m.slice(o, o + t.length));
    o += t.length;
  }
  return out;
}

export function countNonZero(v: ArrayLike<number>): number {
  let n = 0;
  for (let i = 0; i < v.length; i++) if (v[i] !== 0) n++;
  return n;
}
