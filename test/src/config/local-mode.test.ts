import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { MEDIA_POD_NODE_ARGS } from '@sipflow/media-pod/node-flags';
import { startTestPod } from '../support/pod.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');

const app = (appId: string) => `
apiVersion: sipflow.io/v1alpha1
kind: SipApplication
metadata: { name: ${appId}, namespace: default }
spec:
  answerUrl: http://127.0.0.1:1/answer
  sipAuth: { type: None }
`;

async function until<T>(what: string, fn: () => T | undefined, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = fn();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

test('local mode reloads an edited manifest, and a bad edit keeps the last good config with a reason', async () => {
  const t = await startTestPod({ manifests: app('first') });
  try {
    assert.ok(t.pod.config.current()?.appsById.has('first'));
    t.writeManifests(app('first') + '---' + app('second'));
    await until('second app', () => (t.pod.config.current()?.appsById.has('second') ? true : undefined));

    const before = t.pod.config.current()!.generation;
    t.writeManifests(app('first').replace('type: None', 'type: Bogus'));
    const refusal = await until('refusal', () => t.pod.config.refusal());
    assert.match(refusal, /spec\.sipAuth\.type/);
    assert.equal(t.pod.config.current()!.generation, before, 'the last good config keeps serving');
    assert.ok(t.pod.config.current()!.appsById.has('second'));
    const metrics = await t.metrics();
    assert.match(metrics, /sipflow_config_reloads_total\{result="refused"\} [1-9]/);
    assert.match(metrics, /sipflow_config_refused 1/);
    const logged = t.logs().find((l) => l.msg === 'config refused; still serving the last good config');
    assert.ok(logged, 'the refusal is logged');

    t.writeManifests(app('third'));
    await until('third app', () => (t.pod.config.current()?.appsById.has('third') ? true : undefined));
    assert.equal(t.pod.config.refusal(), undefined);
    assert.equal(t.pod.config.current()!.appsById.has('first'), false, 'a removed app is gone');
  } finally {
    await t.stop();
  }
});

test('sipflow-media starts on examples/, answers /healthz and /readyz, and serves /metrics', async () => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'sipflow-bin-'));
  const child = spawn(process.execPath, [
    path.join(root, 'media-pod/bin/sipflow-media.js'), '--manifests', path.join(root, 'examples'),
    '--sip-listen', '127.0.0.1:0', '--http-listen', '127.0.0.1:0', '--rtp-ports', '39000-39099',
  ], { stdio: ['ignore', 'pipe', 'pipe'], cwd: tmp });
  let out = '';
  child.stdout.on('data', (d: Buffer) => { out += d.toString(); });
  child.stderr.on('data', (d: Buffer) => { out += d.toString(); });
  try {
    const started = await until('start line', () => {
      for (const line of out.split('\n')) {
        try { const j = JSON.parse(line) as { msg?: string; http?: string }; if (j.msg === 'media pod started') return j; } catch { /* partial line */ }
      }
      return undefined;
    }, 20_000);
    const base = `http://${started.http}`;
    assert.equal((await fetch(`${base}/healthz`)).status, 200);
    const ready = await fetch(`${base}/readyz`);
    assert.equal(ready.status, 200, await ready.text());
    const metrics = await (await fetch(`${base}/metrics`)).text();
    assert.match(metrics, /sipflow_config_applications 3/);
    assert.match(metrics, /sipflow_calls_active 0/);
    // Started with plain `node bin`, not the pod's node flags: it says so, and how to start it.
    const warning = out.split('\n').map((l) => { try { return JSON.parse(l) as { msg?: string; missing?: string[]; start?: string }; } catch { return {}; } })
      .find((j) => j.msg?.startsWith('node was started without'));
    assert.deepEqual(warning?.missing, [...MEDIA_POD_NODE_ARGS], out);
    assert.match(warning?.start ?? '', /^node --max-semi-space-size=\d+ media-pod\/bin\/sipflow-media\.js$/);
  } finally {
    child.kill('SIGINT');
    await new Promise((r) => child.once('exit', r));
    fs.rmSync(tmp, { recursive: true, force: true });
  }
});

test('sipflow-media refuses bad flags with a message naming the flag', async () => {
  const child = spawn(process.execPath, [path.join(root, 'media-pod/bin/sipflow-media.js'), '--manifests', 'x', '--sip-listen', 'nonsense'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let err = '';
  child.stderr.on('data', (d: Buffer) => { err += d.toString(); });
  const code = await new Promise<number | null>((r) => child.once('exit', r));
  assert.equal(code, 2);
  assert.match(err, /--sip-listen: expected HOST:PORT/);
});
