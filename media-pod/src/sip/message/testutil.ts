/** Test support shared by the SIP layers' tests: locating the package's testdata directory. */
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Walks up from this module to the directory holding media-pod's package.json (works from src/ and dist/). */
export function mediaPodRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 10; i++) {
    if (existsSync(join(dir, 'package.json'))) return dir;
    dir = dirname(dir);
  }
  throw new Error('media-pod package root not found above ' + fileURLToPath(import.meta.url));
}

export function sipCorpusDir(): string { return join(mediaPodRoot(), 'testdata', 'sip-corpus'); }
