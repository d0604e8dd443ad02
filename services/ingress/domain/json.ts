// Strict JSON decoding of a request body. Invalid UTF-8 is refused rather than replaced with
// U+FFFD: the stored payload must mean exactly what was parsed. A byte-order mark is refused too
// (RFC 8259 forbids senders to add one), so the parsed bytes and the stored bytes always agree.
const decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

export type JsonParse = { ok: true; value: unknown } | { ok: false; error: string };

export function parseJsonBytes(body: Uint8Array): JsonParse {
  let text: string;
  try {
    text = decoder.decode(body);
  } catch {
    return { ok: false, error: 'body is not valid UTF-8' };
  }
  try {
    return { ok: true, value: JSON.parse(text) as unknown };
  } catch {
    return { ok: false, error: 'body is not valid JSON' };
  }
}
