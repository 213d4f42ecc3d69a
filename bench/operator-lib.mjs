// Shared plumbing of the operator benchmarks (issue #5, propagation.mjs and scale.mjs): a throw-away
// control plane with the CRDs installed, the operator and media pods as child processes with their
// logs in files, process memory from /proc, a minimal UDP INVITE probe, percentiles, and the
// writer of bench/RESULTS-operator.md (which both scripts regenerate from bench/out/operator-*.json).
import { spawn } from 'node:child_process';
import dgram from 'node:dgram';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const BENCH_DIR = path.dirname(fileURLToPath(import.meta.url));
export const REPO_DIR = path.resolve(BENCH_DIR, '..');
export const OUT_DIR = path.join(BENCH_DIR, 'out');
export const OPERATOR_BIN = path.join(REPO_DIR, 'operator', 'bin', 'sipflow-operator.js');
export const MEDIA_BIN = path.join(REPO_DIR, 'media-pod', 'bin', 'sipflow-media.js');
export const RESULTS_FILE = path.join(BENCH_DIR, 'RESULTS-operator.md');
export const OUTPUT_NAMESPACE = 'sipflow-system';

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** Exits with a hint when the compiled code the benchmarks import is missing. */
export function requireDist() {
  for (const f of ['operator/dist/render/index.js', 'media-pod/dist/sip/message/index.js', 'media-pod/dist/node-flags.js', 'test/dist/support/control-plane.js']) {
    if (!fs.existsSync(path.join(REPO_DIR, f))) {
      process.stderr.write(`${f} is missing: run \`npx tsc -b\` first\n`);
      process.exit(2);
    }
  }
  fs.mkdirSync(OUT_DIR, { recursive: true });
}

/** Nearest-rank percentile (0-100); NaN for no values. */
export function percentile(values, p) {
  if (values.length === 0) return NaN;
  const sorted = Float64Array.from(values).sort();
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank];
}

export function summarize(values) {
  return { n: values.length, p50: percentile(values, 50), p90: percentile(values, 90), p99: percentile(values, 99), min: percentile(values, 0), max: percentile(values, 100) };
}

export const fmt = (v, digits = 0) => (Number.isFinite(v) ? v.toFixed(digits) : 'n/a');

export function machineInfo() {
  const cpuinfo = fs.readFileSync('/proc/cpuinfo', 'utf8');
  const model = /^model name\s*:\s*(.*)$/m.exec(cpuinfo)?.[1]?.trim() ?? 'unknown';
  return { nproc: os.availableParallelism(), cpuModel: model, node: process.version, kernel: os.release(), memGiB: Math.round(os.totalmem() / 2 ** 30), loadavg: os.loadavg().map((l) => Number(l.toFixed(2))) };
}

/** Current and peak resident memory of a process in bytes (VmRSS, VmHWM); NaN once it is gone. */
export function memoryOf(pid) {
  try {
    const s = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
    const kib = (k) => Number(new RegExp(`^${k}:\\s*(\\d+) kB`, 'm').exec(s)?.[1] ?? NaN) * 1024;
    return { rss: kib('VmRSS'), hwm: kib('VmHWM') };
  } catch {
    return { rss: NaN, hwm: NaN };
  }
}

/** User+system CPU seconds a process has used (all threads). */
export function cpuSecondsOf(pid) {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(f[11]) + Number(f[12])) / 100;
  } catch {
    return NaN;
  }
}

/** A port free for both UDP and TCP on 127.0.0.1 right now (the media pod binds both). */
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

/** Polls `check` every `intervalMs` until it returns something other than undefined; throws after `timeoutMs`. */
export async function pollUntil(what, check, { timeoutMs = 60_000, intervalMs = 100 } = {}) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await check();
    if (v !== undefined) return v;
    if (Date.now() >= deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(intervalMs);
  }
}

/**
 * A throw-away control plane (test/dist/support/control-plane.js) with crds/ installed as shipped
 * and the given namespaces created. Stopped by its own watchdog if this process dies.
 */
