/**
 * Runs sipp (Debian's sip-tester) as a real SIP peer: scenario files from test/sipp/, bounded by
 * a timeout, with its statistics parsed from the CSV it writes.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const SIPP_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../sipp');

export interface SippResult {
  code: number | null;
  stdout: string;
  stderr: string;
  /** Parsed from sipp's -trace_stat CSV, last row: SuccessfulCall(C), FailedCall(C), ... */
  stats: Record<string, string>;
  successful: number;
  failed: number;
  /** Contents of the -trace_msg log when requested. */
  messages: string;
  errors: string;
}

export interface SippOptions {
  /** Scenario file name in test/sipp/ or an absolute path; or `builtin:uac` etc. */
  scenario: string;
  target: string;
  service?: string;
  calls?: number;
  rate?: number;
  transport?: 'u1' | 't1' | 'tn';
  localIp?: string;
  args?: string[];
  timeoutSec?: number;
  traceMessages?: boolean;
}

export async function runSipp(o: SippOptions): Promise<SippResult> {
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'sipflow-sipp-'));
  const args: string[] = [];
  if (o.scenario.startsWith('builtin:')) args.push('-sn', o.scenario.slice(8));
  else args.push('-sf', path.isAbsolute(o.scenario) ? o.scenario : path.join(SIPP_DIR, o.scenario));
  if (o.service) args.push('-s', o.service);
  args.push('-m', String(o.calls ?? 1), '-r', String(o.rate ?? 10), '-t', o.transport ?? 'u1');
  args.push('-i', o.localIp ?? '127.0.0.1', '-p', '0', '-nostdin', '-timeout', `${o.timeoutSec ?? 30}s`, '-timeout_error');
  args.push('-trace_stat', '-stf', path.join(work, 'stat.csv'), '-trace_err', '-error_file', path.join(work, 'err.log'));
  if (o.traceMessages) args.push('-trace_msg', '-message_file', path.join(work, 'msg.log'));
  args.push(...(o.args ?? []), o.target);
  const child = spawn('sipp', args, { cwd: work, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = ''; let stderr = '';
  child.stdout.on('data', (d: Buffer) => { stdout += d.toString(); if (stdout.length > 1e6) stdout = stdout.slice(-5e5); });
  child.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
  const killer = setTimeout(() => child.kill('SIGKILL'), ((o.timeoutSec ?? 30) + 15) * 1000);
  const code = await new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c)));
  clearTimeout(killer);
  const read = (f: string) => { try { return fs.readFileSync(path.join(work, f), 'utf8'); } catch { return ''; } };
  const csv = read('stat.csv').trim().split('\n');
  const stats: Record<string, string> = {};
  if (csv.length >= 2) {
    const head = csv[0]!.split(';');
    const last = csv[csv.length - 1]!.split(';');
    head.forEach((h, i) => { stats[h] = last[i] ?? ''; });
  }
  const result: SippResult = {
    code, stdout, stderr, stats,
    successful: Number(stats['SuccessfulCall(C)'] ?? 0),
    failed: Number(stats['FailedCall(C)'] ?? 0),
    messages: read('msg.log'), errors: read('err.log'),
  };
  fs.rmSync(work, { recursive: true, force: true });
  return result;
}
