#!/usr/bin/env node
// Media benchmark (issue #4): N concurrent bidirectional calls, RTP in and out every 20 ms,
// each bridged by a <Stream bidirectional keepCallAlive> to a WebSocket agent that echoes the
// caller's audio with playAudio. The media pod runs alone on one core; the load generator
// (media-load.mjs), the echo agent (echo-agent.mjs) and the answer server share the other.
// The baseline (baseline-relay.mjs, same core as the pod) is measured at the same N, in the
// same run, back to back with the pod at every step; each step sets up N fresh calls.
//
// For each N, over a fixed window: frames sent by the callers, frames that reached the agent,
// frames that came back to the callers (loss = any difference), and one-way latency from the
// caller's send to the agent's receipt of the `media` message (see README.md for why this bounds
// "RTP arrival at the pod to WebSocket send" from above).
//
// usage: node bench/media.mjs [--steps 100,150,200,250,300,350,400,500] [--window-seconds 6] [--windows 3] [--setup-cps 80]
//                             [--profile auto|always|never] [--out DIR] [--pod-node-args "--flag ..."] [--baseline no]
//                             [--relay-node-args "--cpu-prof ..."]   (V8 flags for the baseline relay)
//                             [--pod-env K=V,K=V]   (environment for the pod only, e.g. LD_PRELOAD=...)
//                             [--srtp yes]          (callers offer RTP/SAVP: the pod's SRTP cost; sipflow only)
//                             [--load c|node]       (callers' RTP and echo agent in C, the default, or in Node; SRTP uses node)
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startAnswerServer } from './lib/answer-server.mjs';
import {
  BENCH_DIR, LOAD_CORE, PinnedWorker, SUT_CORE, coreStealSeconds, cpuSeconds, freePort, percentile, pinSelf, sleep, startPod,
  othersCpuSeconds, processCpuSnapshot, treeCpuSeconds,
} from './lib/common.mjs';
import { summarizeProfile } from './lib/cpuprofile-top.mjs';
import { monoUs } from './lib/stamp.mjs';

export const MEDIA_TARGET_CALLS = 500;
export const MEDIA_TARGET_P99_MS = 5;

function manifests(answerUrl) {
  return `apiVersion: sipflow.io/v1alpha1
kind: IpAcl
metadata: { name: loopback, namespace: default }
spec: { entries: [{ ip: 127.0.0.0, cidrPrefix: 8 }] }
---
apiVersion: sipflow.io/v1alpha1
kind: SipApplication
metadata: { name: media-bench, namespace: default }
spec:
  appId: media-bench
  answerUrl: ${answerUrl}/answer
  hangupUrl: ${answerUrl}/hangup
  sipAuth: { type: IpAcl, ipAclRefs: [{ name: loopback }] }
`;
}

const GC_METRIC = 'sipflow_media_nodejs_gc_duration_seconds';

/** The scavenges in a pod's /metrics text: cumulative buckets (le in seconds), sum and count. */
export function parseScavenges(text) {
  const out = { buckets: [], sum: 0, count: 0 };
  for (const line of text.split('\n')) {
    if (!line.startsWith(GC_METRIC) || !line.includes('kind="minor"')) continue;
    const value = Number(line.slice(line.lastIndexOf(' ') + 1));
    if (line.startsWith(`${GC_METRIC}_bucket{`)) {
      const le = /le="([^"]+)"/.exec(line)?.[1];
      if (le !== undefined && le !== '+Inf') out.buckets.push({ le: Number(le), count: value });
    } else if (line.startsWith(`${GC_METRIC}_sum{`)) out.sum = value;
    else if (line.startsWith(`${GC_METRIC}_count{`)) out.count = value;
  }
  out.buckets.sort((a, b) => a.le - b.le);
  return out;
}

/**
 * The scavenges between two snapshots: how many per second, their mean pause, and the smallest
 * bucket bound that holds them all (the longest pause is at most that), in ms.
 */
export function scavengesBetween(a, b, seconds) {
  const count = b.count - a.count;
  if (count <= 0) return { perSec: 0, meanMs: 0, maxLeMs: 0 };
  const before = new Map(a.buckets.map((x) => [x.le, x.count]));
  const fit = b.buckets.find((x) => x.count - (before.get(x.le) ?? 0) >= count);
  return { perSec: count / seconds, meanMs: (1000 * (b.sum - a.sum)) / count, maxLeMs: fit ? 1000 * fit.le : Infinity };
}

