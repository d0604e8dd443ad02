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
    let h1 = hash1(key);
    const h2 = hash2(key) | 1;
    for (let i = 0; i < this.hashes; i++) {
      const bit = (h1 & this.mask) >>> 0;
      this.bits[bit >>> 5]! |= 1 << (bit & 31);
      h1 = (h1 + h2) | 0;
    }
  }

  /** False: `key` was certainly never added. True: it may have been. */
  mightHave(key: string): boolean {
    let h1 = hash1(key);
    const h2 = hash2(key) | 1;
    for (let i = 0; i < this.hashes; i++) {
      const bit = (h1 & this.mask) >>> 0;
      if ((this.bits[bit >>> 5]! & (1 << (bit & 31))) === 0) return false;
      h1 = (h1 + h2) | 0;
    }
    return true;
  }
}

// Two independent 32-bit string hashes (FNV-1a, and a multiplicative one with another seed), combined
// by double hashing into the filter's positions.
function hash1(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
  return h ^ (h >>> 15);
}

function hash2(s: string): number {
  let h = 0x9e3779b9;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x5bd1e995) ^ (h >>> 13);
  return h ^ (h >>> 16);
}
