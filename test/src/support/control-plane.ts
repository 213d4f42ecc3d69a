// Starts a real, throw-away Kubernetes control plane (etcd + kube-apiserver + kube-controller-manager
// built from Go modules by tools/k8s-bins) for tests, and hands back its kubeconfig plus kubectl/helm runners.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export interface CommandResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface CommandOptions {
  /** Written to the process's stdin, e.g. a manifest for `kubectl apply -f -`. */
  input?: string;
  /** Kills the process after this long; the result then has code -1 (default 60 s). */
  timeoutMs?: number;
  /** Overrides the admin kubeconfig, e.g. one from `clientKubeconfig()`. */
  kubeconfig?: string;
}

export interface ControlPlane {
  kubeconfigPath: string;
  /** https://127.0.0.1:<port> */
  server: string;
  /** Working dir with pki/, logs, pid files; removed by stop() unless SIPFLOW_KEEP_CONTROL_PLANE=1. */
  dir: string;
  kubectlPath: string;
  helmPath: string;
  kubectl(args: string[], opts?: CommandOptions): Promise<CommandResult>;
  helm(args: string[], opts?: CommandOptions): Promise<CommandResult>;
  /** Issues a client cert from the test CA (CN=user, O=groups) and returns a kubeconfig path. */
  clientKubeconfig(user: string, groups?: string[]): Promise<string>;
  /** PIDs by name: etcd, apiserver, kube-controller-manager, watchdog. */
  pids(): Promise<Record<string, number>>;
  /** Stops only kube-apiserver (etcd and its data stay): an API-server outage for clients. */
  stopApiServer(): Promise<void>;
  /** Starts kube-apiserver again with the same command line (port, PKI, etcd); resolves when ready. */
  startApiServer(): Promise<void>;
  stop(): Promise<void>;
}

export type ControlPlaneAvailability = { available: true; binDir: string } | { available: false; reason: string };

/** Thrown when the control plane cannot be prepared or started; `detail` carries script output. */
export class ControlPlaneError extends Error {
  constructor(
    message: string,
    readonly detail: string,
  ) {
    super(detail ? `${message}\n${detail}` : message);
    this.name = 'ControlPlaneError';
  }
}

const REQUIRE_ENV = 'SIPFLOW_REQUIRE_CONTROL_PLANE';
const MAX_OUTPUT_BYTES = 16 * 1024 * 1024;
const BUILD_TIMEOUT_MS = 50 * 60 * 1000; // build.sh enforces its own 45-min limit; this is a backstop
const INSTALL_TIMEOUT_MS = 5 * 60 * 1000;
const UP_TIMEOUT_MS = 150 * 1000; // up.sh waits at most 90 s for readiness, plus key generation
const DOWN_TIMEOUT_MS = 60 * 1000;

/** The repo root is where tools/control-plane lives; walking up works from src/ and dist/ alike. */
export function repoRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 20; i++) {
    if (existsSync(join(dir, 'tools', 'control-plane', 'up.sh'))) return dir;
    const parent = dirname(dir);
    if (parent === dir) break;
    dir = parent;
  }
  throw new ControlPlaneError('cannot locate the repo root (tools/control-plane/up.sh) above this module', '');
}

function requireControlPlane(): boolean {
  const v = process.env[REQUIRE_ENV];
  return v !== undefined && v !== '' && v !== '0' && v !== 'false';
}

/** Runs a command with bounded output and time; never rejects for a non-zero exit. */
export function runCommand(
  cmd: string,
  args: string[],
  opts: { input?: string; timeoutMs?: number; env?: NodeJS.ProcessEnv; cwd?: string } = {},
): Promise<CommandResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, {
      cwd: opts.cwd,
      env: opts.env ?? process.env,
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let outBytes = 0;
    let errBytes = 0;
    child.stdout.on('data', (b: Buffer) => {
      if (outBytes < MAX_OUTPUT_BYTES) out.push(b);
      outBytes += b.length;
    });
    child.stderr.on('data', (b: Buffer) => {
      if (errBytes < MAX_OUTPUT_BYTES) err.push(b);
      errBytes += b.length;
    });
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, opts.timeoutMs ?? 60_000);
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(new ControlPlaneError(`cannot run ${cmd}`, e.message));
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const stderr = Buffer.concat(err).toString('utf8');
      resolve({
        code: timedOut ? -1 : (code ?? (signal ? 128 : 1)),
        stdout: Buffer.concat(out).toString('utf8'),
        stderr: timedOut ? `${stderr}\n[killed after ${opts.timeoutMs ?? 60_000} ms]` : stderr,
      });
    });
    child.stdin.on('error', () => {
      // The child may exit before reading its input; the exit code reports what happened.
    });
    child.stdin.end(opts.input ?? '');
  });
}