export async function startCluster(namespaces) {
  const { startControlPlane } = await import(path.join(REPO_DIR, 'test', 'dist', 'support', 'control-plane.js'));
  const cp = await startControlPlane();
  const ok = async (args, input) => {
    const r = await cp.kubectl(args, { input, timeoutMs: 120_000 });
    if (r.code !== 0) throw new Error(`kubectl ${args.join(' ')} failed: ${r.stderr.slice(-2000)}`);
    return r.stdout;
  };
  try {
    await ok(['apply', '-f', path.join(REPO_DIR, 'crds')]);
    await ok(['wait', '--for', 'condition=Established', 'crd', '--all', '--timeout=60s']);
    for (const ns of namespaces) await ok(['create', 'namespace', ns]);
  } catch (e) {
    await cp.stop();
    throw e;
  }
  return { cp, kubectlOk: ok };
}

/**
 * A child process whose stdout+stderr go to `logFile`; `waitForOutput(re)` resolves with the first
 * match in its output (only a bounded tail is kept while waiting).
 */
export function spawnLogged(cmd, args, { logFile, env = {} }) {
  const log = fs.createWriteStream(logFile, { flags: 'a' });
  const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
  let tail = '';
  const waiters = [];
  const feed = (b) => {
    log.write(b);
    if (waiters.length === 0) return;
    tail = (tail + b.toString('utf8')).slice(-64 * 1024);
    for (let i = waiters.length - 1; i >= 0; i--) {
      const m = waiters[i].re.exec(tail);
      if (m) { waiters[i].resolve(m); waiters.splice(i, 1); }
    }
  };
  child.stdout.on('data', feed);
  child.stderr.on('data', feed);
  const exited = new Promise((resolve) => child.on('exit', (code, signal) => { log.end(); resolve(code ?? signal); }));
  return {
    child,
    pid: child.pid,
    exited,
    waitForOutput(re, timeoutMs = 30_000) {
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`${path.basename(args[0] ?? cmd)}: no output matching ${re} within ${timeoutMs} ms; see ${logFile}`)), timeoutMs);
        const w = { re, resolve: (m) => { clearTimeout(timer); resolve(m); } };
        waiters.push(w);
        exited.then((c) => { clearTimeout(timer); reject(new Error(`${path.basename(args[0] ?? cmd)} exited (${c}); see ${logFile}`)); });
      });
    },
    async stop(signal = 'SIGTERM', graceMs = 20_000) {
      if (child.exitCode !== null || child.signalCode !== null) return exited;
      child.kill(signal);
      const killer = setTimeout(() => child.kill('SIGKILL'), graceMs);
      const code = await exited;
      clearTimeout(killer);
      return code;
    },
  };
}

/** `sipflow-operator run` as a child process; resolves once its probe server listens. */
export async function startOperatorProcess({ kubeconfig, sipDomain, logFile, nodeArgs = [], env = {}, cgroup }) {
  const args = [...nodeArgs, OPERATOR_BIN, 'run', '--kubeconfig', kubeconfig, '--namespace', OUTPUT_NAMESPACE,
    '--sip-domain', sipDomain, '--http-listen', '127.0.0.1:0', '--identity', 'bench'];
  // In a memory cgroup: the shell joins it, then execs Node (same PID), so Node sees the limit at
  // start-up and sizes its heap from it, as in a container.
  const proc = cgroup
    ? spawnLogged('/bin/sh', ['-c', 'echo $$ > "$1" && shift && exec "$@"', 'sh', cgroup.procsFile, process.execPath, ...args], { logFile, env })
    : spawnLogged(process.execPath, args, { logFile, env });
  const m = await proc.waitForOutput(/"msg":"starting".*?"http":"([^"]+)"/);
  return { ...proc, httpBase: `http://${m[1]}` };
}

/** One sample of a Prometheus text exposition; sums the series matching `labels` (a substring). */
export function metricValue(text, name, labels = '') {
  let sum = NaN;
  for (const line of text.split('\n')) {
    if (!line.startsWith(name)) continue;
    const rest = line.slice(name.length);
    if (rest[0] !== ' ' && rest[0] !== '{') continue;
    if (labels && !rest.includes(labels)) continue;
    const v = Number(line.slice(line.lastIndexOf(' ') + 1));
    sum = Number.isNaN(sum) ? v : sum + v;
  }
  return sum;
}

