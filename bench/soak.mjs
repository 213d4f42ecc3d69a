#!/usr/bin/env node
// Soak benchmark: does the media pod give back what a call took? Rounds of C bidirectional
// <Stream> calls (RTP both ways, the echo agent answering every frame) are set up, held and hung
// up; after each round, once the pod reports no active call and no active stream, its V8 heap is
// measured after a full collection (through the inspector), along with RSS, open file descriptors
// and libuv handles/requests by kind. The baseline is measured in the same run: the heap at the
// peak of round 1 (C calls up), so "heap kept per ended call" reads next to "heap per live call".
//
// Two kinds of keeping are told apart. SIP transactions rightly outlive their call by Timer L /
// Timer J (64 × T1 = 32 s), so right after a round the heap still holds what they keep; the
// snapshots taken after a quiet period longer than that (once after round 1, which also pays the
// one-off costs of compiled code and filled pools, and once at the end) must agree, or what
// differs is a leak, per call of rounds 2..R.
//
// usage: node bench/soak.mjs [--rounds 8] [--calls 200] [--hold-seconds 3] [--setup-cps 80] [--quiet-seconds 34] [--out DIR]
//                            [--heap-snapshots 2,6,quiet]   (heap snapshots of the pod after those rounds and after the quiet periods, to DIR)
import fs from 'node:fs';
import path from 'node:path';
import WebSocket from 'ws';
import { BENCH_DIR, LOAD_CORE, PinnedWorker, freePort, sleep, startPod } from './lib/common.mjs';
import { startEchoRig } from './media.mjs';

/** A minimal Chrome DevTools Protocol client for the pod's inspector (loopback only). */
async function inspector(port) {
  let list;
  for (let i = 0; i < 50 && !list; i++) {
    try { list = await (await fetch(`http://127.0.0.1:${port}/json/list`)).json(); } catch { await sleep(100); }
  }
  if (!list?.[0]?.webSocketDebuggerUrl) throw new Error('the pod inspector did not answer');
  const ws = new WebSocket(list[0].webSocketDebuggerUrl, { perMessageDeflate: false, maxPayload: 64 * 1024 * 1024 });
  await new Promise((resolve, reject) => { ws.once('open', resolve); ws.once('error', reject); });
  let next = 1;
  const pending = new Map();
  ws.on('message', (data) => {
    const m = JSON.parse(data.toString());
    const p = m.id !== undefined ? pending.get(m.id) : undefined;
    if (!p) return;
    pending.delete(m.id);
    if (m.error) p.reject(new Error(`${m.error.message}`)); else p.resolve(m.result);
  });
  const call = (method, params = {}) => new Promise((resolve, reject) => {
    const id = next++;
    pending.set(id, { resolve, reject });
    ws.send(JSON.stringify({ id, method, params }));
    setTimeout(() => { if (pending.delete(id)) reject(new Error(`${method}: no answer in 30 s`)); }, 30_000).unref();
  });
  return { call, close: () => ws.close() };
}

/** Timer L and Timer J with the default T1 of 500 ms: how long transactions outlive their call. */
const TIMER_L_MS = 64 * 500;

function rssBytes(pid) {
  const m = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) * 1024 : NaN;
}

function openFds(pid) { return fs.readdirSync(`/proc/${pid}/fd`).length; }

