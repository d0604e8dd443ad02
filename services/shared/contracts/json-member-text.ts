// The source text of one number in a JSON object. JSON.parse reads every number as a double, so an
// integer beyond 2^53 (9,007,199,254,740,992) comes back rounded: 9007199254740993 reads as …992. A 1NCE
// record id like that, turned into its event_id, would give two different records one event_id, and
// every consumer would take the second for a duplicate of the first. Where that can happen, the id is
// read from the record's own text instead. Only called on text that JSON.parse already accepted, so
// the walk below need not check the grammar, only follow it.

const NUMBER = /-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?/y;

/** The text of the number held by member `name` of the top-level object (the last one, as JSON.parse keeps), or undefined. */
export function memberNumberText(json: string, name: string): string | undefined {
  let i = skipSpace(json, 0);
  if (json[i] !== '{') return undefined;
  i = skipSpace(json, i + 1);
  let found: string | undefined;
  while (i < json.length && json[i] !== '}') {
    const keyEnd = stringEnd(json, i);
    const key = JSON.parse(json.slice(i, keyEnd)) as string;
    i = skipSpace(json, skipSpace(json, keyEnd) + 1); // past the colon
    const valueEnd = valueEndAt(json, i);
    if (key === name) {
      NUMBER.lastIndex = i;
      const m = NUMBER.exec(json);
      found = m && m.index === i && i + m[0].length === valueEnd ? m[0] : undefined;
    }
    i = skipSpace(json, valueEnd);
    if (json[i] === ',') i = skipSpace(json, i + 1);
  }
  return found;
}

function skipSpace(s: string, i: number): number {
  while (i < s.length && (s[i] === ' ' || s[i] === '\n' || s[i] === '\r' || s[i] === '\t')) i++;
  return i;
}

/** Index just past the string that opens at `i`. */
function stringEnd(s: string, i: number): number {
  let j = i + 1;
  while (s[j] !== '"') j += s[j] === '\\' ? 2 : 1;
  return j + 1;
}

/** Index just past the value that starts at `i`. */
function valueEndAt(s: string, i: number): number {
  const c = s[i];
  if (c === '"') return stringEnd(s, i);
  if (c === '{' || c === '[') {
    let depth = 0;
    let j = i;
    while (j < s.length) {
      const d = s[j];
      if (d === '"') {
        j = stringEnd(s, j);
        continue;
      }
      if (d === '{' || d === '[') depth++;
      else if (d === '}' || d === ']') {
        depth--;
        if (depth === 0) return j + 1;
      }
      j++;
    }
    return j;
  }
  let j = i;
  while (j < s.length && !',}] \n\r\t'.includes(s[j]!)) j++;
  return j;
}
