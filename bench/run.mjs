#!/usr/bin/env node
// The one benchmark command (issue #7): runs signalling (issue #3: media pod, sipp UAS baseline,
// Kamailio reference), media (issue #4: media pod, minimal relay baseline) and propagation
// (issue #5: bench/propagation.mjs, when present) and writes bench/RESULTS.md: one summary table
// (figure, sipflow, baseline measured in the same run, ratio, target, met?), the per-step tables,
// and the CPU profile's top functions for any missed target. Raw results, logs and profiles go to
// bench/out/ (not committed).
//
// usage: node bench/run.mjs [--quick] [--max-wait-quiet SECONDS] [--no-kamailio] [--no-propagation] [--no-soak]
//                           [--no-write] [--render FILE]
//   --quick            shorter steps, for trying the harness (results are not comparable)
//   --max-wait-quiet   wait up to this long for other processes to leave the cores (default 60)
//   --render FILE      only rewrite RESULTS.md from a saved out/results.json
// Needs: `npx tsc -b` done (media-pod/dist), sipp, kamailio and taskset on PATH, 2 or more cores;
// for propagation also the control-plane binaries (`make k8s-test-deps`).
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { BENCH_DIR, LOAD_CORE, NICE, REPO_DIR, SUT_CORE, coreBusySeconds, fmt, machineInfo, sleep } from './lib/common.mjs';
import { profileMarkdown } from './lib/cpuprofile-top.mjs';
import { runMediaBenchProfiled } from './media.mjs';
import { renderSoak, runSoak } from './soak.mjs';
import { runSignallingBench } from './signalling.mjs';

/** Above this much CPU used by other processes (percent of one core), a step is marked contended. */
const CONTENDED_PCT = 25;

const argv = process.argv.slice(2);
const quick = argv.includes('--quick');
const noWrite = argv.includes('--no-write');
const waitArg = argv.indexOf('--max-wait-quiet');
const maxWaitQuiet = waitArg >= 0 ? Number(argv[waitArg + 1]) : 60;
const withKamailio = !argv.includes('--no-kamailio');
const withPropagation = !argv.includes('--no-propagation');
const withSoak = !argv.includes('--no-soak');
const PROPAGATION_SCRIPT = path.join(BENCH_DIR, 'propagation.mjs');
const renderArg = argv.indexOf('--render');
let command = `node bench/run.mjs${argv.length ? ' ' + argv.join(' ') : ''}`;
const outDir = path.join(BENCH_DIR, 'out');

if (!fs.existsSync(path.join(BENCH_DIR, '..', 'media-pod', 'dist', 'main.js'))) {
  process.stderr.write('media-pod/dist is missing: run `npx tsc -b` first\n');
  process.exit(2);
}

/** Percent of one core the two benchmark cores are busy with, over `ms`, before anything of ours runs. */
async function idleLoad(ms = 3000) {
  const a = coreBusySeconds(LOAD_CORE) + coreBusySeconds(SUT_CORE);
  await sleep(ms);
  return (100 * (coreBusySeconds(LOAD_CORE) + coreBusySeconds(SUT_CORE) - a)) / (ms / 1000);
}

async function waitForQuiet() {
  const deadline = Date.now() + maxWaitQuiet * 1000;
  for (;;) {
    const load = await idleLoad();
    if (load <= CONTENDED_PCT || Date.now() >= deadline) return load;
    process.stderr.write(`[run] other processes use ${load.toFixed(0)}% of a core; waiting for the machine to quieten\n`);
    await sleep(5000);
  }
}

/**
 * Runs bench/propagation.mjs (issue #5, a colleague's script) as a child process with --no-write
 * and takes its result from bench/out/operator-propagation.json. That file is the input of
 * RESULTS-operator.md, so the one that was there before is put back afterwards and this run's
 * copy kept as out/run-propagation.json. Returns { skipped } with a reason when it cannot run.
 */
