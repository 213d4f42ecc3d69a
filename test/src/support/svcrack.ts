/**
 * Runs SIPVicious svcrack, a real SIP digest brute-force tool, against a media pod on loopback:
 * its venv comes from tools/python/setup-svcrack.sh, and it is started through
 * tools/python/svcrack_invite.py so its INVITE digests name the Request-URI (see that file).
 * svcrack keeps going as long as the server answers, so the caller decides when to stop it.
 */
import { spawn } from 'node:child_process';
import dgram from 'node:dgram';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { repoRoot } from './repo.js';
import { venvPython, venvSkipReason } from './python-venv.js';

const TOOLS = path.join(repoRoot(), 'tools', 'python');

/** Builds (once) the svcrack venv; resolves with its interpreter or why it is unavailable. */
export function svcrackPython(): Promise<{ python: string } | { problem: string }> {
  return venvPython('setup-svcrack.sh');
}

/** Undefined when svcrack can run; otherwise the skip reason (or a throw when it is required). */
export function svcrackSkipReason(): Promise<string | undefined> {
  return venvSkipReason('setup-svcrack.sh', 'svcrack', ['SIPFLOW_REQUIRE_SVCRACK', 'SIPFLOW_REQUIRE_PYTHON_AGENTS']);
}

export interface SvcrackRun {
  /** Everything svcrack printed (its log goes to stderr, the result table to stdout). */
  output: string;
  /** The passwords svcrack sent a digest for, in order. */
  tried: string[];
  code: number | null;
  /** The line svcrack prints when it cracked a password, if any. */
  cracked: string | undefined;
}

export interface SvcrackOptions {
  podPort: number;
  /** The Request-URI user: the application's appId. */
  appId: string;
  username: string;
  passwords: readonly string[];
  /** Source address (any 127.x.y.z). */
  bindIp?: string;
  /** Polled every 200 ms; svcrack gets SIGINT (it then prints its summary) once this is true. */
  stopWhen?: () => boolean | Promise<boolean>;
  timeoutMs?: number;
}

async function freeUdpPort(ip: string): Promise<number> {
  const s = dgram.createSocket('udp4');
  await new Promise<void>((resolve) => s.bind(0, ip, () => resolve()));
  const port = s.address().port;
  await new Promise<void>((resolve) => s.close(() => resolve()));
  return port;
}

export async function runSvcrack(o: SvcrackOptions): Promise<SvcrackRun> {
  const v = await svcrackPython();
  if (!('python' in v)) throw new Error(v.problem);
  const ip = o.bindIp ?? '127.0.0.1';
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'sipflow-svcrack-'));
  const dict = path.join(work, 'passwords.txt');
  fs.writeFileSync(dict, o.passwords.join('\n') + '\n');
  const args = [
    path.join(TOOLS, 'svcrack_invite.py'),
    '-u', o.username, '-d', dict, '-m', 'INVITE',
    '--domain', '127.0.0.1', '--requesturi', `sip:${o.appId}@127.0.0.1`,
    // -x: no external-address discovery; -b/-P: our own loopback source.
    '-b', ip, '-x', ip, '-P', String(await freeUdpPort(ip)), '-p', String(o.podPort),
    // -v -v: debug, so the output shows each password tried ("trying ...").
    '-v', '-v',
    '127.0.0.1',
  ];
  const child = spawn(v.python, args, { cwd: work, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, PYTHONUNBUFFERED: '1' } });
  let output = '';
  const take = (d: Buffer): void => { output += d.toString(); if (output.length > 2e6) output = output.slice(-1e6); };
  child.stdout.on('data', take);
  child.stderr.on('data', take);
  const exited = new Promise<number | null>((resolve) => child.on('close', (c) => resolve(c)));
  let done = false;
  void exited.then(() => { done = true; });
  const deadline = Date.now() + (o.timeoutMs ?? 30_000);
  while (!done && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 200));
    if (!done && o.stopWhen && (await o.stopWhen())) break;
  }
  if (!done) child.kill('SIGINT');
  const killer = setTimeout(() => child.kill('SIGKILL'), 5000);
  const code = await exited;
  clearTimeout(killer);
  fs.rmSync(work, { recursive: true, force: true });
  const cracked = /The password for \S+ is .*/.exec(output)?.[0];
  const tried = [...output.matchAll(/:trying (.*)$/gm)].map((m) => m[1]!);
  return { output, code, cracked, tried };
}
