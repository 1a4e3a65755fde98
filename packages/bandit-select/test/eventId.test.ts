import { describe, expect, it } from 'vitest';
import { uuidV7 } from '../src/server/eventId.js';

describe('uuidV7', () => {
  it('is an RFC 9562 version-7 UUID whose first 48 bits are the milliseconds', () => {
    const ms = 0x0189_3a4b_5c6d;
    const id = uuidV7(ms);
    expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(id.slice(0, 13)).toBe('01893a4b-5c6d');
  });

  it('sorts by time across milliseconds and is unique within one', () => {
    const ids = Array.from({ length: 2000 }, (_, i) => uuidV7(1_700_000_000_000 + Math.floor(i / 100)));
    expect(new Set(ids).size).toBe(2000);
    for (let i = 100; i < ids.length; i += 100) expect(ids[i - 1]! < ids[i]!).toBe(true);
    // the random part varies (74 random bits): not all ids in one millisecond share their tail
    expect(new Set(ids.slice(0, 100).map((x) => x.slice(-12))).size).toBe(100);
  });
});
