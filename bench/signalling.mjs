#!/usr/bin/env node
// Signalling benchmark (issue #3): authenticated call setup and teardown driven by sipp
// (INVITE, 407, ACK, INVITE with digest, 100/180/200, ACK, hold, BYE, 200) at increasing call
// rates, against the media pod pinned to one core, then against a sipp UAS sending the same
// messages on the same core (the baseline, measured in the same run), then against Kamailio
// doing the same digest check and answering statefully on the same core (the reference for
// signalling capacity; bench/kamailio/). sipp and the challenge-filter proxy run on the other core.
//
// usage: node bench/signalling.mjs [--rates 100,200,300] [--step-seconds 10] [--hold-ms 100]
//                                  [--profile auto|always|never] [--kamailio auto|never] [--out DIR]
// Prints the result as JSON on stdout; run.mjs turns it into RESULTS.md.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startAnswerServer } from './lib/answer-server.mjs';
import {
  BENCH_DIR, LOAD_CORE, SUT_CORE, coreBusySeconds, cpuSeconds, freePort, pinSelf, pinned, sleep, startPod, treeCpuSeconds,
} from './lib/common.mjs';
import { KAMAILIO_CHILDREN, kamailioVersion, startKamailio } from './kamailio/kamailio.mjs';
import { summarizeProfile } from './lib/cpuprofile-top.mjs';
import { monoUs } from './lib/stamp.mjs';
import { spawn } from 'node:child_process';

export const SIGNALLING_TARGET_CPS = 300;
const USER = 'bench';
const PASSWORD = 'Bench-Signalling-Passw0rd';
/** Answers at once (GetDigits answers the call), sends no audio, and holds until the caller's BYE. */
const ANSWER_XML = '<Response><GetDigits timeout="60" numDigits="1" retries="1"/></Response>';

function manifests(answerUrl) {
  return `apiVersion: v1
kind: Secret
metadata: { name: bench-sip, namespace: default }
type: Opaque
stringData: { password: ${PASSWORD} }
---
apiVersion: sipflow.io/v1alpha1
kind: SipCredential
metadata: { name: bench, namespace: default }
spec:
  username: ${USER}
  passwordSecretRef: { name: bench-sip, key: password }
---
apiVersion: sipflow.io/v1alpha1
kind: SipApplication
metadata: { name: bench, namespace: default }
spec:
  appId: bench
  answerUrl: ${answerUrl}/answer
  hangupUrl: ${answerUrl}/hangup
  sipAuth:
    type: Credential
    credentialRefs: [{ name: bench }]
`;
}

/** sipp's ElapsedTime(C) is HH:MM:SS:uuuuuu. */
function elapsedSeconds(text) {
  const m = /^(\d+):(\d+):(\d+):(\d+)$/.exec(text ?? '');
  return m ? Number(m[1]) * 3600 + Number(m[2]) * 60 + Number(m[3]) + Number(m[4]) / 1e6 : NaN;
}

function lastCsvRow(file) {
  let rows;
  try { rows = fs.readFileSync(file, 'utf8').trim().split('\n'); } catch { return {}; }
  if (rows.length < 2) return {};
  const head = rows[0].split(';');
  const last = rows[rows.length - 1].split(';');
  return Object.fromEntries(head.map((h, i) => [h, last[i] ?? '']));
}

/** Starts a process under taskset that prints a JSON ready line; resolves once it did. */
function startFilter(listenPort, targetPort, logFile) {
  const out = fs.openSync(logFile, 'a');
  const child = spawn(...pinned(LOAD_CORE, process.execPath, [path.join(BENCH_DIR, 'lib', 'challenge-filter.mjs'),
    '--listen', `127.0.0.1:${listenPort}`, '--target', `127.0.0.1:${targetPort}`, '--max-seconds', '900']), { stdio: ['ignore', 'pipe', out] });
  fs.closeSync(out);
  return new Promise((resolve, reject) => {
    let buf = '';
    child.stdout.on('data', (d) => {
      buf += d;
      if (buf.includes('"ready"')) resolve({
        pid: child.pid,
        port: listenPort,
        stop: () => new Promise((r) => { child.once('exit', r); child.kill('SIGTERM'); }),
      });
    });
    child.on('exit', (code) => reject(new Error(`challenge filter exited (${code})`)));
  });
}

