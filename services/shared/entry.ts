// How a service module knows it was started as a program (tsx services/<name>/main.ts) rather than
// imported by a test or by npm start; only then is .env read (it never overrides the environment).
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { config as loadDotenv } from 'dotenv';

export function isEntryPoint(moduleUrl: string): boolean {
  const script = process.argv[1];
  const main = script !== undefined && moduleUrl === pathToFileURL(resolve(script)).href;
  if (main) loadDotenv({ quiet: true });
  return main;
}
