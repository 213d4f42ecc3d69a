#!/usr/bin/env node
// Starts the Kamailio reference server (kamailio.cfg next to this file) pinned to one core, for
// the signalling benchmark's reference row: same sipp scenario, same challenge-filter proxy, same
// rate ladder as the media pod. Kamailio forks (main, UDP workers, timers), so its CPU is the
// sum over its process tree.
//
// usage (by hand): node bench/kamailio/kamailio.mjs [--port 5080] [--children 1]
//   runs it in the foreground, logging to stderr, until Ctrl-C.
// Needs the Debian package `kamailio` (5.6: tm, sl, auth, pv, textops, siputils, maxfwd, xlog).
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { REPO_DIR, SUT_CORE, pinned, sleep, treeCpuSeconds, treePids } from '../lib/common.mjs';

export const KAMAILIO_CFG = path.join(path.dirname(fileURLToPath(import.meta.url)), 'kamailio.cfg');
/** One UDP worker: a one-core comparison with the single-threaded media pod. */
export const KAMAILIO_CHILDREN = 1;
/** Shared memory holds the transactions (5 s wait timer x 3 per call) and the nc array; private is per process. */
export const KAMAILIO_SHM_MB = 256;
export const KAMAILIO_PKG_MB = 16;

/** `kamailio -v`'s version, or undefined when Kamailio is not installed. */
export function kamailioVersion() {
  const r = spawnSync('kamailio', ['-v'], { encoding: 'utf8', timeout: 10_000 });
  if (r.error || r.status !== 0) return undefined;
  return /version:\s*kamailio\s+(\S+)/i.exec(r.stdout)?.[1] ?? 'unknown';
}

/** The command line, for the record (RESULTS.md) and for starting it. */
export function kamailioArgs({ port, children = KAMAILIO_CHILDREN, runDir }) {
  return ['-f', KAMAILIO_CFG, '-DD', '-E', '-l', `udp:127.0.0.1:${port}`, '-n', String(children),
    '-m', String(KAMAILIO_SHM_MB), '-M', String(KAMAILIO_PKG_MB), '-Y', runDir];
}

/**
 * Kamailio under `taskset -c core`, stderr (its log) to `logFile`; resolves once its UDP worker is
 * up. `cpuSeconds()` sums every process of the tree; `stop()` ends it (SIGTERM, then SIGKILL).
 */
export async function startKamailio({ port, logFile, children = KAMAILIO_CHILDREN, core = SUT_CORE }) {
  const runDir = fs.mkdtempSync(path.join(os.tmpdir(), 'sipflow-bench-kamailio-'));
  const out = fs.openSync(logFile, 'a');
  const args = kamailioArgs({ port, children, runDir });
  const child = spawn(...pinned(core, 'kamailio', args), { stdio: ['ignore', out, out] });
  fs.closeSync(out);
  const exited = new Promise((resolve) => child.on('exit', (code, signal) => resolve(code ?? signal)));
  child.on('error', () => { /* reported through `exited` */ });
  // Ready when the main process has forked its workers: 1 main + `children` UDP + timers.
  const deadline = Date.now() + 15_000;
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) {
      fs.rmSync(runDir, { recursive: true, force: true });
      throw new Error(`kamailio exited (${child.exitCode ?? child.signalCode}) during start; see ${logFile}`);
    }
    if (treePids(child.pid).length >= children + 3) break;
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      fs.rmSync(runDir, { recursive: true, force: true });
      throw new Error(`kamailio did not start its workers within 15 s; see ${logFile}`);
    }
    await sleep(100);
  }
  await sleep(300); // the workers bind and run their child_init before the first message
  return {
    pid: child.pid,
    command: pinned(core, 'kamailio', args).flat().join(' ').replace(runDir, '$RUNDIR').replace(KAMAILIO_CFG, path.relative(REPO_DIR, KAMAILIO_CFG)),
    processes: () => treePids(child.pid).length,
    cpuSeconds: () => treeCpuSeconds(child.pid),
    async stop() {
      const pids = treePids(child.pid);
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        const killer = setTimeout(() => { for (const p of pids) { try { process.kill(p, 'SIGKILL'); } catch { /* gone */ } } }, 5000);
        await exited;
        clearTimeout(killer);
      }
      fs.rmSync(runDir, { recursive: true, force: true });
    },
  };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const argv = process.argv.slice(2);
  const opt = (name, dflt) => { const i = argv.indexOf(name); return i >= 0 ? Number(argv[i + 1]) : dflt; };
  const port = opt('--port', 5080);
  const children = opt('--children', KAMAILIO_CHILDREN);
  const runDir = fs.mkdtempSync(path.join(os.tmpdir(), 'sipflow-bench-kamailio-'));
  const child = spawn(...pinned(SUT_CORE, 'kamailio', kamailioArgs({ port, children, runDir })), { stdio: 'inherit' });
  const stop = () => child.kill('SIGTERM');
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
  child.on('exit', (code) => { fs.rmSync(runDir, { recursive: true, force: true }); process.exit(code ?? 0); });
}
