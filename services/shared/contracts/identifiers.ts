// Identifiers a sender chooses become database keys downstream: every consumer's idempotency record
// (event_id), the trail's indexes (event_id, record key), provisioning's per-subscriber state (IMSI) and
// the inventory's system key (tenant, subaccount, location, host). PostgreSQL refuses a B-tree entry
// over 2,704 bytes and any text holding U+0000, so such an identifier accepted at ingress would fail in
// every consumer later and be dead-lettered there, taking the rest of its report with it. Ingress
// refuses (or quarantines) it on arrival instead, where the sender hears why. 255 bytes of UTF-8 is far
// above any real identifier (a UUID is 36, an IMSI 15, a host name at most 253) and keeps the
// inventory's four-part key under the limit whatever the characters.
export const MAX_IDENTIFIER_BYTES = 255;

/** What makes the text unusable as an identifier ("must …"), or undefined when it is usable. */
export function identifierProblem(text: string): string | undefined {
  if (text.includes('\u0000')) return 'must not contain the NUL character (U+0000)';
  // A UTF-16 code unit is at most 3 bytes of UTF-8 (a surrogate pair, two units, is 4): short strings need no count.
  if (text.length * 3 > MAX_IDENTIFIER_BYTES && Buffer.byteLength(text, 'utf8') > MAX_IDENTIFIER_BYTES) {
    return `must be at most ${MAX_IDENTIFIER_BYTES} bytes`;
  }
  return undefined;
}

export function isUsableIdentifier(text: string): boolean {
  return identifierProblem(text) === undefined;
}