async function scavengeSnapshot(httpPort) {
  const res = await fetch(`http://127.0.0.1:${httpPort}/metrics`, { signal: AbortSignal.timeout(5000) });
  return parseScavenges(await res.text());
}

/**
 * Measures one window on the calls that are up; `sutPid` is the process on the SUT core, and
 * `metricsPort` (the pod's only) where its scavenges are read, outside the window's CPU figures.
 */
async function measureWindow({ label, n, gen, agent, windowId, windowSeconds, sutPid, helperPids, metricsPort }) {
  const gc0 = metricsPort ? await scavengeSnapshot(metricsPort) : undefined;
  const cpu0 = cpuSeconds(sutPid);
  // The wrappers and the C processes they run.
  const helpers0 = helperPids.map(treeCpuSeconds);
  const self0 = process.cpuUsage();
  const procs0 = processCpuSnapshot();
  const steal0 = coreStealSeconds(SUT_CORE);
  const t0 = performance.now();
  const fromUs = monoUs();
  await gen.request({ cmd: 'window', win: windowId });
  await sleep(windowSeconds * 1000);
  await gen.request({ cmd: 'window', win: 0 });
  const toUs = monoUs();
  const wall = (performance.now() - t0) / 1000;
  const cpu = cpuSeconds(sutPid) - cpu0;
  const scavenges = gc0 ? scavengesBetween(gc0, await scavengeSnapshot(metricsPort), wall) : undefined;
  const steal = coreStealSeconds(SUT_CORE) - steal0;
  const othersCpu = othersCpuSeconds(procs0, processCpuSnapshot(), [sutPid, ...helperPids]);
  const helpersCpu = helperPids.reduce((s, pid, i) => s + (treeCpuSeconds(pid) - helpers0[i]), 0);
  const selfUse = process.cpuUsage(self0);
  // Per-process CPU (/proc/PID/stat: the scheduler's exact run time), not /proc/stat's per-core
  // counters: those are sampled at the timer tick, and the callers send on a 1 ms timer, so the
  // tick lands on their busy moments far more often than chance and the cores looked up to 40
  // points busier than the processes on them.
  const loadCpu = helpersCpu + (selfUse.user + selfUse.system) / 1e6;
  // Drain: echoes still queued for playout come back; wait until the count stops moving (bounded).
  let last = -1;
  for (let i = 0; i < 16; i++) {
    await sleep(500);
    const p = await gen.request({ cmd: 'peek', win: windowId });
    if (p.echoed === last || p.echoed >= p.sent) break;
    last = p.echoed;
  }
  const g = await gen.request({ cmd: 'stats', win: windowId });
  const a = await agent.request({ cmd: 'stats', win: windowId });
  const row = {
    label, calls: n, framesSent: g.sent, framesAtAgent: a.frames, framesBack: g.echoed,
    lostToAgent: g.sent - a.frames, lostBack: a.frames - g.echoed,
    latencyMs: a.latencyMs, roundTripMs: g.rttMs,
    sutCpuPct: (100 * cpu) / wall, loadCorePct: (100 * loadCpu) / wall,
    backgroundCpuPct: (100 * othersCpu) / wall,
    sutStealPct: (100 * steal) / wall,
    agentConnections: a.connections,
    generatorSkippedMs: g.skippedMs,
    ...(scavenges ? { scavenges } : {}),
    fromUs, toUs,
  };
  row.lossless = row.framesSent > 0 && row.lostToAgent === 0 && row.lostBack === 0;
  process.stderr.write(`[media] ${label} N=${n} window ${windowId}: sent ${g.sent}, agent ${a.frames}, back ${g.echoed}; ` +
    `one-way p50 ${a.latencyMs.p50?.toFixed(2)} ms p99 ${a.latencyMs.p99?.toFixed(2)} ms; SUT CPU ${row.sutCpuPct.toFixed(0)}%, ` +
    `load core ${row.loadCorePct.toFixed(0)}%, background ${row.backgroundCpuPct.toFixed(0)}%, steal ${row.sutStealPct.toFixed(1)}%` +
    (scavenges ? `; scavenges ${scavenges.perSec.toFixed(1)}/s, mean ${scavenges.meanMs.toFixed(2)} ms, longest ≤ ${scavenges.maxLeMs} ms` : '') + '\n');
  return row;
}