/** Runs a command to its end, sampling its CPU time while it lives (it cannot be read after exit). */
/** The pod's idle silence would be RTP no reference sends (Kamailio and the sipp UAS do no media). */
const QUIET_MEDIA = ['--rtp-send-silence=false'];

function runPolled(cmd, args, timeoutMs, cwd) {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { stdio: 'ignore', cwd });
    let cpu = 0;
    const poll = setInterval(() => { const c = cpuSeconds(child.pid); if (Number.isFinite(c)) cpu = c; }, 250);
    const killer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('exit', (code, signal) => {
      clearInterval(poll);
      clearTimeout(killer);
      resolve({ code: code ?? (signal ? 128 : 1), cpu });
    });
  });
}

/** One sipp UAC run at `rate` for `seconds`; the server under test is `sutPid` and its children (for CPU). */
async function runStep({ rate, seconds, holdMs, filterPort, filterPid, sutPid, workDir, label }) {
  const total = Math.round(rate * seconds);
  const stf = path.join(workDir, `${label}-${rate}.csv`);
  const errFile = path.join(workDir, `${label}-${rate}-errors.log`);
  const args = ['-sf', path.join(BENCH_DIR, 'sipp', 'uac-auth.xml'),
    '-s', 'bench', '-au', USER, '-ap', PASSWORD, '-auth_uri', `bench@127.0.0.1:${filterPort}`,
    '-m', String(total), '-r', String(rate), '-l', String(Math.max(200, rate * 4)), '-d', String(holdMs),
    '-i', '127.0.0.1', '-p', '0', '-nostdin', '-recv_timeout', '5000', '-timeout', `${seconds + 40}s`,
    '-trace_stat', '-stf', stf, '-fd', '1', '-trace_err', '-error_file', errFile,
    `127.0.0.1:${filterPort}`];
  const cpu0 = treeCpuSeconds(sutPid);
  const filterCpu0 = cpuSeconds(filterPid);
  const self0 = process.cpuUsage();
  const load0 = coreBusySeconds(LOAD_CORE);
  const all0 = coreBusySeconds(LOAD_CORE) + coreBusySeconds(SUT_CORE);
  const t0 = performance.now();
  const fromUs = monoUs();
  const res = await runPolled(...pinned(LOAD_CORE, 'sipp', args), (seconds + 60) * 1000, workDir);
  const wall = (performance.now() - t0) / 1000;
  const toUs = monoUs();
  const cpu = treeCpuSeconds(sutPid) - cpu0;
  const loadCpu = coreBusySeconds(LOAD_CORE) - load0;
  const allCpu = coreBusySeconds(LOAD_CORE) + coreBusySeconds(SUT_CORE) - all0;
  const selfUse = process.cpuUsage(self0);
  const ours = cpu + res.cpu + (cpuSeconds(filterPid) - filterCpu0) + (selfUse.user + selfUse.system) / 1e6;
  const s = lastCsvRow(stf);
  const successful = Number(s['SuccessfulCall(C)'] ?? 0);
  const failed = Number(s['FailedCall(C)'] ?? 0) + Math.max(0, total - successful - Number(s['FailedCall(C)'] ?? 0));
  const elapsed = elapsedSeconds(s['ElapsedTime(C)']) || wall;
  const row = {
    label, offeredCps: rate, calls: total, successful, failed,
    retransmissions: Number(s['Retransmissions(C)'] ?? 0),
    achievedCps: successful / elapsed,
    sutCpuPct: (100 * cpu) / wall,
    sutCpuMsPerCall: successful > 0 ? (1000 * cpu) / successful : NaN,
    loadCorePct: (100 * loadCpu) / wall,
    sippCpuPct: (100 * res.cpu) / wall,
    /** CPU used on the two cores by processes that are not part of this benchmark. */
    backgroundCpuPct: Math.max(0, (100 * (allCpu - ours)) / wall),
    sippExit: res.code,
    fromUs, toUs,
  };
  process.stderr.write(`[signalling] ${label} ${rate} cps: ${successful}/${total} ok, ${failed} failed, ` +
    `${row.retransmissions} retrans, ${row.achievedCps.toFixed(1)} cps achieved, SUT CPU ${row.sutCpuPct.toFixed(0)}%, ` +
    `load core ${row.loadCorePct.toFixed(0)}%, background ${row.backgroundCpuPct.toFixed(0)}%\n`);
  return row;
}