async function runPropagation({ iterations, timeoutMs }) {
  if (!withPropagation) return { skipped: 'skipped (--no-propagation)' };
  if (!fs.existsSync(PROPAGATION_SCRIPT)) return { skipped: 'skipped: bench/propagation.mjs is not in this checkout' };
  const outFile = path.join(outDir, 'operator-propagation.json');
  const previous = fs.existsSync(outFile) ? fs.readFileSync(outFile) : undefined;
  const t0 = Date.now();
  const args = [PROPAGATION_SCRIPT, '--no-write', '--iterations', String(iterations)];
  process.stderr.write(`[run] propagation: node bench/propagation.mjs ${args.slice(1).join(' ')}\n`);
  let tail = '';
  const code = await new Promise((resolve) => {
    const child = spawn(process.execPath, args, { cwd: REPO_DIR, stdio: ['ignore', 'ignore', 'pipe'] });
    child.stderr.on('data', (d) => { process.stderr.write(d); tail = (tail + d).slice(-2000); });
    // SIGTERM first: the script's finally blocks stop its control plane and pods.
    const timer = setTimeout(() => { child.kill('SIGTERM'); setTimeout(() => child.kill('SIGKILL'), 20_000).unref(); }, timeoutMs);
    child.on('error', (err) => { clearTimeout(timer); tail += err.message; resolve(-1); });
    child.on('exit', (c, signal) => { clearTimeout(timer); resolve(c ?? signal); });
  });
  let result;
  try {
    const r = JSON.parse(fs.readFileSync(outFile, 'utf8'));
    if (Date.parse(r.date) >= t0 - 1000) result = r;
  } catch { /* no result written */ }
  if (result) fs.writeFileSync(path.join(outDir, 'run-propagation.json'), JSON.stringify(result, null, 2));
  if (previous) fs.writeFileSync(outFile, previous); else if (result) fs.rmSync(outFile, { force: true });
  if (!result) {
    const last = tail.trim().split('\n').slice(-3).join(' / ').slice(0, 400);
    return { skipped: `failed (exit ${code} after ${Math.round((Date.now() - t0) / 1000)} s): ${last}` };
  }
  return { ...result, seconds: Math.round((Date.now() - t0) / 1000) };
}

/** The commit measured, and whether media-pod/ had uncommitted changes (its dist is what runs). */
function sourceState() {
  const git = (args) => spawnSync('git', args, { cwd: REPO_DIR, encoding: 'utf8', timeout: 10_000 }).stdout?.trim() ?? '';
  const head = git(['rev-parse', '--short', 'HEAD']) || 'unknown';
  const dirty = git(['status', '--porcelain', '--', 'media-pod', 'operator']).split('\n').filter(Boolean).length;
  return { head, dirtyFiles: dirty };
}

const ratio = (a, b) => (Number.isFinite(a) && Number.isFinite(b) && b !== 0 ? `${(a / b).toFixed(2)}×` : 'n/a');
const yes = (b) => (b ? 'yes' : '**no**');
const contended = (r) => (r.backgroundCpuPct > CONTENDED_PCT ? ' ⚠' : '');
/** Above this the load generator's own core is the limit: the step says little about the server. */
const LOAD_SATURATED_PCT = 90;
const loadLimited = (r) => ((r.loadCoreMaxPct ?? r.loadCorePct) > LOAD_SATURATED_PCT ? ' ⊘' : '');

