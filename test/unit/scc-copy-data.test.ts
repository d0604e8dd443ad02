// The rebuild's COPY text builder (services/scc-inventory/rebuild-writes.ts CopyData): the bytes are the
// UTF-8 of the rows joined, whatever their characters and however far the buffer has to grow.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { CopyData } from '../../services/scc-inventory/rebuild-writes.js';

describe('CopyData', () => {
  it('holds the UTF-8 bytes of every row added, in order', () => {
    fc.assert(
      fc.property(fc.array(fc.string({ unit: fc.constantFrom('a', '\t', 'é', '€', '😀', '\ud800', '\\', '\n'), maxLength: 400 }), { maxLength: 60 }), (rows) => {
        const data = new CopyData();
        for (const r of rows) data.addRow(r);
        expect(data.bytes().equals(Buffer.from(rows.join(''), 'utf8'))).toBe(true);
      }),
      { numRuns: 300 },
    );
  });

  it('grows past its first buffer: many rows, and one row larger than the buffer', () => {
    const rows = Array.from({ length: 5000 }, (_, i) => `c85459d1\tr-${i}\tsap:r-${i}:1\t{"description": "système ${i} 😀"}\n`);
    rows.push(`${'€'.repeat(400_000)}\n`);
    const data = new CopyData();
    for (const r of rows) data.addRow(r);
    const expected = Buffer.from(rows.join(''), 'utf8');
    expect(data.bytes().length).toBe(expected.length);
    expect(data.bytes().equals(expected)).toBe(true);
  });
});