/**
 * One step: a warm-up, then `windows` measurement windows back to back on the same calls. A single
 * window is one sample of a noisy machine; the step's figures are the windows' medians (with their
 * range), its frame counts their sums, and it is held only when every window lost nothing.
 */
export function combineWindows(label, n, windows) {
  const med = (xs) => percentile(xs, 50);
  const range = (xs) => [Math.min(...xs), Math.max(...xs)];
  const sum = (pick) => windows.reduce((s, w) => s + pick(w), 0);
  const p50s = windows.map((w) => w.latencyMs.p50);
  const p99s = windows.map((w) => w.latencyMs.p99);
  const cpus = windows.map((w) => w.sutCpuPct);
  const loads = windows.map((w) => w.loadCorePct);
  return {
    label, calls: n,
    framesSent: sum((w) => w.framesSent), framesAtAgent: sum((w) => w.framesAtAgent), framesBack: sum((w) => w.framesBack),
    lostToAgent: sum((w) => w.lostToAgent), lostBack: sum((w) => w.lostBack),
    latencyMs: { p50: med(p50s), p99: med(p99s), max: Math.max(...windows.map((w) => w.latencyMs.max)) },
    p50RangeMs: range(p50s), p99RangeMs: range(p99s),
    roundTripMs: { p50: med(windows.map((w) => w.roundTripMs.p50)), p99: med(windows.map((w) => w.roundTripMs.p99)) },
    sutCpuPct: med(cpus), sutCpuRangePct: range(cpus),
    loadCorePct: med(loads), loadCoreMaxPct: Math.max(...loads),
    // Other processes and the hypervisor: the worst window, so a step disturbed once is still marked.
    backgroundCpuPct: Math.max(...windows.map((w) => w.backgroundCpuPct)),
    sutStealPct: Math.max(...windows.map((w) => w.sutStealPct)),
    agentConnections: windows[windows.length - 1].agentConnections,
    ...(windows.every((w) => w.scavenges) ? {
      scavenges: {
        perSec: med(windows.map((w) => w.scavenges.perSec)),
        meanMs: med(windows.map((w) => w.scavenges.meanMs)),
        maxLeMs: Math.max(...windows.map((w) => w.scavenges.maxLeMs)),
      },
    } : {}),
    // The span of all windows (a profile's samples are counted inside it).
    fromUs: windows[0].fromUs, toUs: windows[windows.length - 1].toUs,
    windowsLossless: windows.filter((w) => w.lossless).length,
    lossless: windows.every((w) => w.lossless),
    windows,
  };
}

async function measureStep({ windows, nextWindowId, ...w }) {
  await sleep(2000); // warm-up: streams opened, queues settled
  const rows = [];
  for (let i = 0; i < windows; i++) rows.push(await measureWindow({ ...w, windowId: nextWindowId() }));
  return combineWindows(w.label, w.n, rows);
}

/**
 * The load core's side of a media run: this process pinned to it, the echo agent, an answer server
 * returning a bidirectional <Stream> to it, and the pod's manifests in a temporary directory.
 */
export async function startEchoRig(name, load = 'c') {
  const workDir = fs.mkdtempSync(path.join(os.tmpdir(), `sipflow-bench-${name}-`));
  await pinSelf(LOAD_CORE);
  const agent = new PinnedWorker('echo-agent', LOAD_CORE, path.join(BENCH_DIR, 'echo-agent.mjs'), ['--impl', load]);
  const { url: agentUrl } = await agent.request({ cmd: 'listen' });
  const answer = await startAnswerServer(
    `<Response><Stream bidirectional="true" keepCallAlive="true" contentType="audio/x-mulaw;rate=8000">${agentUrl}</Stream></Response>`);
  const manifestsDir = path.join(workDir, 'manifests');
  fs.mkdirSync(manifestsDir);
  fs.writeFileSync(path.join(manifestsDir, 'bench.yaml'), manifests(answer.url));
  return { workDir, agent, agentUrl, answer, manifestsDir };
}

