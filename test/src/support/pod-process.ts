/**
 * Runs a media pod as its own OS process (`node <MEDIA_POD_NODE_ARGS> media-pod/bin/sipflow-media.js`),
 * the way a container runs it, so tests can SIGTERM or SIGKILL it and watch it exit. Ports are learned from
 * the pod's "media pod started" log line; its JSON log lines are kept (bounded) for assertions.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import http from 'node:http';
import { join } from 'node:path';
import { MEDIA_POD_NODE_ARGS } from '@sipflow/media-pod/node-flags';
import { repoRoot } from './control-plane.js';

export interface PodProcessOptions {
  /** Label for messages, e.g. "pod-2". */
  name: string;
  /** Loopback address the pod listens on for SIP and RTP and advertises (127.0.0.X). */
  host: string;
  /** Config-source and other flags, e.g. ['--kube', '--kube-namespace', ns]. */
  args: string[];
  /** RTP port range; pods on different addresses may share one. */
  rtpPorts: { lo: number; hi: number };
  /** Added to this process's environment (e.g. KUBECONFIG). */
  env?: NodeJS.ProcessEnv;
  /** Bound on start-up (default 90 s: several pods and a control plane may start at once on busy cores). */
  startTimeoutMs?: number;
}

export interface PodExit { code: number | null; signal: NodeJS.Signals | null }

export type LogRecord = Record<string, unknown> & { msg?: string; level?: string };

export interface PodProcess {
  readonly name: string;
  readonly host: string;
  readonly pid: number;
  readonly sipPort: number;
  readonly httpPort: number;
  /** Parsed JSON log lines, oldest first (bounded). */
  readonly logs: LogRecord[];
  /** Resolves when the process has exited. */
  readonly exited: Promise<PodExit>;
  isRunning(): boolean;
  /** GET /readyz: status code and body. */
  readyz(): Promise<{ status: number; body: string }>;
  /** Sum of the samples of `name` whose labels include `labels` (0 when absent). */
  metric(name: string, labels?: Record<string, string>): Promise<number>;
  signal(sig: NodeJS.Signals): void;
  /** SIGINT (immediate stop), SIGKILL after a bounded wait; resolves once exited. */
  stop(): Promise<PodExit>;
}

const MAX_LOG_RECORDS = 20_000;
const MAX_STDERR = 64 * 1024;

export function mediaPodBin(): string { return join(repoRoot(), 'media-pod', 'bin', 'sipflow-media.js'); }

/** One bounded HTTP GET on loopback. */
export function httpGet(port: number, path: string, timeoutMs = 5000): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path, timeout: timeoutMs }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => { if (body.length < 4 << 20) body += d; });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`GET ${path} on :${port} timed out after ${timeoutMs} ms`)));
    req.on('error', reject);
  });
}

/** Sum of the Prometheus text samples of `name` whose labels include every pair in `labels`. */
export function sumMetric(text: string, name: string, labels: Record<string, string> = {}): number {
  let sum = 0;
  for (const line of text.split('\n')) {
    if (line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{([^}]*)\})?\s+(\S+)/.exec(line);
    if (!m || m[1] !== name) continue;
    const have = new Map<string, string>();
    for (const lm of (m[3] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) have.set(lm[1]!, lm[2]!);
    if (Object.entries(labels).every(([k, v]) => have.get(k) === v)) sum += Number(m[4]);
  }
  return sum;
}

export async function startPodProcess(o: PodProcessOptions): Promise<PodProcess> {
  const args = [
    ...MEDIA_POD_NODE_ARGS, mediaPodBin(), ...o.args,
    '--sip-listen', `${o.host}:0`, '--advertise', o.host, '--http-listen', '127.0.0.1:0',
    '--rtp-ports', `${o.rtpPorts.lo}-${o.rtpPorts.hi}`,
  ];
  const child: ChildProcess = spawn(process.execPath, args, {
    env: { ...process.env, SIPFLOW_LOG_LEVEL: 'info', ...o.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const logs: LogRecord[] = [];
  let stderr = '';
  let running = true;
  // A pod must not outlive the test: killed on this process's exit, and by a watchdog if this
  // process is SIGKILLed (a runner timeout), like the control plane's own watchdog.
  const onExit = (): void => { child.kill('SIGKILL'); };
  process.once('exit', onExit);
  const watchdog = spawn('bash', ['-c',
    'owner=$1 pod=$2 end=$((SECONDS + 10800)); while kill -0 "$owner" 2>/dev/null && kill -0 "$pod" 2>/dev/null && [ "$SECONDS" -lt "$end" ]; do sleep 1; done; if kill -0 "$pod" 2>/dev/null; then kill -9 "$pod"; fi; exit 0',
    'pod-watchdog', String(process.pid), String(child.pid)], { stdio: 'ignore', detached: true });
  watchdog.unref();
  const exited = new Promise<PodExit>((resolve) => {
    child.once('exit', (code, signal) => {
      running = false;
      process.removeListener('exit', onExit);
      watchdog.kill('SIGTERM');
      resolve({ code, signal });
    });
  });
  let started: ((r: LogRecord) => void) | undefined;
  let partial = '';
  child.stdout!.setEncoding('utf8');
  child.stdout!.on('data', (chunk: string) => {
    partial += chunk;
    const lines = partial.split('\n');
    partial = lines.pop() ?? '';
    if (partial.length > 1 << 20) partial = '';
    for (const line of lines) {
      if (process.env.SIPFLOW_TEST_LOGS) process.stderr.write(`[${o.name}] ${line}\n`);
      let rec: LogRecord;
      try { rec = JSON.parse(line) as LogRecord; } catch { continue; }
      logs.push(rec);
      if (logs.length > MAX_LOG_RECORDS) logs.splice(0, MAX_LOG_RECORDS / 4);
      if (rec.msg === 'media pod started') started?.(rec);
    }
  });
  child.stderr!.setEncoding('utf8');
  child.stderr!.on('data', (d: string) => { stderr = (stderr + d).slice(-MAX_STDERR); });

  const timeoutMs = o.startTimeoutMs ?? 90_000;
  const startRec = await new Promise<LogRecord>((resolve, reject) => {
    const t = setTimeout(() => { child.kill('SIGKILL'); reject(new Error(`${o.name} did not start within ${timeoutMs} ms; stderr: ${stderr.slice(-2000)}`)); }, timeoutMs);
    started = (r) => { clearTimeout(t); resolve(r); };
    void exited.then((e) => { clearTimeout(t); reject(new Error(`${o.name} exited during start-up (${JSON.stringify(e)}); stderr: ${stderr.slice(-2000)}`)); });
  });
  const portOf = (hostPort: unknown): number => Number(/:(\d+)$/.exec(String(hostPort))?.[1] ?? NaN);
  const sipPort = portOf(startRec.sip);
  const httpPort = portOf(startRec.http);
  if (!Number.isInteger(sipPort) || !Number.isInteger(httpPort)) throw new Error(`${o.name}: no ports in ${JSON.stringify(startRec)}`);

  return {
    name: o.name, host: o.host, pid: child.pid!, sipPort, httpPort, logs, exited,
    isRunning: () => running,
    readyz: () => httpGet(httpPort, '/readyz'),
    metric: async (name, labels) => sumMetric((await httpGet(httpPort, '/metrics')).body, name, labels),
    signal: (sig) => { if (running) child.kill(sig); },
    stop: async () => {
      if (running) child.kill('SIGINT');
      const t = setTimeout(() => child.kill('SIGKILL'), 10_000);
      const e = await exited;
      clearTimeout(t);
      return e;
    },
  };
}