function summaryRows(sig, media) {
  const rows = [];
  const sigBest = sig.sipflow.find((r) => r.offeredCps === sig.sipflowMax);
  const baseBest = sig.baseline.find((r) => r.offeredCps === sig.baselineMax);
  const baseLabel = `${sig.baselineCapped ? '≥ ' : ''}${sig.baselineMax}`;
  rows.push(['Authenticated calls/s, zero failed calls, 1 core (highest step passed)', `${sig.sipflowMax}`, baseLabel, ratio(sig.sipflowMax, sig.baselineMax) + (sig.baselineCapped ? ' (baseline not saturated)' : ''), `≥ ${sig.targetCps}`, yes(sig.met)]);
  rows.push(['  achieved calls/s at that step', fmt(sigBest?.achievedCps, 1), fmt(baseBest?.achievedCps, 1), ratio(sigBest?.achievedCps, baseBest?.achievedCps), '', '']);
  rows.push(['  CPU of the server under test at that step', `${fmt(sigBest?.sutCpuPct)}%`, `${fmt(baseBest?.sutCpuPct)}%`, '', '', '']);
  // CPU time per call does not depend on how busy the machine is; when no step passed, the
  // profiled step (same rate as the first step) or the first step still tells it.
  // When neither passed, the one with fewer failed calls (failed calls cost retransmissions).
  const fallback = [sig.sipflow[0], sig.profileStep].filter(Boolean).sort((a, b) => a.failed - b.failed)[0];
  const cpuRow = sigBest ?? fallback;
  const cpuStep = cpuRow ? `, ${cpuRow.offeredCps} cps step${cpuRow === sig.profileStep ? ' under --cpu-prof' : ''}${cpuRow.failed ? `, ${cpuRow.failed} calls failed` : ''}` : '';
  const sameRate = sig.baseline.find((r) => r.offeredCps === cpuRow?.offeredCps);
  rows.push([`  CPU ms per call (server under test${cpuStep})`, fmt(cpuRow?.sutCpuMsPerCall, 2), fmt(sameRate?.sutCpuMsPerCall, 2), ratio(cpuRow?.sutCpuMsPerCall, sameRate?.sutCpuMsPerCall), `≤ ${fmt(1000 / sig.targetCps, 2)} (1 core ÷ ${sig.targetCps})`, yes((cpuRow?.sutCpuMsPerCall ?? Infinity) <= 1000 / sig.targetCps)]);
  if (sig.kamailio?.length) {
    // The reference: the baseline column holds Kamailio here, not the sipp UAS.
    const k = sig.kamailioInfo;
    const kamLabel = `${sig.kamailioCapped ? '≥ ' : ''}${sig.kamailioMax}`;
    rows.push([`Reference: Kamailio ${k.version} (tm + auth, same digest check, ${k.children} worker, same core) — calls/s, zero failed (baseline column = Kamailio)`, `${sig.sipflowMax}`, kamLabel, ratio(sig.sipflowMax, sig.kamailioMax) + (sig.kamailioCapped ? ' (Kamailio not saturated)' : ''), '', '']);
    const kamSame = sig.kamailio.find((r) => r.offeredCps === cpuRow?.offeredCps);
    rows.push([`  CPU ms per call vs Kamailio (server under test${cpuStep})`, fmt(cpuRow?.sutCpuMsPerCall, 2), fmt(kamSame?.sutCpuMsPerCall, 2), ratio(cpuRow?.sutCpuMsPerCall, kamSame?.sutCpuMsPerCall), '', '']);
    const kamBest = sig.kamailio.find((r) => r.offeredCps === sig.kamailioMax);
    // sipp on the load core usually saturates before Kamailio does; its CPU tells how far it is from its limit.
    if (kamBest) rows.push([`  Kamailio at its highest passing step (${kamBest.offeredCps} cps): CPU, ms per call (1 core ÷ ms per call, an estimate)`, '', `${fmt(kamBest.sutCpuPct)}%, ${fmt(kamBest.sutCpuMsPerCall, 2)} ms (≈ ${fmt(1000 / kamBest.sutCpuMsPerCall)} calls/s)`, '', '', '']);
  } else if (sig.kamailioSkipped) {
    rows.push(['Reference: Kamailio — calls/s, zero failed', `${sig.sipflowMax}`, sig.kamailioSkipped, 'n/a', '', '']);
  }

  const lossless = media.sipflow.filter((r) => r.lossless && !r.setupFailed);
  const baseLossless = media.baseline.filter((r) => r.lossless).reduce((m, r) => Math.max(m, r.calls), 0);
  const baseAllLossless = media.baseline.length > 0 && media.baseline.every((r) => r.lossless);
  rows.push(['Concurrent bidirectional calls, zero lost frames, 1 core (largest step held)', `${media.maxLossless}`, `${baseAllLossless ? '≥ ' : ''}${baseLossless}`, ratio(media.maxLossless, baseLossless), `≥ ${media.targetCalls}`, yes(media.maxLossless >= media.targetCalls)]);
  // The target as a whole: no frame lost and p99 under the bound, at the same step. A relay that never
  // drops (the baseline queues without limit) is lossless far past the point where its latency is not.
  const inTarget = (r) => r.lossless && !r.setupFailed && r.latencyMs.p99 < media.targetP99Ms;
  const bothSip = media.sipflow.filter(inTarget).reduce((m, r) => Math.max(m, r.calls), 0);
  const bothBase = media.baseline.filter(inTarget).reduce((m, r) => Math.max(m, r.calls), 0);
  rows.push([`  largest step with zero lost frames and one-way p99 < ${media.targetP99Ms} ms`, `${bothSip}`, `${bothBase}`, ratio(bothSip, bothBase), `≥ ${media.targetCalls}`, yes(bothSip >= media.targetCalls)]);
  const at = lossless[lossless.length - 1] ?? media.sipflow[0];
  const b = media.baseline.find((r) => r.calls === at?.calls);
  if (at) {
    rows.push([`  one-way latency p50, caller → agent, N=${at.calls} (ms)`, fmt(at.latencyMs.p50, 2), fmt(b?.latencyMs.p50, 2), ratio(at.latencyMs.p50, b?.latencyMs.p50), '', '']);
    rows.push([`  one-way latency p99, caller → agent, N=${at.calls} (ms)`, fmt(at.latencyMs.p99, 2), fmt(b?.latencyMs.p99, 2), ratio(at.latencyMs.p99, b?.latencyMs.p99), `< ${media.targetP99Ms}`, yes(at.latencyMs.p99 < media.targetP99Ms && at.calls >= media.targetCalls)]);
    const added = at.latencyMs.p99 - (b?.latencyMs.p99 ?? NaN);
    // Latencies of a step that lost frames (either side) say nothing about the target.
    const comparable = at.lossless && !at.setupFailed && b?.lossless;
    rows.push([`  p99 added by sipflow over the baseline relay, N=${at.calls} (ms)`, added < 0 ? `≤ 0 (${fmt(added, 2)})` : fmt(added, 2), '0', '', `< ${media.targetP99Ms}`, comparable ? yes(added < media.targetP99Ms) : 'n/a (frames lost)']);
    rows.push([`  CPU of the server under test, N=${at.calls}`, `${fmt(at.sutCpuPct)}%`, `${fmt(b?.sutCpuPct)}%`, ratio(at.sutCpuPct, b?.sutCpuPct), '', '']);
  }
  return rows;
}