async function metric(url, name) {
  const text = await (await fetch(url)).text();
  const m = new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)$`, 'm').exec(text);
  return m ? Number(m[1]) : NaN;
}

/** Heap after a full collection, RSS, descriptors and libuv resources of the pod right now. */
async function snapshot(cdp, pid) {
  await cdp.call('HeapProfiler.collectGarbage');
  await cdp.call('HeapProfiler.collectGarbage'); // a second pass frees what the first one's finalizers released
  const heap = await cdp.call('Runtime.getHeapUsage');
  const res = await cdp.call('Runtime.evaluate', { expression: 'process.getActiveResourcesInfo()', returnByValue: true });
  const mem = await cdp.call('Runtime.evaluate', { expression: 'process.memoryUsage()', returnByValue: true });
  const kinds = {};
  for (const k of res.result.value ?? []) kinds[k] = (kinds[k] ?? 0) + 1;
  return { heapUsed: heap.usedSize, heapTotal: heap.totalSize, external: mem.result.value?.external ?? NaN, arrayBuffers: mem.result.value?.arrayBuffers ?? NaN, rss: rssBytes(pid), fds: openFds(pid), resources: kinds };
}

/** Has the pod (started with --heapsnapshot-signal) write a heap snapshot to `dir`; waits for it. */
async function heapSnapshot(pid, dir) {
  // For finding what a leak is made of: compare two snapshots in DevTools ("Comparison").
  const before = new Set(fs.readdirSync(dir));
  process.kill(pid, 'SIGUSR2');
  for (let i = 0; i < 300 && !fs.readdirSync(dir).some((f) => f.endsWith('.heapsnapshot') && !before.has(f)); i++) await sleep(100);
  await sleep(2000); // the file appears before it is complete
}

export async function runSoak(o = {}) {
  const rounds = o.rounds ?? 8;
  const callsPerRound = o.calls ?? 200;
  const holdSeconds = o.holdSeconds ?? 3;
  const setupCps = o.setupCps ?? 80;
  const quietSeconds = o.quietSeconds ?? 34;
  const outDir = o.outDir ?? path.join(BENCH_DIR, 'out');
  fs.mkdirSync(outDir, { recursive: true });
  const { workDir, agent, answer, manifestsDir } = await startEchoRig('soak');
  const podLog = path.join(outDir, 'soak-pod.log');
  fs.rmSync(podLog, { force: true });
  const inspectPort = await freePort();
  const httpPort = await freePort();
  const sipPort = await freePort();
  const metricsUrl = `http://127.0.0.1:${httpPort}/metrics`;
  const result = { rounds, callsPerRound, holdSeconds, setupCps, quietSeconds, idle: undefined, rows: [], warmQuiet: undefined, finalQuiet: undefined };
  const pod = await startPod({
    manifestsDir, sipPort, httpPort, rtpPorts: '30000-39999', logFile: podLog,
    nodeArgs: [`--inspect=127.0.0.1:${inspectPort}`, ...(o.heapSnapshots?.length ? ['--heapsnapshot-signal=SIGUSR2', `--diagnostic-dir=${outDir}`] : [])],
  });
  const gen = new PinnedWorker('media-load', LOAD_CORE, path.join(BENCH_DIR, 'media-load.mjs'), ['--impl', 'c']);
  let cdp;
  try {
    cdp = await inspector(inspectPort);
    await gen.request({ cmd: 'init', mode: 'sip', sipHost: '127.0.0.1', sipPort, user: 'media-bench' });
    result.idle = await snapshot(cdp, pod.pid);
    for (let r = 1; r <= rounds; r++) {
      const add = await gen.request({ cmd: 'add', count: callsPerRound, cps: setupCps }, 600_000);
      await sleep(holdSeconds * 1000);
      const live = await snapshot(cdp, pod.pid);
      const agentStats = await agent.request({ cmd: 'stats', win: 0 });
      const bye = await gen.request({ cmd: 'hangup' }, 120_000);
      const hungUpAt = performance.now();
      // Bounded wait for the pod to finish every call and stream (hangup callbacks, stream stops).
      let active = NaN; let streams = NaN;
      for (let i = 0; i < 100; i++) {
        active = await metric(metricsUrl, 'sipflow_calls_active');
        streams = await metric(metricsUrl, 'sipflow_streams_active');
        if (active === 0 && streams === 0) break;
        await sleep(200);
      }
      await sleep(1500); // RTP ports' quarantine and the agent's closes
      const after = await snapshot(cdp, pod.pid);
      const afterAt = performance.now();
      const row = { round: r, established: add.established, failed: add.failed, byesOk: bye.ok, agentConnections: agentStats.connections,
        activeAfter: active, streamsAfter: streams, live, after, hungUpAt, afterAt };
      result.rows.push(row);
      if (o.heapSnapshots?.includes(r)) await heapSnapshot(pod.pid, outDir);
      process.stderr.write(`[soak] round ${r}: ${add.established}/${callsPerRound} up (${add.failed} failed), heap live ${(live.heapUsed / 1e6).toFixed(1)} MB, ` +
        `after ${(after.heapUsed / 1e6).toFixed(2)} MB, rss ${(after.rss / 1e6).toFixed(0)} MB, fds ${after.fds}, resources ${JSON.stringify(after.resources)}\n`);
      if (r === 1 || r === rounds) {
        process.stderr.write(`[soak] quiet for ${quietSeconds} s (transactions' Timer L/J)\n`);
        await sleep(quietSeconds * 1000);
        const quiet = await snapshot(cdp, pod.pid);
        if (r === 1) result.warmQuiet = quiet; else result.finalQuiet = quiet;
        if (o.heapSnapshots?.includes('quiet')) await heapSnapshot(pod.pid, outDir);
        process.stderr.write(`[soak] quiet: heap ${(quiet.heapUsed / 1e6).toFixed(2)} MB, rss ${(quiet.rss / 1e6).toFixed(0)} MB, fds ${quiet.fds}\n`);
      }
    }
  } finally {
    cdp?.close();
    await gen.stop();
    await pod.stop();
    await agent.stop();
    await answer.close();
    fs.rmSync(workDir, { recursive: true, force: true });
  }
  return summarize(result);
}

