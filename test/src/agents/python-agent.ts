/**
 * Starts one of the Python agents in test/python (Plivo's stream SDK, Pipecat) as a subprocess
 * on loopback, so tests can point a StreamBridge at a real third-party peer and read back what
 * that peer saw. The venv comes from tools/python/setup.sh (or SIPFLOW_PYTHON_VENV).
 */

import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

/** A progress line the agent printed: `EVENT <name> <json>`. */
export interface AgentEvent {
  readonly name: string;
  readonly data: Record<string, unknown>;
}

export interface PythonAgent {
  /** ws://127.0.0.1:<port>/ (Pipecat's agent serves /ws; see `path`). */
  readonly url: string;
  readonly port: number;
  /** Progress events seen so far, in order (capped). */
  readonly events: readonly AgentEvent[];
  /** Resolves with the first event (already seen or future) matching; rejects after timeoutMs or when the agent exits. */
  waitForEvent(name: string, match?: (data: Record<string, unknown>) => boolean, timeoutMs?: number): Promise<AgentEvent>;
  /** The agent's final JSON line; resolves once the process has exited. */
  summary(): Promise<Record<string, unknown>>;
  /** SIGTERM (the agent prints its summary and exits), SIGKILL if it lingers. Idempotent. */
  stop(): Promise<void>;
  /** The last few KB of the agent's stderr, for assertion messages. */
  stderrTail(): string;
}

export interface StartPythonAgentOptions {
  /** Appended to the URL (Pipecat's agent serves the WebSocket on /ws). */
  readonly path?: string;
  /** How long the agent may take to print LISTENING (Pipecat's imports take a few seconds). */
  readonly listenTimeoutMs?: number;
}

/** The agent process could not be started or misbehaved before it was listening. */
export class PythonAgentError extends Error {
  override readonly name = 'PythonAgentError';
  constructor(message: string, readonly stderrTail: string) { super(stderrTail ? `${message}\n--- agent stderr (tail) ---\n${stderrTail}` : message); }
}

const MAX_EVENTS = 10_000;
const STDERR_TAIL_BYTES = 8192;
const SETUP_TIMEOUT_MS = 15 * 60_000;
const STOP_GRACE_MS = 10_000;

/** Walks up from this module to the test package (the directory holding package.json), so src/ and dist/ both work. */
function testPackageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 10; i++) {
    if (existsSync(join(dir, 'package.json'))) return dir;
    const up = dirname(dir);
    if (up === dir) break;
    dir = up;
  }
  throw new Error(`cannot find the test package root above ${fileURLToPath(import.meta.url)}`);
}

export const PYTHON_AGENT_DIR = join(testPackageRoot(), 'python');
const SETUP_SCRIPT = join(testPackageRoot(), '..', 'tools', 'python', 'setup.sh');

type VenvResult = { readonly python: string } | { readonly problem: string };
let venvPromise: Promise<VenvResult> | undefined;

function runSetup(): Promise<VenvResult> {
  return new Promise((resolve) => {
    const child = spawn('bash', [SETUP_SCRIPT], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => { out = (out + d.toString('utf8')).slice(-4096); });
    child.stderr.on('data', (d: Buffer) => { err = (err + d.toString('utf8')).slice(-STDERR_TAIL_BYTES); });
    const timer = setTimeout(() => child.kill('SIGKILL'), SETUP_TIMEOUT_MS);
    child.on('error', (e) => { clearTimeout(timer); resolve({ problem: `cannot run ${SETUP_SCRIPT}: ${e.message}` }); });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const venv = out.trim().split('\n').pop() ?? '';
      if (code === 0 && venv && existsSync(join(venv, 'bin', 'python'))) resolve({ python: join(venv, 'bin', 'python') });
      else resolve({ problem: `tools/python/setup.sh failed (${signal ?? `exit ${code}`}): ${err.trim().split('\n').slice(-3).join(' | ')}` });
    });
  });
}

/** The venv's python, built or reused once per process. */
function pythonVenv(): Promise<VenvResult> {
  venvPromise ??= (async (): Promise<VenvResult> => {
    const fromEnv = process.env.SIPFLOW_PYTHON_VENV;
    if (fromEnv) {
      const python = join(fromEnv, 'bin', 'python');
      return existsSync(python) ? { python } : { problem: `SIPFLOW_PYTHON_VENV=${fromEnv} has no bin/python` };
    }
    return runSetup();
  })();
  return venvPromise;
}

/**
 * Undefined when the Python agents can run; otherwise why not, for `test(..., { skip })`.
 * With SIPFLOW_REQUIRE_PYTHON_AGENTS=1 a missing venv is an error instead of a skip.
 */
export async function pythonAgentsSkipReason(): Promise<string | undefined> {
  const v = await pythonVenv();
  if ('python' in v) return undefined;
  if (process.env.SIPFLOW_REQUIRE_PYTHON_AGENTS === '1') throw new Error(`Python agents required but unavailable: ${v.problem}`);
  return `Python agents unavailable (set SIPFLOW_REQUIRE_PYTHON_AGENTS=1 to fail instead): ${v.problem}`;
}

/** The venv's python executable, for peers that are not WebSocket agents (the SRTP caller). */
export async function venvPython(): Promise<string> {
  const v = await pythonVenv();
  if (!('python' in v)) throw new PythonAgentError(`no Python venv: ${v.problem}`, '');
  return v.python;
}