function soakRows(soak) {
  if (!soak) return [];
  const s = soak.summary;
  const kb = (b) => fmt(b / 1024, 1);
  return [
    [`Memory kept per ended call after ${soak.quietSeconds} s quiet (${s.callsTotal} stream calls in ${soak.rounds} rounds; baseline = heap per live call), KB`, kb(s.leakHeapPerCall), kb(s.liveHeapPerCall), fmt(s.leakVsLiveRatio, 3), '', ''],
    ['  open fds / libuv handles after quiet: end of run vs after round 1', `${s.fds.finalQuiet} / ${s.resources.finalQuiet}`, `${s.fds.warmQuiet} / ${s.resources.warmQuiet}`, '', '', ''],
  ];
}

function propagationRows(prop) {
  if (!prop) return [];
  if (prop.skipped) return [['Propagation (issue #5): `kubectl apply` → first call accepted', 'n/a', 'n/a', 'n/a', '< 1000 ms p99', prop.skipped]];
  return prop.rows ?? [];
}

function table(head, rows) {
  return [`| ${head.join(' | ')} |`, `|${head.map(() => '---').join('|')}|`, ...rows.map((r) => `| ${r.join(' | ')} |`)].join('\n');
}

function render({ sig, media, soak, prop, machine, started, finished, quietLoad, loadavg, source }) {
  const lines = [];
  lines.push('# sipflow benchmark results', '');
  lines.push(`- Date: ${started.toISOString()} (took ${Math.round((finished - started) / 1000)} s)`);
  lines.push(`- Machine: ${machine.nproc} cores, ${machine.cpuModel}, ${machine.memGiB} GiB, Linux ${machine.kernel}, Node ${machine.node}`);
  lines.push(`- Command: \`${command}\` (after \`npx tsc -b\`)${source ? `; source: commit ${source.head}${source.dirtyFiles ? `, ${source.dirtyFiles} uncommitted file(s) in media-pod/ and operator/ (work in progress; their dist is what ran)` : ''}` : ''}`);
  lines.push(`- Pinning: server under test on core ${SUT_CORE} (\`taskset -c ${SUT_CORE}\`); sipp, proxy, load generator, agent and answer server on core ${LOAD_CORE}; every benchmark process at nice ${NICE}. Propagation is not pinned (control plane, operator and pods share the machine).`);
  lines.push(`- Background load: other processes were using ${quietLoad.toFixed(0)}% of a core on the two benchmark cores when the run started${loadavg ? ` (load average ${loadavg.map((l) => l.toFixed(1)).join(' / ')})` : ''}; steps where they used more than ${CONTENDED_PCT}% are marked ⚠ (their figures are lower bounds for sipflow, baseline and reference alike; CPU ms per call is the steadier figure).`);
  if (sig.kamailioInfo) lines.push(`- Kamailio reference: \`${sig.kamailioInfo.command}\` (${sig.kamailioInfo.processes} processes: main, ${sig.kamailioInfo.children} UDP worker, timers; CPU summed over all of them).`);
  lines.push('- How each figure is measured: [README.md](README.md).', '');
  lines.push('## Summary', '');
  lines.push(table(['figure', 'sipflow', 'baseline', 'ratio', 'target', 'met?'], [...summaryRows(sig, media), ...soakRows(soak), ...propagationRows(prop)]), '');

  lines.push('## Signalling (issue #3): sipp, authenticated call, hold ' + `${sig.holdMs} ms, ${sig.stepSeconds} s per step`, '');
  lines.push(`Answer XML: \`${sig.answerXml}\`. Baseline: sipp UAS (\`sipp/uas-auth.xml\`) sending the same responses. ${sig.kamailio?.length ? 'Reference: Kamailio (\`kamailio/kamailio.cfg\`) challenging, verifying the digest and answering statefully, on the same core. All three behind' : 'Both behind'} the same challenge-filter proxy. A ladder stops at its first failing step.`, '');
  const sigRows = [...sig.sipflow, ...sig.baseline, ...(sig.kamailio ?? []), ...(sig.profileStep ? [sig.profileStep] : [])].map((r) => [
    r.label + contended(r), r.offeredCps, `${r.successful}/${r.calls}`, r.failed, r.retransmissions, fmt(r.achievedCps, 1), `${fmt(r.sutCpuPct)}%`, fmt(r.sutCpuMsPerCall, 2), `${fmt(r.loadCorePct)}%`, `${fmt(r.backgroundCpuPct)}%`,
  ]);
  lines.push(table(['server', 'offered cps', 'ok', 'failed', 'retrans', 'achieved cps', 'server CPU', 'CPU ms/call', 'load core', 'others'], sigRows), '');

  const perStep = (media.windows ?? 1) > 1 ? `${media.windows} windows of ${media.windowSeconds} s per step` : `${media.windowSeconds} s window per step`;
  lines.push(`## Media (issue #4): bidirectional <Stream> echo, ${perStep}`, '');
  lines.push('Baseline: `baseline-relay.mjs` (RTP → media JSON → WebSocket, playAudio → RTP; no jitter buffer, no pacing) on the same core at the same N, measured back to back with sipflow at every step (the order alternates), each on N fresh calls.', '');
  // A step of several windows shows the windows' median with their range; a lost frame in any
  // window fails the step.
  const span = (v, r, digits, unit = '') => `${fmt(v, digits)}${unit}${r && r[0] !== r[1] ? ` (${fmt(r[0], digits)}–${fmt(r[1], digits)})` : ''}`;
  const held = (r) => (r.windows ? `${r.windowsLossless}/${r.windows.length}` : (r.lossless ? '1/1' : '0/1'));
  const mediaRows = [...media.sipflow, ...media.baseline, ...(media.profileRun ?? []).map((r) => ({ ...r, label: 'sipflow-profiled' }))].map((r) => [
    r.label + contended(r) + loadLimited(r), r.calls, held(r), r.framesSent, r.framesAtAgent, r.framesBack, r.lostToAgent + r.lostBack + (r.setupFailed ? ` (+${r.setupFailed} setups failed)` : ''),
    span(r.latencyMs.p50, r.p50RangeMs, 2), span(r.latencyMs.p99, r.p99RangeMs, 2), fmt(r.latencyMs.max, 1), span(r.sutCpuPct, r.sutCpuRangePct, 0, '%'), `${fmt(r.loadCorePct)}%`, `${fmt(r.backgroundCpuPct)}%`,
    r.sutStealPct === undefined ? 'n/a' : `${fmt(r.sutStealPct, 1)}%`,
    r.scavenges ? `${fmt(r.scavenges.perSec, 1)}/s, ${fmt(r.scavenges.meanMs, 2)} ms, ≤ ${r.scavenges.maxLeMs} ms` : '',
  ]);
  lines.push(table(['server', 'N', 'windows lossless', 'frames sent', 'at agent', 'back at caller', 'lost', 'p50 ms', 'p99 ms', 'max ms', 'server CPU', 'load core', 'others', 'steal', 'scavenges'], mediaRows), '');
  lines.push('"server CPU": the server process; "load core": the callers, the echo agent and the orchestrator; "others": every other process on the machine. All three from /proc/PID/stat, the scheduler\'s exact run time (per-core /proc/stat counters are sampled at the timer tick, which the callers\' 1 ms timer lines up with).', '');
  lines.push('"scavenges" (the pod only, from its `sipflow_media_nodejs_gc_duration_seconds{kind="minor"}`): how many per second, their mean pause, and the bucket bound the longest fits under, medians of the windows except the longest (their maximum). Every frame that arrives during a pause waits for it.', '');
  lines.push('"steal": time the hypervisor gave the server\'s core to other guests while it had work (/proc/stat), worst window of the step. After a stall of more than 100 ms the pod\'s pacer skips the missed ticks (a gap; queued audio resumes after it, up to 1 s late), and steal comes in bursts of tens of milliseconds.', '');
  if ((media.windows ?? 1) > 1) lines.push('Each step is measured in back-to-back windows on the same calls: latency and CPU are the median of the windows with their range in brackets, frame counts are summed, and a frame lost in any window fails the step. "Load core" is the median; ⊘ marks a step where any window exceeded the limit below.', '');
  if ([...media.sipflow, ...media.baseline].some((r) => loadLimited(r))) {
    lines.push(`⊘: the load core (callers and echo agent) was over ${LOAD_SATURATED_PCT}% busy, so losses and latency in that step may be the load generator's, not the server's.`, '');
  }
  if (media.setup.some((s) => s.failed > 0)) lines.push(`Call setups that failed: ${JSON.stringify(media.setup.filter((s) => s.failed > 0))}`, '');

  if (soak) {
    lines.push(`## Soak: calls end without leaving anything behind`, '');
    lines.push(`\`node bench/soak.mjs --rounds ${soak.rounds} --calls ${soak.callsPerRound} --hold-seconds ${soak.holdSeconds} --quiet-seconds ${soak.quietSeconds}\` (pod on core 1, callers and agent on core 0; heap read through the inspector after full collections). How it works: README.md, section "Soak".`, '');
    lines.push(renderSoak(soak), '');
  }

  lines.push('## Propagation (issue #5)', '');
  if (!prop || prop.skipped) {
    lines.push(`Not measured in this run: ${prop?.skipped ?? 'no result'}.`, '');
  } else {
    lines.push(`\`node bench/propagation.mjs --no-write --iterations ${prop.iterations}\` (${prop.seconds ?? '?'} s), started by run.mjs; rows above. Full breakdown: [RESULTS-operator.md](RESULTS-operator.md) and README.md, section "Operator".`, '');
    for (const n of prop.notes ?? []) lines.push(`- ${n}`);
    lines.push('');
  }

  for (const [name, prof] of [['signalling', sig.profile], ['media', media.profile]]) {
    if (!prof) continue;
    lines.push(`## Profile: ${name} (target missed)`, '');
    lines.push(`\`node --cpu-prof\` of the media pod during ${name === 'signalling' ? `a ${prof.rate} cps step` : 'the measurement window'}; file kept in bench/${prof.file}. Self time is time in the function itself; inclusive adds its callees.`, '');
    lines.push(profileMarkdown(prof, 'samples in the step'), '');
  }
  return lines.join('\n') + '\n';
}