export function summarize(result) {
  const rows = result.rows;
  const first = rows[0];
  const last = rows[rows.length - 1];
  const total = (snap) => Object.values(snap.resources).reduce((a, b) => a + b, 0);
  const laterCalls = rows.slice(1).reduce((a, row) => a + row.established, 0);
  const { warmQuiet, finalQuiet } = result;
  result.summary = {
    liveHeapPerCall: (first.live.heapUsed - result.idle.heapUsed) / first.established,
    liveRssPerCall: (first.live.rss - result.idle.rss) / first.established,
    // Right after the last round: the transactions of every call that ended less than 32 s before.
    transactionHeldHeap: last.after.heapUsed - finalQuiet.heapUsed,
    callsInTimerL: rows.filter((row) => last.afterAt - row.hungUpAt < TIMER_L_MS).reduce((a, row) => a + row.established, 0),
    leakHeapPerCall: laterCalls > 0 ? (finalQuiet.heapUsed - warmQuiet.heapUsed) / laterCalls : NaN,
    leakRssPerCall: laterCalls > 0 ? (finalQuiet.rss - warmQuiet.rss) / laterCalls : NaN,
    leakExternalPerCall: laterCalls > 0 ? (finalQuiet.external - warmQuiet.external) / laterCalls : NaN,
    liveExternalPerCall: (first.live.external - result.idle.external) / first.established,
    laterCalls,
    fds: { idle: result.idle.fds, warmQuiet: warmQuiet.fds, finalQuiet: finalQuiet.fds },
    resources: { idle: total(result.idle), warmQuiet: total(warmQuiet), finalQuiet: total(finalQuiet) },
    callsTotal: rows.reduce((a, row) => a + row.established, 0),
    failedTotal: rows.reduce((a, row) => a + row.failed, 0),
  };
  const s = result.summary;
  s.leakVsLiveRatio = s.leakHeapPerCall / s.liveHeapPerCall;
  return result;
}

