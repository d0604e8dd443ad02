// The senders' documented example payloads, as kept in samples/ (what `npm run samples` sends), for tests
// that start from them. Each call returns a fresh copy, so a test may change it freely.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** nsps-connector-get-started.md, "Example message from NSPS". */
export function nspsExampleEvent(): Record<string, any> {
  return JSON.parse(readFileSync(fileURLToPath(new URL('../../samples/nsps-event.json', import.meta.url)), 'utf8')) as Record<string, any>;
}
