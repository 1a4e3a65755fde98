/** Entries of `v` where `keep` is 1 (all of `v` without a mask). */
export function filterKept<T extends Float32Array | Int32Array>(v: T, keep: Uint8Array | undefined): T {
  if (!keep) return v;
  const out = new (v.constructor as new (n: number) => T)(keep.reduce((a, b) => a + (b ? 1 : 0), 0));
  let k = 0;
  for (let i = 0; i < v.length; i++) if (keep[i]) out[k++] = v[i]!;
  return out;
}

/** Inverse of filterKept: stored entries placed at kept positions of `fill`. */
export function scatterKept<T extends Float32Array | Int32Array>(vals: T, keep: Uint8Array | undefined, fill: T): T {
  if (!keep) return vals;
  let k = 0;
  for (let i = 0; i < fill.length; i++) if (keep[i]) fill[i] = vals[k++]!;
  return fill;
}