/**
 * `sipflow-media` as a child process on loopback: `--kube` (watching OUTPUT_NAMESPACE with
 * KUBECONFIG) or `--config-dir DIR`. Resolves once /healthz answers.
 */
export async function startMediaPodProcess({ source, kubeconfig, configDir, logFile, rtpPorts }) {
  const sipPort = await freePort();
  const httpPort = await freePort();
  const srcArgs = source === 'kube' ? ['--kube', '--kube-namespace', OUTPUT_NAMESPACE] : ['--config-dir', configDir];
  const { MEDIA_POD_NODE_ARGS } = await import(path.join(REPO_DIR, 'media-pod', 'dist', 'node-flags.js'));
  const proc = spawnLogged(process.execPath, [...MEDIA_POD_NODE_ARGS, MEDIA_BIN, ...srcArgs, '--sip-listen', `127.0.0.1:${sipPort}`, '--http-listen', `127.0.0.1:${httpPort}`,
    '--rtp-ports', rtpPorts, '--sip-domain', 'sip.bench', '--media-timeout', '30'],
  { logFile, env: source === 'kube' ? { KUBECONFIG: kubeconfig } : {} });
  await Promise.race([
    pollUntil(`media pod (${source}) /healthz`, async () => {
      try { return (await fetch(`http://127.0.0.1:${httpPort}/healthz`)).status === 200 ? true : undefined; } catch { return undefined; }
    }, { timeoutMs: 30_000 }),
    proc.exited.then((c) => { throw new Error(`media pod (${source}) exited (${c}); see ${logFile}`); }),
  ]);
  return { ...proc, sipPort, httpBase: `http://127.0.0.1:${httpPort}` };
}