export function renderSoak(result) {
  const s = result.summary;
  const kb = (b) => (b / 1024).toFixed(1);
  const mb = (b) => (b / 1e6).toFixed(2);
  const snapRow = (label, snap, live = '') => `| ${label} | ${live} | ${mb(snap.heapUsed)} | ${mb(snap.external)} | ${(snap.rss / 1e6).toFixed(0)} | ${snap.fds} | ${JSON.stringify(snap.resources)} |`;
  const lines = [
    `| figure | value |`, `|---|---|`,
    `| calls set up, streamed (agent echoing) and hung up (failed) | ${s.callsTotal} (${s.failedTotal}) in ${result.rounds} rounds of ${result.callsPerRound}, held ${result.holdSeconds} s |`,
    `| V8 heap per live call (round 1 peak − idle, after full GC) — the baseline | ${kb(s.liveHeapPerCall)} KB |`,
    `| V8 heap kept per ended call after ${result.quietSeconds} s quiet (final − after round 1, ÷ ${s.laterCalls} calls) | ${kb(s.leakHeapPerCall)} KB |`,
    `| ratio kept ÷ live | ${s.leakVsLiveRatio.toFixed(4)} |`,
    `| memory outside the V8 heap (ArrayBuffers, Buffers) per live call / kept per ended call after quiet | ${kb(s.liveExternalPerCall)} KB / ${kb(s.leakExternalPerCall)} KB |`,
    `| RSS per live call / kept per ended call after quiet | ${kb(s.liveRssPerCall)} KB / ${kb(s.leakRssPerCall)} KB |`,
    `| heap held right after the last round by the transactions of the ${s.callsInTimerL} calls that ended in the 32 s before (Timer L/J) | ${mb(s.transactionHeldHeap)} MB (${kb(s.transactionHeldHeap / s.callsInTimerL)} KB per call) |`,
    `| open fds: idle / quiet after round 1 / quiet at the end | ${s.fds.idle} / ${s.fds.warmQuiet} / ${s.fds.finalQuiet} |`,
    `| libuv handles and requests: idle / quiet after round 1 / quiet at the end | ${s.resources.idle} / ${s.resources.warmQuiet} / ${s.resources.finalQuiet} |`,
    '',
    '| snapshot | heap at peak, MB (calls up) | heap MB | external MB | RSS MB | fds | libuv resources |',
    '|---|---|---|---|---|---|---|',
    snapRow('idle', result.idle),
    ...result.rows.flatMap((r) => [
      snapRow(`round ${r.round}, after hangup`, r.after, `${mb(r.live.heapUsed)} (${r.established} up)`),
      ...(r.round === 1 ? [snapRow(`quiet ${result.quietSeconds} s`, result.warmQuiet)] : []),
    ]),
    snapRow(`quiet ${result.quietSeconds} s`, result.finalQuiet),
  ];
  return lines.join('\n');
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const args = new Map();
  for (let i = 2; i < process.argv.length; i += 2) args.set(process.argv[i].replace(/^--/, ''), process.argv[i + 1]);
  const result = await runSoak({
    ...(args.has('rounds') ? { rounds: Number(args.get('rounds')) } : {}),
    ...(args.has('calls') ? { calls: Number(args.get('calls')) } : {}),
    ...(args.has('hold-seconds') ? { holdSeconds: Number(args.get('hold-seconds')) } : {}),
    ...(args.has('setup-cps') ? { setupCps: Number(args.get('setup-cps')) } : {}),
    ...(args.has('quiet-seconds') ? { quietSeconds: Number(args.get('quiet-seconds')) } : {}),
    ...(args.has('out') ? { outDir: path.resolve(args.get('out')) } : {}),
    ...(args.has('heap-snapshots') ? { heapSnapshots: args.get('heap-snapshots').split(',').map((v) => (v === 'quiet' ? v : Number(v))) } : {}),
  });
  fs.writeFileSync(path.join(args.has('out') ? path.resolve(args.get('out')) : path.join(BENCH_DIR, 'out'), 'soak.json'), JSON.stringify(result, null, 2));
  process.stdout.write(renderSoak(result) + '\n');
}
