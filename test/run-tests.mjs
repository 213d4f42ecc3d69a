#!/usr/bin/env node
// Runs the compiled test files with node's test runner. `unit` runs tests inside the
// packages (operator/, media-pod/); `all` adds the component tests in test/ that start
// real peers (sipp, HTTP answer servers, WebSocket agents).
import { mkdtempSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';

const mode = process.argv[2] ?? 'all';
const roots = ['operator/dist', 'media-pod/dist'];
if (mode === 'all') roots.push('test/dist');

function collect(dir, out) {
  let entries;
  try { entries = readdirSync(dir); } catch { return out; }
  for (const name of entries) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) collect(p, out);
    else if (name.endsWith('.test.js')) out.push(p);
  }
  return out;
}

const files = roots.flatMap((r) => collect(r, [])).sort();
if (files.length === 0) {
  console.error('no test files found; run the build first');
  process.exit(1);
}
const tapFile = join(mkdtempSync(join(tmpdir(), 'sipflow-tests-')), 'results.tap');
const args = [
  '--test', `--test-concurrency=${process.env.TEST_CONCURRENCY ?? 2}`,
  '--test-reporter=spec', '--test-reporter-destination=stdout',
  '--test-reporter=tap', `--test-reporter-destination=${tapFile}`,
  ...files,
];
const res = spawnSync(process.execPath, args, { stdio: 'inherit' });
// One plain closing line CI can read whatever the reporter: "N passed, N failed, N skipped".
let tap = '';
try { tap = readFileSync(tapFile, 'utf8'); } catch { /* the runner died before writing */ }
const count = (k) => Number(new RegExp(`^# ${k} (\\d+)$`, 'm').exec(tap)?.[1] ?? 0);
const passed = count('pass');
const failed = count('fail') + count('cancelled');
console.log(`\n${passed} passed, ${failed} failed, ${count('skipped')} skipped`);
process.exit(res.status ?? 1);
