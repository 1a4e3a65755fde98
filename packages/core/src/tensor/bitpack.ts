/** Little-endian bit packing of unsigned integers < 2^bits (bits 1–32), LSB first. */
export function packBits(values: ArrayLike<number>, bits: number): Uint8Array {
  const out = new Uint8Array(Math.ceil((values.length * bits) / 8));
  let bitPos = 0;
  for (let i = 0; i < values.length; i++) {
    let v = values[i]! >>> 0;
    let left = bits;
    while (left > 0) {
      const byte = bitPos >>> 3,
        off = bitPos & 7;
      const take = Math.min(8 - off, left);
      out[byte]! |= (v & ((1 << take) - 1)) << off;
      v = take >= 32 ? 0 : v >>> take;
      left -= take;
      bitPos += take;
    }
  }
  return out;
}

export function unpackBits(bytes: Uint8Array, bits: number, count: number): Uint32Array {
  const out = new Uint32Array(count);
  let bitPos = 0;
  for (let i = 0; i < count; i++) {
    let v = 0,
      got = 0;
    while (got < bits) {
      const byte = bitPos >>> 3,
        off = bitPos & 7;
      const take = Math.min(8 - off, bits - got);
      v += ((bytes[byte]! >>> off) & ((1 << take) - 1)) * 2 ** got;
      got += take;
      bitPos += take;
    }
    out[i] = v;
  }
  return out;
}

/** Bitmap of a 0/1 mask, 1 bit per entry. */
export const packMask = (mask: Uint8Array): Uint8Array => packBits(mask, 1);
export const unpackMask = (bytes: Uint8Array, n: number): Uint8Array => Uint8Array.from(unpackBits(bytes, 1, n));

/**
 * Relative (gap) index of a mask with escape codes: each kept entry stores the gap since the previous kept
 * entry in `gapBits` bits; a gap that does not fit is split by escape symbols (the all-ones code = "advance
 * 2^gapBits − 1 positions, no value"). Returns the symbols to pack.
 */
export function relativeIndexSymbols(mask: Uint8Array, gapBits: number): number[] {
  const esc = 2 ** gapBits - 1;
  const out: number[] = [];
  let gap = 0;
  for (let i = 0; i < mask.length; i++) {
    if (!mask[i]) {
      gap++;
      continue;
    }
    while (gap >= esc) {
      out.push(esc);
      gap -= esc;
    }
    out.push(gap);
    gap = 0;
  }
  return out;
}

export function maskFromRelativeSymbols(symbols: ArrayLike<number>, gapBits: number, n: number): Uint8Array {
  const esc = 2 ** gapBits - 1;
  const mask = new Uint8Array(n);
  let pos = 0;
  for (let i = 0; i < symbols.length; i++) {
    const s = symbols[i]!;
    if (s === esc) {
      pos += esc;
      continue;
    }
    pos += s;
    if (pos >= n) throw new RangeError(`relative index points past the end (${pos} ≥ ${n})`);
    mask[pos] = 1;
    pos++;
  }
  return mask;
}
