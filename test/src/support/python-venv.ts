/**
 * The small Python virtual environments some tests run real tools in (SIPVicious, the test speech
 * recognizer): each is built once by its tools/python/setup-*.sh, which prints the venv's path as
 * its last line on stdout.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { repoRoot } from './repo.js';

const TOOLS = path.join(repoRoot(), 'tools', 'python');
const SETUP_TIMEOUT_MS = 5 * 60_000;
const built = new Map<string, Promise<{ python: string } | { problem: string }>>();

/** Runs (once per process) tools/python/`setupScript`; resolves with the venv's interpreter or why there is none. */
export function venvPython(setupScript: string): Promise<{ python: string } | { problem: string }> {
  let p = built.get(setupScript);
  if (!p) {
    p = new Promise((resolve) => {
      const child = spawn('bash', [path.join(TOOLS, setupScript)], { stdio: ['ignore', 'pipe', 'pipe'] });
      let out = ''; let err = '';
      child.stdout.on('data', (d: Buffer) => { out += d.toString(); });
      child.stderr.on('data', (d: Buffer) => { err = (err + d.toString()).slice(-4000); });
      const t = setTimeout(() => child.kill('SIGKILL'), SETUP_TIMEOUT_MS);
      child.on('error', (e) => { clearTimeout(t); resolve({ problem: `cannot run ${setupScript}: ${e.message}` }); });
      child.on('close', (code) => {
        clearTimeout(t);
        const dir = out.trim().split('\n').pop() ?? '';
        if (code === 0 && dir && fs.existsSync(path.join(dir, 'bin', 'python'))) resolve({ python: path.join(dir, 'bin', 'python') });
        else resolve({ problem: `${setupScript} exited ${code}: ${err.trim().split('\n').slice(-3).join(' | ')}` });
      });
    });
    built.set(setupScript, p);
  }
  return p;
}

/** Undefined when the venv is usable; otherwise a skip reason, or a throw when `requiredBy` names a set env variable. */
export async function venvSkipReason(setupScript: string, what: string, requiredBy: readonly string[]): Promise<string | undefined> {
  const v = await venvPython(setupScript);
  if ('python' in v) return undefined;
  if (requiredBy.some((name) => process.env[name] === '1')) throw new Error(`${what} required but unavailable: ${v.problem}`);
  return `${what} unavailable (set ${requiredBy[0]}=1 to fail instead): ${v.problem}`;
}