export async function startPythonAgent(script: string, args: readonly string[] = [], opts: StartPythonAgentOptions = {}): Promise<PythonAgent> {
  const v = await pythonVenv();
  if (!('python' in v)) throw new PythonAgentError(`no Python venv: ${v.problem}`, '');
  const scriptPath = join(PYTHON_AGENT_DIR, script);
  if (!existsSync(scriptPath)) throw new PythonAgentError(`no such agent script: ${scriptPath}`, '');

  const child = spawn(v.python, [scriptPath, ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, PYTHONUNBUFFERED: '1', PYTHONDONTWRITEBYTECODE: '1' },
  });
  return new RunningAgent(child, script, opts).listening();
}

interface EventWaiter { name: string; match: (d: Record<string, unknown>) => boolean; resolve: (e: AgentEvent) => void; reject: (e: Error) => void; timer: NodeJS.Timeout }

class RunningAgent implements PythonAgent {
  url = '';
  port = 0;
  readonly events: AgentEvent[] = [];
  private stderr = '';
  private lastJson: Record<string, unknown> | undefined;
  private exitInfo: string | undefined;
  private readonly exited: Promise<void>;
  private waiters: EventWaiter[] = [];
  private onListening: ((port: number) => void) | undefined;

  constructor(private readonly child: ChildProcess, private readonly script: string, private readonly opts: StartPythonAgentOptions) {
    child.stderr?.on('data', (d: Buffer) => { this.stderr = (this.stderr + d.toString('utf8')).slice(-STDERR_TAIL_BYTES); });
    if (child.stdout) createInterface({ input: child.stdout }).on('line', (line) => this.onLine(line));
    this.exited = new Promise((resolve) => {
      child.on('error', (e) => { this.exitInfo ??= `spawn error: ${e.message}`; resolve(); });
      child.on('close', (code, signal) => { this.exitInfo ??= signal ?? `exit ${code}`; resolve(); });
    });
    void this.exited.then(() => {
      for (const w of this.waiters) { clearTimeout(w.timer); w.reject(new PythonAgentError(`${this.script} exited (${this.exitInfo}) before EVENT ${w.name}`, this.stderrTail())); }
      this.waiters = [];
    });
  }

  listening(): Promise<PythonAgent> {
    const timeoutMs = this.opts.listenTimeoutMs ?? 60_000;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.child.kill('SIGKILL');
        reject(new PythonAgentError(`${this.script} did not print LISTENING within ${timeoutMs} ms`, this.stderrTail()));
      }, timeoutMs);
      this.onListening = (port) => {
        clearTimeout(timer);
        this.port = port;
        this.url = `ws://127.0.0.1:${port}${this.opts.path ?? '/'}`;
        resolve(this);
      };
      void this.exited.then(() => {
        clearTimeout(timer);
        reject(new PythonAgentError(`${this.script} exited (${this.exitInfo}) before listening`, this.stderrTail()));
      });
    });
  }

  private onLine(line: string): void {
    if (line.startsWith('LISTENING ')) {
      const port = Number(line.slice('LISTENING '.length).trim());
      if (Number.isInteger(port) && port > 0) this.onListening?.(port);
      this.onListening = undefined;
      return;
    }
    if (line.startsWith('EVENT ')) {
      const rest = line.slice('EVENT '.length);
      const sp = rest.indexOf(' ');
      const name = sp < 0 ? rest : rest.slice(0, sp);
      const data = sp < 0 ? {} : parseObject(rest.slice(sp + 1)) ?? {};
      const ev: AgentEvent = { name, data };
      if (this.events.length < MAX_EVENTS) this.events.push(ev);
      this.waiters = this.waiters.filter((w) => {
        if (w.name !== name || !w.match(data)) return true;
        clearTimeout(w.timer);
        w.resolve(ev);
        return false;
      });
      return;
    }
    if (line.startsWith('{')) {
      const obj = parseObject(line);
      if (obj) this.lastJson = obj;
    }
  }

  waitForEvent(name: string, match: (d: Record<string, unknown>) => boolean = () => true, timeoutMs = 15_000): Promise<AgentEvent> {
    const seen = this.events.find((e) => e.name === name && match(e.data));
    if (seen) return Promise.resolve(seen);
    if (this.exitInfo !== undefined) return Promise.reject(new PythonAgentError(`${this.script} exited (${this.exitInfo}) before EVENT ${name}`, this.stderrTail()));
    return new Promise((resolve, reject) => {
      const w: EventWaiter = {
        name, match, resolve, reject,
        timer: setTimeout(() => {
          this.waiters = this.waiters.filter((x) => x !== w);
          reject(new PythonAgentError(`${this.script}: no EVENT ${name} within ${timeoutMs} ms; seen: ${this.events.slice(-10).map((e) => e.name).join(',')}`, this.stderrTail()));
        }, timeoutMs),
      };
      this.waiters.push(w);
    });
  }

  async summary(): Promise<Record<string, unknown>> {
    await this.exited;
    if (!this.lastJson) throw new PythonAgentError(`${this.script} exited (${this.exitInfo}) without a JSON summary line`, this.stderrTail());
    return this.lastJson;
  }

  async stop(): Promise<void> {
    if (this.exitInfo === undefined) {
      this.child.kill('SIGTERM');
      const timer = setTimeout(() => this.child.kill('SIGKILL'), STOP_GRACE_MS);
      await this.exited;
      clearTimeout(timer);
    }
  }

  stderrTail(): string { return this.stderr; }
}

function parseObject(text: string): Record<string, unknown> | undefined {
  try {
    const v: unknown = JSON.parse(text);
    return v !== null && typeof v === 'object' && !Array.isArray(v) ? v as Record<string, unknown> : undefined;
  } catch { return undefined; }
}
