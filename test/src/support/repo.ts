/**
 * Where the repository is, found by walking up from this module (src/ or dist/ alike), so
 * tests can read checked-in data (corpora, tools) without depending on the working directory.
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root: the parent of the test package (the directory holding test/package.json). */
export function repoRoot(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 10; i++) {
    if (fs.existsSync(path.join(dir, 'package.json')) && fs.existsSync(path.join(dir, 'src'))) return path.resolve(dir, '..');
    const up = path.dirname(dir);
    if (up === dir) break;
    dir = up;
  }
  throw new Error(`cannot find the test package above ${fileURLToPath(import.meta.url)}`);
}
