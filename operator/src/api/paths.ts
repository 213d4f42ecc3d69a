/**
 * Locates the operator package folder (the one holding its package.json) from this module,
 * so data files resolve the same way from `src/` under tsx and from compiled `dist/`.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export function operatorRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 32; i++) {
    const pkg = join(dir, 'package.json');
    if (existsSync(pkg) && (JSON.parse(readFileSync(pkg, 'utf8')) as { name?: string }).name === '@sipflow/operator') return dir;
    const parent = dirname(dir);
    if (parent === dir) break;
    dir = parent;
  }
  throw new Error(`@sipflow/operator package.json not found above ${fileURLToPath(import.meta.url)}`);
}

export function repoRoot(): string {
  return dirname(operatorRoot());
}
