// PostgreSQL's text and jsonb cannot hold U+0000 (nor jsonb the escape "\u0000"), though JSON can carry
// it. Identifiers with one are refused where they arrive (contracts/identifiers.ts); free text a sender
// chose — an SCC system's description, an event type the trail shows, a reason quoting a field — is
// stored with each U+0000 replaced by U+FFFD, the replacement character, so one odd character never
// fails a whole report or batch. The raw payload in Kafka keeps the original bytes.
export function storableText(text: string): string {
  return text.includes('\u0000') ? text.replaceAll('\u0000', '\uFFFD') : text;
}

export function storableOrNull(text: string | null): string | null {
  return text === null ? null : storableText(text);
}

/** A string map (envelope attributes, an outcome's effect) with every key and value storable. */
export function storableValues(values: Record<string, string>): Record<string, string> {
  let clean = true;
  for (const k in values) if (k.includes('\u0000') || values[k]!.includes('\u0000')) clean = false;
  if (clean) return values;
  const out: Record<string, string> = {};
  for (const k in values) out[storableText(k)] = storableText(values[k]!);
  return out;
}