async function ladder({ label, rates, seconds, holdMs, filterPort, filterPid, sutPid, workDir }) {
  const rows = [];
  for (const rate of rates) {
    const row = await runStep({ rate, seconds, holdMs, filterPort, filterPid, sutPid, workDir, label });
    rows.push(row);
    if (row.failed > 0) break; // higher rates only fail harder; keep the run short
    await sleep(1500);
  }
  return rows;
}

const maxPassing = (rows) => rows.filter((r) => r.failed === 0 && r.successful === r.calls).reduce((best, r) => (best && best.offeredCps >= r.offeredCps ? best : r), undefined);

export async function runSignallingBench(o = {}) {
  const rates = o.rates ?? [100, 150, 200, 250, 300, 400, 500];
  const seconds = o.stepSeconds ?? 10;
  const holdMs = o.holdMs ?? 100;
  const profileMode = o.profile ?? 'auto';
  const kamailioMode = o.kamailio ?? 'auto';
  const outDir = o.outDir ?? path.join(BENCH_DIR, 'out');
  fs.mkdirSync(outDir, { recursive: true });
  const workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'sipflow-bench-sig-'));
  await pinSelf(LOAD_CORE);

  const answer = await startAnswerServer(ANSWER_XML);
  const manifestsDir = path.join(workDir, 'manifests');
  fs.mkdirSync(manifestsDir);
  fs.writeFileSync(path.join(manifestsDir, 'bench.yaml'), manifests(answer.url));
  const podLog = path.join(outDir, 'signalling-pod.log');
  fs.rmSync(podLog, { force: true });

  const result = { rates, stepSeconds: seconds, holdMs, answerXml: ANSWER_XML, sipflow: [], baseline: [] };
  try {
    // --- sipflow
    const sipPort = await freePort();
    // Signalling only, like the references: no idle silence towards sipp, which plays no audio.
    const pod = await startPod({ manifestsDir, sipPort, httpPort: await freePort(), rtpPorts: '40000-49999', logFile: podLog, extraArgs: QUIET_MEDIA });
    const filter = await startFilter(await freePort(), sipPort, path.join(outDir, 'signalling-filter.log'));
    try {
      result.sipflow = await ladder({ label: 'sipflow', rates, seconds, holdMs, filterPort: filter.port, filterPid: filter.pid, sutPid: pod.pid, workDir });
    } finally {
      await filter.stop();
      await pod.stop();
    }
    result.answerServer = { ...answer.counts };

    // --- baseline: sipp UAS with the same messages, same core
    const uasPort = await freePort();
    const uas = spawn(...pinned(SUT_CORE, 'sipp', ['-sf', path.join(BENCH_DIR, 'sipp', 'uas-auth.xml'),
      '-i', '127.0.0.1', '-p', String(uasPort), '-nostdin', '-timeout', '600s', '-trace_err', '-error_file', path.join(workDir, 'uas-errors.log')]),
    { stdio: 'ignore', cwd: workDir });
    await sleep(500);
    const filter2 = await startFilter(await freePort(), uasPort, path.join(outDir, 'signalling-filter.log'));
    try {
      result.baseline = await ladder({ label: 'baseline', rates, seconds, holdMs, filterPort: filter2.port, filterPid: filter2.pid, sutPid: uas.pid, workDir });
    } finally {
      await filter2.stop();
      uas.kill('SIGTERM');
    }

    // --- reference: Kamailio, the same digest check and call flow, stateful, one worker, same core
    result.kamailio = [];
    const version = kamailioMode === 'never' ? undefined : kamailioVersion();
    if (version) {
      const kamPort = await freePort();
      const kamLog = path.join(outDir, 'signalling-kamailio.log');
      fs.rmSync(kamLog, { force: true });
      const kam = await startKamailio({ port: kamPort, logFile: kamLog });
      result.kamailioInfo = { version, children: KAMAILIO_CHILDREN, processes: kam.processes(), command: kam.command };
      const filter4 = await startFilter(await freePort(), kamPort, path.join(outDir, 'signalling-filter.log'));
      try {
        result.kamailio = await ladder({ label: 'kamailio', rates, seconds, holdMs, filterPort: filter4.port, filterPid: filter4.pid, sutPid: kam.pid, workDir });
      } finally {
        await filter4.stop();
        await kam.stop();
      }
      result.kamailioMax = maxPassing(result.kamailio)?.offeredCps ?? 0;
      result.kamailioCapped = result.kamailio.length === rates.length && result.kamailio.every((r) => r.failed === 0);
    } else {
      result.kamailioSkipped = kamailioMode === 'never' ? 'skipped (--kamailio never)' : 'kamailio is not installed (apt-get install kamailio)';
      process.stderr.write(`[signalling] Kamailio reference ${result.kamailioSkipped}\n`);
    }

    result.sipflowMax = maxPassing(result.sipflow)?.offeredCps ?? 0;
    result.baselineMax = maxPassing(result.baseline)?.offeredCps ?? 0;
    result.baselineCapped = result.baseline.length === rates.length && result.baseline.every((r) => r.failed === 0);
    result.targetCps = SIGNALLING_TARGET_CPS;
    result.met = result.sipflowMax >= SIGNALLING_TARGET_CPS;

    // --- profile when the target is missed (or asked for): one step at the target rate under --cpu-prof
    if (profileMode === 'always' || (profileMode === 'auto' && !result.met)) {
      const profDir = path.join(outDir, 'profile-signalling');
      fs.rmSync(profDir, { recursive: true, force: true });
      const sipPort2 = await freePort();
      const pod2 = await startPod({ manifestsDir, sipPort: sipPort2, httpPort: await freePort(), rtpPorts: '40000-49999', logFile: podLog, extraArgs: QUIET_MEDIA, nodeArgs: ['--cpu-prof', `--cpu-prof-dir=${profDir}`] });
      const filter3 = await startFilter(await freePort(), sipPort2, path.join(outDir, 'signalling-filter.log'));
      const profRate = Math.max(rates[0], result.sipflowMax || rates[0]);
      try {
        result.profileStep = await runStep({ rate: profRate, seconds, holdMs, filterPort: filter3.port, filterPid: filter3.pid, sutPid: pod2.pid, workDir, label: 'sipflow-profiled' });
      } finally {
        await filter3.stop();
        await pod2.stop();
      }
      const file = fs.readdirSync(profDir).find((f) => f.endsWith('.cpuprofile'));
      if (file) result.profile = { file: path.relative(BENCH_DIR, path.join(profDir, file)), rate: profRate, ...summarizeProfile(path.join(profDir, file), 20, result.profileStep) };
    }
  } finally {
    await answer.close();
    fs.rmSync(workDir, { recursive: true, force: true });
  }
  return result;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const args = new Map();
  for (let i = 2; i < process.argv.length; i += 2) args.set(process.argv[i].replace(/^--/, ''), process.argv[i + 1]);
  const result = await runSignallingBench({
    ...(args.has('rates') ? { rates: args.get('rates').split(',').map(Number) } : {}),
    ...(args.has('step-seconds') ? { stepSeconds: Number(args.get('step-seconds')) } : {}),
    ...(args.has('hold-ms') ? { holdMs: Number(args.get('hold-ms')) } : {}),
    ...(args.has('profile') ? { profile: args.get('profile') } : {}),
    ...(args.has('kamailio') ? { kamailio: args.get('kamailio') } : {}),
    ...(args.has('out') ? { outDir: path.resolve(args.get('out')) } : {}),
  });
  process.stdout.write(JSON.stringify(result, null, 2) + '\n');
}
