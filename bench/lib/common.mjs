// Shared plumbing of the benchmarks: processes pinned to one core, their CPU time from /proc,
// request/reply over the Node IPC channel, free loopback ports, percentiles, machine facts.
import { spawn } from 'node:child_process';
import dgram from 'node:dgram';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { MEDIA_POD_NODE_ARGS } from '../../media-pod/dist/node-flags.js';

export const BENCH_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const REPO_DIR = path.resolve(BENCH_DIR, '..');
export const POD_BIN = path.join(REPO_DIR, 'media-pod', 'bin', 'sipflow-media.js');

/** Core the system under test runs on, and the core of every load generator and peer. */
export const SUT_CORE = 1;
export const LOAD_CORE = 0;

const CLK_TCK = 100; // Linux USER_HZ on every mainstream kernel

/**
 * Niceness of every benchmark process (BENCH_NICE, default -15 as root, else 0). On a shared
 * machine this keeps other people's builds from taking the pinned cores mid-step; the CPU they
 * still take is measured and reported. Bounded by the run's own length.
 */
export const NICE = Number(process.env.BENCH_NICE ?? (process.getuid?.() === 0 ? -15 : 0));

/** [command, args] that runs `cmd args` pinned to `core` at NICE. */
export function pinned(core, cmd, args) {
  const inner = ['-c', String(core), cmd, ...args];
  return NICE !== 0 ? ['nice', ['-n', String(NICE), 'taskset', ...inner]] : ['taskset', inner];
}

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** User+system CPU seconds consumed so far by a process (all its threads). */
export function cpuSeconds(pid) {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / CLK_TCK; // utime, stime
  } catch {
    return NaN;
  }
}

/** `pid` and every live descendant of it (from /proc's ppid fields). */
export function treePids(pid) {
  const children = new Map();
  let entries;
  try { entries = fs.readdirSync('/proc'); } catch { return [pid]; }
  for (const e of entries) {
    if (!/^\d+$/.test(e)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${e}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (!children.has(ppid)) children.set(ppid, []);
      children.get(ppid).push(Number(e));
    } catch { /* exited meanwhile */ }
  }
  const out = [];
  const todo = [pid];
  while (todo.length > 0 && out.length < 10_000) {
    const p = todo.pop();
    out.push(p);
    todo.push(...(children.get(p) ?? []));
  }
  return out;
}

/**
 * CPU seconds of a process and its live descendants: for servers that fork workers (Kamailio).
 * Read it at both ends of a step while the tree is stable; a worker that exits mid-step takes its
 * time with it.
 */
export function treeCpuSeconds(pid) {
  const pids = treePids(pid);
  const total = pids.reduce((s, p) => s + (cpuSeconds(p) || 0), 0);
  return Number.isFinite(cpuSeconds(pid)) ? total : NaN;
}

/** utime+stime of every process on the machine now, by pid. */
export function processCpuSnapshot() {
  const snap = new Map();
  let entries;
  try { entries = fs.readdirSync('/proc'); } catch { return snap; }
  for (const e of entries) {
    if (!/^\d+$/.test(e)) continue;
    const cpu = cpuSeconds(Number(e));
    if (Number.isFinite(cpu)) snap.set(Number(e), cpu);
  }
  return snap;
}

/**
 * CPU seconds that processes other than `ourRoots` and their descendants (and this process) used
 * between two snapshots; a process that started in between counts whole. This is "others": the
 * cores' busy time minus ours would also count the kernel's interrupt and softirq work for our
 * own packets, which is most of the difference on this machine.
 */
export function othersCpuSeconds(before, after, ourRoots) {
  const ours = new Set([process.pid, ...ourRoots.flatMap((pid) => treePids(pid))]);
  let total = 0;
  for (const [pid, cpu] of after) if (!ours.has(pid)) total += cpu - (before.get(pid) ?? 0);
  return Math.max(0, total);
}