export async function runMediaBench(o = {}) {
  const steps = o.steps ?? [100, 150, 200, 250, 300, 350, 400, 500];
  const windowSeconds = o.windowSeconds ?? 6;
  const windows = o.windows ?? 3;
  const setupCps = o.setupCps ?? 80;
  const profileMode = o.profile ?? 'auto';
  // The load side in C by default: in Node, callers and agent filled the load core at 400-500
  // calls (README "A load side that is not the bottleneck"). SRTP is only in the Node callers.
  const load = o.load ?? (o.srtp ? 'node' : 'c');
  if (o.srtp && load === 'c') throw new Error('--srtp yes needs --load node');
  const outDir = o.outDir ?? path.join(BENCH_DIR, 'out');
  fs.mkdirSync(outDir, { recursive: true });
  const { workDir, agent, agentUrl, answer, manifestsDir } = await startEchoRig('media', load);
  const podLog = path.join(outDir, 'media-pod.log');
  fs.rmSync(podLog, { force: true });
  const result = { steps, windowSeconds, windows, setupCps, load, sipflow: [], baseline: [], setup: [] };
  let windowId = 1;
  const nextWindowId = () => windowId++;
  const profile = profileMode === 'always';
  const profDir = path.join(outDir, 'profile-media');
  if (profile) fs.rmSync(profDir, { recursive: true, force: true });

  try {
    // The pod and the relay both stay up on the server's core for the whole run, idle in turn: at
    // every N the two are measured back to back (sipflow first at even steps, the relay first at
    // odd ones), each on N fresh calls that are hung up afterwards. The machine's speed drifts by
    // tens of percent within minutes, so two ladders run one after the other compared two
    // different machines; steps measured back to back share one.
    const sipPort = await freePort();
    const podHttpPort = await freePort();
    const pod = await startPod({
      manifestsDir, sipPort, httpPort: podHttpPort, rtpPorts: '30000-39999', logFile: podLog,
      extraArgs: ['--media-timeout', '300'],
      nodeArgs: [...(o.podNodeArgs ?? []), ...(profile ? ['--cpu-prof', `--cpu-prof-dir=${profDir}`] : [])],
      ...(o.podEnv ? { env: o.podEnv } : {}),
    });
    const gen = new PinnedWorker('media-load', LOAD_CORE, path.join(BENCH_DIR, 'media-load.mjs'), ['--impl', load]);
    const relay = o.skipBaseline ? undefined : new PinnedWorker('baseline-relay', SUT_CORE, path.join(BENCH_DIR, 'baseline-relay.mjs'), [], o.relayNodeArgs ?? []);
    const gen2 = o.skipBaseline ? undefined : new PinnedWorker('media-load', LOAD_CORE, path.join(BENCH_DIR, 'media-load.mjs'), ['--impl', load]);
    try {
      await gen.request({ cmd: 'init', mode: 'sip', sipHost: '127.0.0.1', sipPort, user: 'media-bench', srtp: o.srtp === true });
      if (gen2) await gen2.request({ cmd: 'init', mode: 'raw' });

      /** N calls through the pod, measured, hung up; false once a step lost a frame or a setup. */
      const sipflowStep = async (n) => {
        const t0 = performance.now();
        const add = await gen.request({ cmd: 'add', count: n, cps: setupCps }, 600_000);
        result.setup.push({ target: n, established: add.established, failed: add.failed, failures: add.failures, seconds: (performance.now() - t0) / 1000 });
        if (add.failed > 0) process.stderr.write(`[media] sipflow: ${add.failed} call setups failed at N=${n}: ${JSON.stringify(add.failures)}\n`);
        const row = await measureStep({ label: 'sipflow', n: add.total, gen, agent, windows, nextWindowId, windowSeconds, sutPid: pod.pid, helperPids: [gen.pid, agent.pid], metricsPort: podHttpPort });
        row.setupFailed = add.failed;
        result.sipflow.push(row);
        await gen.request({ cmd: 'hangup' }, 120_000);
        return row.lossless && add.failed === 0;
      };
      /** The same N through the relay (up to its own first loss, so the table gives both capacities). */
      const baselineStep = async (n) => {
        const { ports } = await relay.request({ cmd: 'open', count: n, agentUrl }, 300_000);
        const add = await gen2.request({ cmd: 'add', targets: ports });
        const row = await measureStep({ label: 'baseline', n: add.total, gen: gen2, agent, windows, nextWindowId, windowSeconds, sutPid: relay.pid, helperPids: [gen2.pid, agent.pid] });
        result.baseline.push(row);
        await gen2.request({ cmd: 'hangup' });
        await relay.request({ cmd: 'close' });
        return row.lossless;
      };

      let sipflowGoing = true;
      let baselineGoing = relay !== undefined;
      for (const [i, n] of steps.entries()) {
        const order = i % 2 === 0 ? ['sipflow', 'baseline'] : ['baseline', 'sipflow'];
        for (const which of order) {
          if (which === 'sipflow' && sipflowGoing) sipflowGoing = await sipflowStep(n);
          if (which === 'baseline' && baselineGoing) baselineGoing = await baselineStep(n);
        }
        if (!sipflowGoing && !baselineGoing) break;
      }
    } finally {
      await gen.stop();
      await gen2?.stop();
      await relay?.stop();
      await pod.stop();
    }

    const held = result.sipflow.filter((r) => r.lossless && !r.setupFailed);
    result.maxLossless = held.reduce((m, r) => Math.max(m, r.calls), 0);
    result.targetCalls = MEDIA_TARGET_CALLS;
    result.targetP99Ms = MEDIA_TARGET_P99_MS;
    const atTarget = result.sipflow.find((r) => r.calls >= MEDIA_TARGET_CALLS && r.lossless);
    result.met = !!atTarget && atTarget.latencyMs.p99 < MEDIA_TARGET_P99_MS;
    if (profile) {
      const file = fs.existsSync(profDir) ? fs.readdirSync(profDir).find((f) => f.endsWith('.cpuprofile')) : undefined;
      if (file) result.profile = { file: path.relative(BENCH_DIR, path.join(profDir, file)), ...summarizeProfile(path.join(profDir, file), 20, result.sipflow[result.sipflow.length - 1] ?? {}) };
    }
  } finally {
    await agent.stop();
    await answer.close();
    fs.rmSync(workDir, { recursive: true, force: true });
  }
  result.needsProfile = profileMode === 'auto' && !result.met;
  return result;
}

