// The rebuild's Bloom filter of event_ids (services/scc-inventory/seen-filter.ts): never "certainly new"
// for a key it was given (that would fold a duplicate), and seldom "maybe" for one it was not.
import { describe, expect, it } from 'vitest';
import { SeenFilter } from '../../services/scc-inventory/seen-filter.js';

describe('SeenFilter', () => {
  it('says "maybe" for every key added, and "certainly new" for almost every other', () => {
    const filter = new SeenFilter();
    const added = Array.from({ length: 20_000 }, (_, i) => `sap:r-${i}:1`);
    for (const k of added) filter.add(k);
    expect(added.every((k) => filter.mightHave(k))).toBe(true);
    const others = Array.from({ length: 20_000 }, (_, i) => `sap:r-${i}:2`);
    expect(others.filter((k) => filter.mightHave(k)).length).toBeLessThan(5);
    expect(filter.mightHave('')).toBe(false);
  });

  it('stays correct when full: a tiny filter answers "maybe" more often, never "new" for an added key', () => {
    const filter = new SeenFilter(10, 3);
    const added = Array.from({ length: 5_000 }, (_, i) => `event-${i}-ü`);
    for (const k of added) filter.add(k);
    expect(added.every((k) => filter.mightHave(k))).toBe(true);
  });
});
