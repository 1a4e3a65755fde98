/** The parts, end to end, in one buffer. */
export function concatBytes(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((a, p) => a + p.byteLength, 0));
  let o = 0;
  for (const p of parts) (out.set(p, o), (o += p.byteLength));
  return out;
}