/** CPU seconds of one core (user+nice+system+irq+softirq) since boot. */
export function coreBusySeconds(core) {
  const line = fs.readFileSync('/proc/stat', 'utf8').split('\n').find((l) => l.startsWith(`cpu${core} `));
  if (!line) return NaN;
  const v = line.trim().split(/\s+/).slice(1).map(Number);
  return (v[0] + v[1] + v[2] + v[5] + v[6]) / CLK_TCK;
}

/**
 * Seconds the hypervisor ran something else while this core had work ("steal", /proc/stat's 8th
 * field) since boot. On a shared VM it comes in bursts of tens of milliseconds: a server that is
 * not scheduled for 100 ms cannot keep a 20 ms pace, whatever its code does.
 */
export function coreStealSeconds(core) {
  const line = fs.readFileSync('/proc/stat', 'utf8').split('\n').find((l) => l.startsWith(`cpu${core} `));
  if (!line) return NaN;
  return Number(line.trim().split(/\s+/)[8]) / CLK_TCK;
}

export function machineInfo() {
  const cpuinfo = fs.readFileSync('/proc/cpuinfo', 'utf8');
  const model = /^model name\s*:\s*(.*)$/m.exec(cpuinfo)?.[1]?.trim() ?? 'unknown';
  return { nproc: os.availableParallelism(), cpuModel: model, node: process.version, kernel: os.release(), memGiB: Math.round(os.totalmem() / 2 ** 30) };
}

/** Pins the calling process (every thread) to one core. */
export async function pinSelf(core) {
  await runToEnd('taskset', ['-a', '-p', '-c', String(core), String(process.pid)]);
  if (NICE !== 0) await runToEnd('renice', ['-n', String(NICE), '-p', String(process.pid)]);
}

/** Runs a command to completion, bounded in time; resolves with exit code and output. */
export function runToEnd(cmd, args, opts = {}) {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], cwd: opts.cwd });
    let stdout = ''; let stderr = '';
    child.stdout.on('data', (d) => { if (stdout.length < 4e6) stdout += d; });
    child.stderr.on('data', (d) => { if (stderr.length < 4e6) stderr += d; });
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 60_000);
    child.on('error', (err) => { clearTimeout(timer); resolve({ code: -1, stdout, stderr: stderr + err.message }); });
    child.on('exit', (code, signal) => { clearTimeout(timer); resolve({ code: code ?? (signal ? 128 : 1), stdout, stderr }); });
  });
}

/**
 * A Node script started under `taskset -c CORE`, with an IPC channel: `request(msg)` sends
 * `{ id, ...msg }` and resolves with the child's reply carrying the same id.
 */
export class PinnedWorker {
  constructor(name, core, script, args = [], nodeArgs = []) {
    this.name = name;
    this.child = spawn(...pinned(core, process.execPath, [...nodeArgs, script, ...args]), {
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    this.pending = new Map();
    this.nextId = 1;
    this.exited = new Promise((resolve) => this.child.on('exit', (code) => {
      for (const p of this.pending.values()) p.reject(new Error(`${name} exited (${code}) before replying`));
      this.pending.clear();
      resolve(code);
    }));
    this.child.on('message', (m) => {
      const p = this.pending.get(m.id);
      if (!p) return;
      this.pending.delete(m.id);
      if (m.error) p.reject(new Error(`${name}: ${m.error}`)); else p.resolve(m);
    });
  }

  get pid() { return this.child.pid; }

  request(msg, timeoutMs = 120_000) {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => { this.pending.delete(id); reject(new Error(`${this.name}: no reply to ${msg.cmd} within ${timeoutMs} ms`)); }, timeoutMs);
      this.pending.set(id, {
        resolve: (v) => { clearTimeout(timer); resolve(v); },
        reject: (e) => { clearTimeout(timer); reject(e); },
      });
      this.child.send({ id, ...msg });
    });
  }

  async stop() {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    this.child.kill('SIGTERM');
    const killer = setTimeout(() => this.child.kill('SIGKILL'), 5000);
    await this.exited;
    clearTimeout(killer);
  }
}

