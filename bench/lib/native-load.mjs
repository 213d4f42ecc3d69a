// The C side of the media benchmark's load (loadgen/loadgen.c): built on first use into
// bench/out/, run as a child of the Node wrapper that drives it (so it inherits the wrapper's core
// pinning and dies with it: it exits when its stdin closes), one command per line in, one JSON
// reply per line out, in order.
import { spawn, execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import readline from 'node:readline';
import { BENCH_DIR } from './common.mjs';

const SOURCE = path.join(BENCH_DIR, 'loadgen', 'loadgen.c');
const BINARY = path.join(BENCH_DIR, 'out', 'loadgen');

/** Path of the built load generator; compiles it when missing or older than its source. */
export function buildLoadgen() {
  const stale = !fs.existsSync(BINARY) || fs.statSync(BINARY).mtimeMs < fs.statSync(SOURCE).mtimeMs;
  if (stale) {
    fs.mkdirSync(path.dirname(BINARY), { recursive: true });
    const tmp = `${BINARY}.${process.pid}.tmp`;
    try {
      execFileSync('gcc', ['-O2', '-Wall', '-Wextra', '-Werror', '-o', tmp, SOURCE], { stdio: ['ignore', 'inherit', 'inherit'] });
    } catch (err) {
      throw new Error(`building ${path.relative(BENCH_DIR, SOURCE)} failed (gcc is needed for the C load generator; --load node uses the Node one): ${err.message}`);
    }
    fs.renameSync(tmp, BINARY);
  }
  return BINARY;
}

/** The wrapper's `--impl c|node` argument (default node). */
export function implFromArgs(argv = process.argv) {
  const impl = argv.includes('--impl') ? argv[argv.indexOf('--impl') + 1] : 'node';
  if (impl !== 'c' && impl !== 'node') throw new Error(`--impl must be c or node, not ${impl}`);
  return impl;
}

export class NativeLoad {
  /** @param {'callers'|'agent'} mode */
  constructor(mode) {
    this.mode = mode;
    this.child = spawn(buildLoadgen(), [mode], { stdio: ['pipe', 'pipe', 'inherit'] });
    this.waiting = [];
    this.exited = false;
    const lines = readline.createInterface({ input: this.child.stdout });
    let first = true;
    this.ready = new Promise((resolve, reject) => {
      this.child.once('error', reject);
      this.child.once('exit', (code, signal) => { if (first) reject(new Error(`loadgen ${mode} exited (${code ?? signal}) before it was ready`)); });
      lines.on('line', (line) => {
        let reply;
        try { reply = JSON.parse(line); } catch { reply = { error: `unreadable reply: ${line}` }; }
        if (first) { first = false; resolve(reply); return; }
        const w = this.waiting.shift();
        if (!w) return;
        if (reply.error) w.reject(new Error(`loadgen ${mode}: ${reply.error}`)); else w.resolve(reply);
      });
    });
    this.child.on('exit', (code, signal) => {
      this.exited = true;
      const err = new Error(`loadgen ${mode} exited (${code ?? signal})`);
      for (const w of this.waiting.splice(0)) w.reject(err);
    });
  }

  /** Sends one command line; resolves with its JSON reply. */
  request(line) {
    if (this.exited) return Promise.reject(new Error(`loadgen ${this.mode} is not running`));
    return new Promise((resolve, reject) => {
      this.waiting.push({ resolve, reject });
      this.child.stdin.write(`${line}\n`);
    });
  }

  get pid() { return this.child.pid; }

  stop() {
    if (!this.exited) this.child.stdin.end();
  }
}
