// Whether a service's code is there to be benchmarked: its entry point exports its start function.
// Read as text, not imported, so a half-written service cannot break the harness.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { repoRoot } from '../../infra/local/stack.js';

/** The reason `file` is not usable yet, or undefined when it exports every name in `exportsNeeded`. */
export function missingCode(file: string, exportsNeeded: string[]): string | undefined {
  const path = join(repoRoot, file);
  if (!existsSync(path)) return `${file} does not exist yet`;
  const text = readFileSync(path, 'utf8');
  const absent = exportsNeeded.filter((name) => !new RegExp(`export\\s+(async\\s+)?(function|const|class)\\s+${name}\\b`).test(text));
  return absent.length > 0 ? `${file} does not export ${absent.join(', ')} yet` : undefined;
}