/** Child side of PinnedWorker: `handlers[cmd](msg)` answers each request. Exits when the parent goes. */
export function serveRequests(handlers) {
  process.on('message', (m) => {
    const h = handlers[m.cmd];
    Promise.resolve()
      .then(() => (h ? h(m) : Promise.reject(new Error(`unknown command ${m.cmd}`))))
      .then((r) => process.send({ id: m.id, ...(r ?? {}) }), (err) => process.send({ id: m.id, error: String(err?.stack ?? err) }));
  });
  process.on('disconnect', () => process.exit(0));
  process.on('SIGTERM', () => process.exit(0));
}

/** A port free for both UDP and TCP on 127.0.0.1 right now. */
export async function freePort() {
  for (let i = 0; i < 50; i++) {
    const port = await new Promise((resolve, reject) => {
      const s = net.createServer();
      s.once('error', reject);
      s.listen(0, '127.0.0.1', () => { const p = s.address().port; s.close(() => resolve(p)); });
    });
    const udpFree = await new Promise((resolve) => {
      const u = dgram.createSocket('udp4');
      u.once('error', () => resolve(false));
      u.bind(port, '127.0.0.1', () => u.close(() => resolve(true)));
    });
    if (udpFree) return port;
  }
  throw new Error('no free port found');
}

/** Polls an HTTP URL until it answers 200 (bounded). */
export async function waitForHttp200(url, timeoutMs = 20_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      const res = await fetch(url);
      if (res.status === 200) return;
    } catch { /* not up yet */ }
    if (Date.now() > deadline) throw new Error(`${url} did not answer 200 within ${timeoutMs} ms`);
    await sleep(100);
  }
}

/** Percentile (0-100) of a numeric array, nearest-rank; NaN for an empty one. */
export function percentile(values, p) {
  if (values.length === 0) return NaN;
  const sorted = Float64Array.from(values).sort();
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank];
}

/**
 * A started media pod under `taskset -c CORE`, its log in a file; node gets the flags every launcher
 * of the pod uses (media-pod/src/node-flags.ts), so the benchmark measures what ships, then `nodeArgs`.
 */
export async function startPod({ manifestsDir, sipPort, httpPort, rtpPorts, core = SUT_CORE, logFile, extraArgs = [], nodeArgs = [], env = {} }) {
  const out = fs.openSync(logFile, 'a');
  const child = spawn(...pinned(core, process.execPath, [...MEDIA_POD_NODE_ARGS, ...nodeArgs, POD_BIN,
    '--manifests', manifestsDir, '--sip-listen', `127.0.0.1:${sipPort}`, '--http-listen', `127.0.0.1:${httpPort}`,
    '--rtp-ports', rtpPorts, '--sip-domain', 'sip.bench', ...extraArgs]), {
    stdio: ['ignore', out, out], env: { ...process.env, ...env },
  });
  fs.closeSync(out);
  const exited = new Promise((resolve) => child.on('exit', (code, signal) => resolve(code ?? signal)));
  await Promise.race([
    waitForHttp200(`http://127.0.0.1:${httpPort}/readyz`),
    exited.then((c) => { throw new Error(`media pod exited (${c}) during start; see ${logFile}`); }),
  ]);
  return {
    pid: child.pid,
    /** SIGINT: the pod ends its calls and exits (and writes its CPU profile when --cpu-prof is on). */
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGINT');
      const killer = setTimeout(() => child.kill('SIGKILL'), 15_000);
      await exited;
      clearTimeout(killer);
    },
  };
}

export function fmt(n, digits = 0) {
  return Number.isFinite(n) ? n.toFixed(digits) : 'n/a';
}