/** An answer URL server that hangs every call up (the probe cancels at 180 anyway). */
export async function startHangupAnswerServer() {
  const server = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      res.writeHead(200, { 'content-type': 'application/xml' });
      res.end('<?xml version="1.0" encoding="UTF-8"?><Response><Hangup/></Response>');
    });
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${server.address().port}`, close: () => new Promise((r) => { server.closeAllConnections?.(); server.close(() => r()); }) };
}

const SDP = (port) => [
  'v=0', `o=probe 1 1 IN IP4 127.0.0.1`, 's=probe', 'c=IN IP4 127.0.0.1', 't=0 0',
  `m=audio ${port} RTP/AVP 0 101`, 'a=rtpmap:0 PCMU/8000', 'a=rtpmap:101 telephone-event/8000', 'a=sendrecv', '',
].join('\r\n');

/**
 * A minimal UDP UAC that asks "is this appId served yet?": it sends a fresh INVITE (with an SDP
 * offer) every `intervalMs` until one is accepted — the pod answers 180 Ringing only after routing
 * and the IP ACL passed — then CANCELs it. Every non-2xx final response is ACKed, so the pod stops
 * retransmitting. Built on the pod's own SIP message code (media-pod/dist/sip/message).
 */
export class InviteProbe {
  static async open() {
    const sip = await import(path.join(REPO_DIR, 'media-pod', 'dist', 'sip', 'message', 'index.js'));
    const socket = dgram.createSocket('udp4');
    await new Promise((resolve) => socket.bind(0, '127.0.0.1', resolve));
    return new InviteProbe(sip, socket);
  }

  constructor(sip, socket) {
    this.sip = sip;
    this.socket = socket;
    this.port = socket.address().port;
    /** Call-ID → { invite, target, appId, sentAt, onAccepted, done } — pruned when final. */
    this.calls = new Map();
    socket.on('message', (buf, rinfo) => this.onMessage(buf, rinfo));
  }

  send(msg, target) {
    this.socket.send(this.sip.serializeMessage(msg), target.port, target.host);
  }

  sendInvite(target, appId, onResponse) {
    const { createRequest, generateBranch, generateCallId, generateTag } = this.sip;
    const callId = generateCallId();
    const invite = createRequest({
      method: 'INVITE', uri: `sip:${appId}@${target.host}:${target.port}`,
      headers: [
        ['Via', `SIP/2.0/UDP 127.0.0.1:${this.port};branch=${generateBranch()};rport`],
        ['Max-Forwards', '70'],
        ['From', `<sip:probe@127.0.0.1>;tag=${generateTag()}`],
        ['To', `<sip:${appId}@sip.bench>`],
        ['Call-ID', callId],
        ['CSeq', '1 INVITE'],
        ['Contact', `<sip:probe@127.0.0.1:${this.port}>`],
      ],
      body: SDP(this.port + 1), contentType: 'application/sdp',
    });
    if (this.calls.size > 5000) this.calls.delete(this.calls.keys().next().value);
    this.calls.set(callId, { invite, target, onResponse });
    this.send(invite, target);
  }

  /** A request built from the INVITE's dialog identifiers (CANCEL/ACK share its Via branch). */
  inDialog(call, method, toHeader) {
    const { createRequest, getHeader } = this.sip;
    return createRequest({
      method, uri: call.invite.uri,
      headers: [
        ['Via', getHeader(call.invite, 'Via')], ['Max-Forwards', '70'], ['From', getHeader(call.invite, 'From')], ['To', toHeader],
        ['Call-ID', getHeader(call.invite, 'Call-ID')], ['CSeq', `1 ${method}`],
      ],
    });
  }

  onMessage(buf, rinfo) {
    const { getHeader, parseCSeq, parseSipMessage, createResponse } = this.sip;
    const parsed = parseSipMessage(buf);
    if (!parsed.ok) return;
    const msg = parsed.message;
    if (msg.kind === 'request') {
      // A BYE after an unexpected answer, or anything else: say OK, the probe keeps no dialogs.
      if (msg.method !== 'ACK') this.socket.send(this.sip.serializeMessage(createResponse(msg, 200, 'OK')), rinfo.port, rinfo.address);
      return;
    }
    const call = this.calls.get(getHeader(msg, 'Call-ID') ?? '');
    if (!call || parseCSeq(getHeader(msg, 'CSeq') ?? '')?.method !== 'INVITE') return;
    const to = getHeader(msg, 'To') ?? '';
    if (msg.status >= 300) {
      this.send(this.inDialog(call, 'ACK', to), call.target);
    } else if (msg.status >= 200 && !call.final) {
      // Answered before our CANCEL arrived: ACK and hang up (no Route set on loopback).
      this.send(this.inDialog(call, 'ACK', to), call.target);
      const bye = this.inDialog(call, 'BYE', to);
      bye.headers.find((h) => h.name === 'Via').value = `SIP/2.0/UDP 127.0.0.1:${this.port};branch=${this.sip.generateBranch()};rport`;
      bye.headers.find((h) => h.name === 'CSeq').value = '2 BYE';
      this.send(bye, call.target);
    }
    if (msg.status >= 180 && msg.status < 200 && !call.cancelled) {
      // The probe never wants the call itself: cancel every one that got this far.
      call.cancelled = true;
      this.send(this.inDialog(call, 'CANCEL', getHeader(call.invite, 'To')), call.target);
    }
    if (msg.status >= 200) call.final = true;
    if (msg.status > 100) call.onResponse?.(msg.status);
  }

  /**
   * Probes `appId` every `intervalMs` until a response other than 100/404 arrives that means
   * accepted (180/183/2xx). Resolves `{ acceptedAt, invites, statuses }`; rejects after `timeoutMs`.
   */
  untilAccepted(target, appId, { intervalMs = 20, timeoutMs = 30_000 } = {}) {
    return new Promise((resolve, reject) => {
      const statuses = {};
      let invites = 0;
      let done = false;
      const finish = (err, v) => {
        if (done) return;
        done = true;
        clearInterval(timer);
        clearTimeout(deadline);
        if (err) reject(err); else resolve(v);
      };
      const onResponse = (status) => {
        if (done) return;
        const at = performance.now();
        statuses[status] = (statuses[status] ?? 0) + 1;
        if (status >= 180 && status < 300) finish(undefined, { acceptedAt: at, invites, statuses });
      };
      const tick = () => { invites++; this.sendInvite(target, appId, onResponse); };
      const timer = setInterval(tick, intervalMs);
      const deadline = setTimeout(() => finish(new Error(`${appId} not accepted within ${timeoutMs} ms (responses: ${JSON.stringify(statuses)})`)), timeoutMs);
      tick();
    });
  }

  close() { this.socket.close(); }
}

/** Writes RESULTS-operator.md from whichever of bench/out/operator-{propagation,scale}.json exist. */
export function writeResultsFile() {
  const read = (name) => {
    try { return JSON.parse(fs.readFileSync(path.join(OUT_DIR, `operator-${name}.json`), 'utf8')); } catch { return undefined; }
  };
  const prop = read('propagation');
  const scale = read('scale');
  const rows = [...(prop?.rows ?? []), ...(scale?.rows ?? [])];
  const lines = [
    '# Operator benchmark results (issue #5)',
    '',
    'Generated by `bench/propagation.mjs` and `bench/scale.mjs` (see bench/README.md, section "Operator").',
    'Every baseline was measured in the same run as the figure next to it.',
    '',
    '| figure | sipflow | baseline | ratio | target | met? |',
    '|---|---|---|---|---|---|',
    ...rows.map((r) => `| ${r.join(' | ')} |`),
    '',
  ];
  for (const [title, r] of [['Propagation', prop], ['Scale', scale]]) {
    if (!r) continue;
    lines.push(`## ${title}`, '', `* date: ${r.date}`, `* machine: ${r.machine.cpuModel}, ${r.machine.nproc} CPUs, ${r.machine.memGiB} GiB, Linux ${r.machine.kernel}, Node ${r.machine.node}; load average at start ${r.machine.loadavg.join(' / ')}`,
      `* command: \`${r.command}\``, '', (r.notes ?? []).filter((n) => n !== '').join('\n\n'), '');
  }
  fs.writeFileSync(RESULTS_FILE, lines.join('\n'));
}

