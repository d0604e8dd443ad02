// Entry of a 1NCE batch reader thread (once-reader.ts). Plain JavaScript because a worker thread does
// not inherit the tsx loader of the process that starts it (under vitest there is none): it registers
// tsx itself, then loads the TypeScript module that does the work.
import { register } from 'tsx/esm/api';

register();
await import('./once-reader-worker.ts');