function lastLine(s: string): string {
  const lines = s.trim().split('\n');
  return (lines[lines.length - 1] ?? '').trim();
}

/**
 * Whether the tests can use a control plane now. Binaries absent → unavailable (tests skip),
 * unless SIPFLOW_REQUIRE_CONTROL_PLANE is set, in which case this builds them (or throws).
 */
export async function controlPlaneAvailability(): Promise<ControlPlaneAvailability> {
  const root = repoRoot();
  const build = join(root, 'tools', 'k8s-bins', 'build.sh');
  if (process.platform !== 'linux' || process.arch !== 'x64') {
    if (requireControlPlane()) throw new ControlPlaneError(`${REQUIRE_ENV} is set but this is not linux/x64`, '');
    return { available: false, reason: 'the control plane binaries are only built for linux/x64' };
  }
  const check = await runCommand(build, ['--check'], { timeoutMs: 30_000 });
  if (check.code === 0) {
    const dir = await runCommand(build, ['--print-dir'], { timeoutMs: 30_000 });
    return { available: true, binDir: lastLine(dir.stdout) };
  }
  if (!requireControlPlane()) {
    return {
      available: false,
      reason:
        'kube-apiserver/etcd/kube-controller-manager are not built yet; run tools/k8s-bins/build.sh ' +
        `(10-30 min cold) or set ${REQUIRE_ENV}=1 to build them here`,
    };
  }
  const res = await runCommand(build, [], { timeoutMs: BUILD_TIMEOUT_MS, cwd: root });
  if (res.code !== 0) throw new ControlPlaneError(`tools/k8s-bins/build.sh failed (exit ${res.code})`, res.stderr.slice(-8000));
  return { available: true, binDir: lastLine(res.stdout) };
}

/** Test-skip helper: false when available, otherwise the reason (node:test prints it). */
export async function controlPlaneSkipReason(): Promise<string | false> {
  const a = await controlPlaneAvailability();
  return a.available ? false : a.reason;
}

async function readPids(dir: string): Promise<Record<string, number>> {
  const pids: Record<string, number> = {};
  for (const name of await readdir(dir)) {
    if (!name.endsWith('.pid')) continue;
    const pid = Number(readFileSync(join(dir, name), 'utf8').trim());
    if (Number.isInteger(pid) && pid > 0) pids[name.slice(0, -'.pid'.length)] = pid;
  }
  return pids;
}

/** True while `pid` is a live process; a zombie (exited, not yet reaped by init) counts as gone. */
export function isProcessRunning(pid: number): boolean {
  let status: string;
  try {
    status = readFileSync(`/proc/${pid}/status`, 'utf8');
  } catch {
    return false;
  }
  const state = /^State:\s*([A-Z])/m.exec(status)?.[1];
  return state !== undefined && state !== 'Z' && state !== 'X';
}

export interface StartOptions {
  /**
   * The process whose death stops the control plane (up.sh's watchdog), covering a test process
   * that is killed before stop() runs. Default: this process.
   */
  ownerPid?: number;
}