/**
 * A memory cgroup with a hard limit, as the kubelet gives a container with `resources.limits.memory`
 * (cgroup v2 if the memory controller is there, else v1). Needs root; null when unavailable.
 * `peakBytes` is the cgroup's own high-water mark (anonymous memory and page cache charged to it).
 */
export function createMemoryCgroup(limitMiB) {
  const name = `sipflow-bench-${process.pid}-${Date.now()}`;
  const limit = String(limitMiB * 1024 * 1024);
  const candidates = [
    { root: '/sys/fs/cgroup', v2: true }, { root: '/sys/fs/cgroup/unified', v2: true }, { root: '/sys/fs/cgroup/memory', v2: false },
  ];
  for (const c of candidates) {
    try {
      if (c.v2 && !fs.readFileSync(path.join(c.root, 'cgroup.controllers'), 'utf8').split(/\s+/).includes('memory')) continue;
      if (!c.v2 && !fs.existsSync(path.join(c.root, 'memory.limit_in_bytes'))) continue;
      const dir = path.join(c.root, name);
      fs.mkdirSync(dir);
      fs.writeFileSync(path.join(dir, c.v2 ? 'memory.max' : 'memory.limit_in_bytes'), limit);
      const read = (f) => { try { return fs.readFileSync(path.join(dir, f), 'utf8'); } catch { return ''; } };
      return {
        dir, limitMiB, version: c.v2 ? 2 : 1, procsFile: path.join(dir, 'cgroup.procs'),
        peakBytes: () => Number(read(c.v2 ? 'memory.peak' : 'memory.max_usage_in_bytes').trim()) || NaN,
        oomKills: () => Number(/oom_kill (\d+)/.exec(read(c.v2 ? 'memory.events' : 'memory.oom_control'))?.[1] ?? 0),
        remove: () => { try { fs.rmdirSync(dir); } catch { /* still has a process; left for the OS */ } },
      };
    } catch { /* not writable here: try the next layout */ }
  }
  return null;
}