/** runMediaBench, plus (when the target is missed) a profiled pass at the first N that failed. */
export async function runMediaBenchProfiled(opts = {}) {
  const result = await runMediaBench(opts);
  if (!result.needsProfile) return result;
  const failing = result.sipflow.find((r) => !r.lossless || r.setupFailed) ?? result.sipflow[result.sipflow.length - 1];
  const prof = await runMediaBench({ ...opts, steps: [failing?.calls ?? MEDIA_TARGET_CALLS], windows: 1, profile: 'always', skipBaseline: true });
  return { ...result, profile: prof.profile, profileRun: prof.sipflow };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const args = new Map();
  for (let i = 2; i < process.argv.length; i += 2) args.set(process.argv[i].replace(/^--/, ''), process.argv[i + 1]);
  const opts = {
    ...(args.has('steps') ? { steps: args.get('steps').split(',').map(Number) } : {}),
    ...(args.has('window-seconds') ? { windowSeconds: Number(args.get('window-seconds')) } : {}),
    ...(args.has('windows') ? { windows: Number(args.get('windows')) } : {}),
    ...(args.has('setup-cps') ? { setupCps: Number(args.get('setup-cps')) } : {}),
    ...(args.has('profile') ? { profile: args.get('profile') } : {}),
    ...(args.has('out') ? { outDir: path.resolve(args.get('out')) } : {}),
    ...(args.get('baseline') === 'no' ? { skipBaseline: true } : {}),
    ...(args.has('pod-node-args') ? { podNodeArgs: args.get('pod-node-args').split(/\s+/).filter(Boolean) } : {}),
    ...(args.has('relay-node-args') ? { relayNodeArgs: args.get('relay-node-args').split(/\s+/).filter(Boolean) } : {}),
    ...(args.get('srtp') === 'yes' ? { srtp: true } : {}),
    ...(args.has('load') ? { load: args.get('load') } : {}),
    ...(args.has('pod-env') ? { podEnv: Object.fromEntries(args.get('pod-env').split(',').map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)])) } : {}),
  };
  const result = await runMediaBenchProfiled(opts);
  process.stdout.write(JSON.stringify(result, null, 2) + '\n');
}
