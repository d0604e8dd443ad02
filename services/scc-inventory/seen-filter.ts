// A Bloom filter of strings in a fixed amount of memory: "certainly never added" or "maybe added".
// The rebuild asks it whether an event_id was processed before; only a "maybe" (a real duplicate, or
// a false positive) costs a look-up of the idempotency rows already written. So the rebuild needs
// neither every event_id of the topic in memory nor a database round trip per record, whatever the
// topic's length: the false-positive rate grows with the number of ids added, never the memory.
export class SeenFilter {
  private readonly bits: Uint32Array;
  private readonly mask: number;

  /** `log2Bits`: the filter holds 2^log2Bits bits (default 2^25 = 4 MiB: ~1e-5 false positives at 1,000,000 ids). */
  constructor(log2Bits = 25, private readonly hashes = 7) {
    if (!Number.isInteger(log2Bits) || log2Bits < 5 || log2Bits > 31) throw new RangeError('log2Bits must be an integer in 5..31');
    this.bits = new Uint32Array(2 ** (log2Bits - 5));
    this.mask = 2 ** log2Bits - 1;
  }

  add(key: string): void {
    hashInto(key);
    let h = HASHES[0]!;
    const step = HASHES[1]! | 1;
    for (let i = 0; i < this.hashes; i++) {
      const bit = (h & this.mask) >>> 0;
      this.bits[bit >>> 5]! |= 1 << (bit & 31);
      h = (h + step) | 0;
    }
  }

  /** False: `key` was certainly never added. True: it may have been. */
  mightHave(key: string): boolean {
    hashInto(key);
    let h = HASHES[0]!;
    const step = HASHES[1]! | 1;
    for (let i = 0; i < this.hashes; i++) {
      const bit = (h & this.mask) >>> 0;
      if ((this.bits[bit >>> 5]! & (1 << (bit & 31))) === 0) return false;
      h = (h + step) | 0;
    }
    return true;
  }
}

// Two independent 32-bit string hashes (FNV-1a, and a multiplicative one with another seed) in one pass
// over the key, combined by double hashing into the filter's positions. Written into HASHES rather than
// returned, so that a look-up allocates nothing.
const HASHES = new Int32Array(2);

function hashInto(s: string): void {
  let a = 0x811c9dc5;
  let b = 0x9e3779b9;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    a = Math.imul(a ^ c, 0x01000193);
    b = Math.imul(b ^ c, 0x5bd1e995) ^ (b >>> 13);
  }
  HASHES[0] = a ^ (a >>> 15);
  HASHES[1] = b ^ (b >>> 16);
}
