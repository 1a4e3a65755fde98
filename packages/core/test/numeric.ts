/** max |a − b| over the arrays, relative to b's largest magnitude (never below `floor`): one scale for a whole tensor. */
export function maxRelErr(a: Float32Array, b: Float32Array, floor = 1e-3): number {
  let scale = 0;
  for (const v of b) scale = Math.max(scale, Math.abs(v));
  let worst = 0;
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i]! - b[i]!) / Math.max(floor, scale));
  return worst;
}