export async function startControlPlane(opts: StartOptions = {}): Promise<ControlPlane> {
  const availability = await controlPlaneAvailability();
  if (!availability.available) throw new ControlPlaneError('control plane unavailable', availability.reason);
  const root = repoRoot();
  const tools = join(root, 'tools');

  const install = await runCommand(join(tools, 'kubectl', 'install.sh'), [], { timeoutMs: INSTALL_TIMEOUT_MS });
  if (install.code !== 0) {
    throw new ControlPlaneError(`tools/kubectl/install.sh failed (exit ${install.code})`, install.stderr.slice(-4000));
  }
  const toolsBin = lastLine(install.stdout);
  const kubectlPath = join(toolsBin, 'kubectl');
  const helmPath = join(toolsBin, 'helm');

  const dir = await mkdtemp(join(tmpdir(), 'sipflow-cp-'));
  const keep = process.env.SIPFLOW_KEEP_CONTROL_PLANE === '1';
  const env = {
    ...process.env,
    K8S_BINS_DIR: availability.binDir,
    CP_OWNER_PID: String(opts.ownerPid ?? process.pid),
    CP_WATCHDOG_PURGE: keep ? '0' : '1',
  };
  const down = join(tools, 'control-plane', 'down.sh');
  // If the test process dies without calling stop(), the detached servers would outlive it.
  const onExit = (): void => {
    spawnSync(down, [dir], { stdio: 'ignore', timeout: DOWN_TIMEOUT_MS });
  };
  process.once('exit', onExit);

  const up = await runCommand(join(tools, 'control-plane', 'up.sh'), [dir], { env, timeoutMs: UP_TIMEOUT_MS });
  if (up.code !== 0) {
    await runCommand(down, [dir], { timeoutMs: DOWN_TIMEOUT_MS });
    process.removeListener('exit', onExit);
    throw new ControlPlaneError(`tools/control-plane/up.sh failed (exit ${up.code}); logs kept in ${dir}`, up.stderr.slice(-8000));
  }
  const kubeconfigPath = lastLine(up.stdout);
  const clusterEnv = readFileSync(join(dir, 'cluster.env'), 'utf8');
  const server = /^SERVER=(.*)$/m.exec(clusterEnv)?.[1];
  if (!server) throw new ControlPlaneError(`no SERVER in ${join(dir, 'cluster.env')}`, clusterEnv);

  const toolEnv = (kubeconfig: string): NodeJS.ProcessEnv => ({
    ...process.env,
    KUBECONFIG: kubeconfig,
    // helm keeps caches/config under HOME by default; keep them with this control plane.
    HELM_CACHE_HOME: join(dir, 'helm', 'cache'),
    HELM_CONFIG_HOME: join(dir, 'helm', 'config'),
    HELM_DATA_HOME: join(dir, 'helm', 'data'),
  });

  let stopped: Promise<void> | undefined;
  return {
    kubeconfigPath,
    server,
    dir,
    kubectlPath,
    helmPath,
    kubectl: (args, opts = {}) =>
      runCommand(kubectlPath, args, { input: opts.input, timeoutMs: opts.timeoutMs, env: toolEnv(opts.kubeconfig ?? kubeconfigPath) }),
    helm: (args, opts = {}) =>
      runCommand(helmPath, args, { input: opts.input, timeoutMs: opts.timeoutMs, env: toolEnv(opts.kubeconfig ?? kubeconfigPath) }),
    clientKubeconfig: async (user, groups = []) => {
      const res = await runCommand(join(tools, 'control-plane', 'client-cert.sh'), [dir, user, ...groups], { timeoutMs: 30_000 });
      if (res.code !== 0) throw new ControlPlaneError(`client-cert.sh failed for user ${user}`, res.stderr);
      return lastLine(res.stdout);
    },
    pids: () => readPids(dir),
    stopApiServer: async () => {
      const res = await runCommand(join(tools, 'control-plane', 'apiserver.sh'), [dir, 'stop'], { timeoutMs: DOWN_TIMEOUT_MS });
      if (res.code !== 0) throw new ControlPlaneError(`apiserver.sh stop failed (exit ${res.code})`, res.stderr);
    },
    startApiServer: async () => {
      const res = await runCommand(join(tools, 'control-plane', 'apiserver.sh'), [dir, 'start'], { timeoutMs: UP_TIMEOUT_MS });
      if (res.code !== 0) throw new ControlPlaneError(`apiserver.sh start failed (exit ${res.code}); log: ${join(dir, 'apiserver.log')}`, res.stderr.slice(-8000));
    },
    stop: () => {
      stopped ??= (async () => {
        const res = await runCommand(down, [dir], { timeoutMs: DOWN_TIMEOUT_MS });
        process.removeListener('exit', onExit);
        if (res.code !== 0) throw new ControlPlaneError(`tools/control-plane/down.sh failed (exit ${res.code})`, res.stderr);
        if (!keep) await rm(dir, { recursive: true, force: true });
      })();
      return stopped;
    },
  };
}

/**
 * Re-evaluates `check` until it returns a value other than undefined, or throws after `timeoutMs`
 * (with the last observation) — for waiting on controllers, whose timing the test cannot drive.
 */
export async function pollUntil<T>(
  what: string,
  check: () => Promise<T | undefined>,
  opts: { timeoutMs?: number; intervalMs?: number } = {},
): Promise<T> {
  const timeoutMs = opts.timeoutMs ?? 60_000;
  const intervalMs = opts.intervalMs ?? 250;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await check();
    if (v !== undefined) return v;
    if (Date.now() >= deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

/** The k8s.io/kubernetes version pinned in tools/k8s-bins/go.mod, e.g. "v1.36.3". */
export function pinnedKubernetesVersion(): string {
  const gomod = readFileSync(join(repoRoot(), 'tools', 'k8s-bins', 'go.mod'), 'utf8');
  const v = /^\s*k8s\.io\/kubernetes (v\d+\.\d+\.\d+)/m.exec(gomod)?.[1];
  if (!v) throw new ControlPlaneError('no k8s.io/kubernetes requirement in tools/k8s-bins/go.mod', '');
  return v;
}