if (renderArg >= 0) {
  const saved = JSON.parse(fs.readFileSync(argv[renderArg + 1], 'utf8'));
  command = saved.command;
  const md = render({ ...saved, started: new Date(saved.started), finished: new Date(saved.finished) });
  if (!noWrite) fs.writeFileSync(path.join(BENCH_DIR, 'RESULTS.md'), md);
  process.stdout.write(md);
  process.exit(0);
}

const started = new Date();
const machine = machineInfo();
if (machine.nproc < 2) { process.stderr.write('the benchmarks need two cores\n'); process.exit(2); }
const loadavg = os.loadavg();
const source = sourceState();
const quietLoad = await waitForQuiet();
fs.mkdirSync(outDir, { recursive: true });
const kamailio = withKamailio ? 'auto' : 'never';
const sig = await runSignallingBench(quick ? { rates: [100, 200, 300], stepSeconds: 4, kamailio, outDir } : { kamailio, outDir });
const media = await runMediaBenchProfiled(quick ? { steps: [50, 100], windowSeconds: 3, windows: 1, outDir } : { outDir });
const soak = withSoak ? await runSoak(quick ? { rounds: 3, calls: 50, holdSeconds: 1, quietSeconds: 34, outDir } : { outDir }) : undefined;
const prop = await runPropagation(quick ? { iterations: 5, timeoutMs: 180_000 } : { iterations: 20, timeoutMs: 300_000 });
const finished = new Date();
fs.writeFileSync(path.join(outDir, 'results.json'), JSON.stringify({ command, machine, started, finished, quietLoad, loadavg, source, sig, media, soak, prop }, null, 2));
const md = render({ sig, media, soak, prop, machine, started, finished, quietLoad, loadavg, source });
if (!noWrite) fs.writeFileSync(path.join(BENCH_DIR, 'RESULTS.md'), md);
process.stdout.write(md);
