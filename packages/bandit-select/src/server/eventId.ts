/**
 * Event ids: RFC 9562 UUID version 7 (48-bit Unix milliseconds, then 74 random bits). The random bits keep ids
 * unguessable like v4's, and the time prefix makes new ids land at the right edge of the SQLite `event_id` index
 * instead of on a random page, so each commit dirties fewer index pages.
 */
import { randomFillSync } from 'node:crypto';

const POOL_BYTES = 16 * 256;
const pool = new Uint8Array(POOL_BYTES);
let poolPos = POOL_BYTES;
const HEX: string[] = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));

/** A UUIDv7 string for time `ms` (default now): `tttttttt-tttt-7rrr-Vrrr-rrrrrrrrrrrr`. */
export function uuidV7(ms: number = Date.now()): string {
  if (poolPos + 10 > POOL_BYTES) {
    randomFillSync(pool);
    poolPos = 0;
  }
  const r = poolPos;
  poolPos += 10;
  const hi = Math.floor(ms / 0x10000); // top 32 bits of the 48-bit timestamp
  const lo = ms % 0x10000;
  const h = (x: number): string => HEX[x & 0xff]!;
  return (
    h(hi >>> 24) +
    h(hi >>> 16) +
    h(hi >>> 8) +
    h(hi) +
    '-' +
    h(lo >>> 8) +
    h(lo) +
    '-' +
    h(0x70 | (pool[r]! & 0x0f)) +
    h(pool[r + 1]!) +
    '-' +
    h(0x80 | (pool[r + 2]! & 0x3f)) +
    h(pool[r + 3]!) +
    '-' +
    h(pool[r + 4]!) +
    h(pool[r + 5]!) +
    h(pool[r + 6]!) +
    h(pool[r + 7]!) +
    h(pool[r + 8]!) +
    h(pool[r + 9]!)
  );
}
