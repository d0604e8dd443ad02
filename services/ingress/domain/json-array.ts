// Finds the byte range of each top-level element of a JSON array, so every record can be stored
// as exactly the bytes the sender wrote (whitespace, key order and number spelling included).
// Call it only on a buffer JSON.parse already accepted as an array: the scanner relies on that
// and only tracks strings and nesting. UTF-8 continuation bytes are all >= 0x80, so they can
// never be mistaken for the ASCII structural characters the scanner looks for.

export interface ByteRange {
  start: number;
  /** Exclusive. */
  end: number;
}

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COMMA = 0x2c;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACKET = 0x5d;
const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;

function isWhitespace(byte: number): boolean {
  return byte === 0x20 || byte === 0x09 || byte === 0x0a || byte === 0x0d;
}

export class NotAJsonArrayError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'NotAJsonArrayError';
  }
}

/** Byte ranges of the top-level elements of the JSON array in `body`, in order. */
export function arrayElementRanges(body: Uint8Array): ByteRange[] {
  let i = 0;
  const n = body.length;
  const skipWhitespace = (): void => {
    while (i < n && isWhitespace(body[i]!)) i++;
  };
  skipWhitespace();
  if (body[i] !== OPEN_BRACKET) throw new NotAJsonArrayError('the body is not a JSON array');
  i++;
  const ranges: ByteRange[] = [];
  skipWhitespace();
  if (body[i] === CLOSE_BRACKET) return ranges;
  for (;;) {
    skipWhitespace();
    const start = i;
    i = endOfValue(body, i);
    ranges.push({ start, end: i });
    skipWhitespace();
    const separator = body[i];
    i++;
    if (separator === CLOSE_BRACKET) return ranges;
    if (separator !== COMMA) throw new NotAJsonArrayError(`unexpected byte at offset ${i - 1}`);
  }
}

/** Index just past the JSON value that starts at `start`. */
function endOfValue(body: Uint8Array, start: number): number {
  const n = body.length;
  let i = start;
  const first = body[i];
  if (first === QUOTE) return endOfString(body, i);
  if (first === OPEN_BRACE || first === OPEN_BRACKET) {
    let depth = 0;
    while (i < n) {
      const byte = body[i]!;
      if (byte === QUOTE) {
        i = endOfString(body, i);
        continue;
      }
      if (byte === OPEN_BRACE || byte === OPEN_BRACKET) depth++;
      else if (byte === CLOSE_BRACE || byte === CLOSE_BRACKET) {
        depth--;
        if (depth === 0) return i + 1;
      }
      i++;
    }
    throw new NotAJsonArrayError('unterminated value');
  }
  // A scalar: number, true, false or null runs until a separator or whitespace.
  while (i < n) {
    const byte = body[i]!;
    if (byte === COMMA || byte === CLOSE_BRACKET || isWhitespace(byte)) break;
    i++;
  }
  if (i === start) throw new NotAJsonArrayError(`empty value at offset ${start}`);
  return i;
}

/** Strings up to this long are scanned byte by byte: a native indexOf call costs more than that. */
const SHORT_STRING_BYTES = 48;

/**
 * Index just past the string whose opening quote is at `start`. Keys and most values are short and
 * scanned in place; a longer string is crossed from quote to quote with the native indexOf. A quote
 * preceded by an odd number of backslashes is escaped and does not end the string.
 */
function endOfString(body: Uint8Array, start: number): number {
  const shortEnd = Math.min(body.length, start + 1 + SHORT_STRING_BYTES);
  for (let i = start + 1; i < shortEnd; i++) {
    const byte = body[i];
    if (byte === BACKSLASH) break; // escapes: let the general loop below count them
    if (byte === QUOTE) return i + 1;
  }
  let from = start + 1;
  for (;;) {
    const quote = body.indexOf(QUOTE, from);
    if (quote < 0) throw new NotAJsonArrayError('unterminated string');
    let backslashes = 0;
    while (quote - 1 - backslashes > start && body[quote - 1 - backslashes] === BACKSLASH) backslashes++;
    if (backslashes % 2 === 0) return quote + 1;
    from = quote + 1;
  }
}
