// TLS credential files: start-up checks that name the file and the problem (never the key), and
// the reload poll over a Kubernetes-style Secret volume whose `..data` symlink is swapped.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLogger } from '@sipflow/operator/log';
import { FakeClock } from '../../clock.js';
import { createTestPki, opensslAvailable, type TestPki } from './test-pki.js';
import { TlsCredentialsError, TlsCredentialsWatcher, readTlsCredentials, type TlsCredentials } from './tls-credentials.js';

const quiet = createLogger('test', 'error');
const skip = opensslAvailable() ? false : 'openssl is not installed';
const T = { timeout: 20_000, skip };

let a: TestPki;
let b: TestPki;
let tmp: string;
before(() => {
  if (skip) return;
  a = createTestPki('creds-a');
  b = createTestPki('creds-b');
  tmp = mkdtempSync(join(tmpdir(), 'sipflow-tlscreds-'));
});
after(() => { a?.cleanup(); b?.cleanup(); if (tmp) rmSync(tmp, { recursive: true, force: true }); });

function keyLines(key: Buffer): string[] {
  return key.toString().split('\n').filter((l) => l.length > 20 && !l.startsWith('-----'));
}

async function refusal(p: Promise<unknown>): Promise<TlsCredentialsError> {
  try { await p; } catch (err) { assert.ok(err instanceof TlsCredentialsError, String(err)); return err; }
  assert.fail('the credentials were accepted');
}

test('readTlsCredentials: a good pair loads; missing, garbage and mismatched files are refused naming the file', T, async () => {
  const ok = await readTlsCredentials({ certFile: a.leaf.certFile, keyFile: a.leaf.keyFile, caFile: a.caFile });
  assert.deepEqual(ok.cert, a.leaf.cert);
  assert.deepEqual(ok.ca, a.caCert);

  const missing = await refusal(readTlsCredentials({ certFile: join(tmp, 'nope.crt'), keyFile: a.leaf.keyFile }));
  assert.equal(missing.problem, 'unreadable');
  assert.match(missing.message, /nope\.crt: ENOENT/);

  const garbage = join(tmp, 'garbage.crt');
  writeFileSync(garbage, 'not a certificate');
  const bad = await refusal(readTlsCredentials({ certFile: garbage, keyFile: a.leaf.keyFile }));
  assert.deepEqual([bad.problem, bad.file], ['invalid', garbage]);

  // A key given as the certificate: the message must not echo it.
  const swapped = await refusal(readTlsCredentials({ certFile: a.leaf.keyFile, keyFile: a.leaf.keyFile }));
  assert.equal(swapped.problem, 'invalid');
  for (const line of keyLines(a.leaf.key)) assert.ok(!swapped.message.includes(line));

  const mismatch = await refusal(readTlsCredentials({ certFile: a.leaf.certFile, keyFile: b.leaf.keyFile }));
  assert.equal(mismatch.problem, 'mismatch');
  assert.match(mismatch.message, /does not belong to the private key/);
});

test('watcher: a swapped ..data symlink is picked up on the next poll; a broken pair is refused once and kept out', T, async () => {
  // The layout kubelet gives a Secret volume: files are symlinks through ..data to a versioned dir.
  const vol = join(tmp, 'secret');
  mkdirSync(vol);
  const version = (name: string, cert: Buffer, key: Buffer): void => {
    mkdirSync(join(vol, name));
    writeFileSync(join(vol, name, 'tls.crt'), cert);
    writeFileSync(join(vol, name, 'tls.key'), key);
  };
  const point = (name: string): void => {
    symlinkSync(name, join(vol, '..data_tmp'));
    renameSync(join(vol, '..data_tmp'), join(vol, '..data'));
  };
  version('..v1', a.leaf.cert, a.leaf.key);
  point('..v1');
  symlinkSync('..data/tls.crt', join(vol, 'tls.crt'));
  symlinkSync('..data/tls.key', join(vol, 'tls.key'));
  const files = { certFile: join(vol, 'tls.crt'), keyFile: join(vol, 'tls.key') };

  const clock = new FakeClock();
  const applied: TlsCredentials[] = [];
  const initial = await readTlsCredentials(files);
  const w = new TlsCredentialsWatcher(files, { initial, apply: (c) => applied.push(c), pollMs: 5000, clock, logger: quiet });
  w.start();
  try {
    assert.equal(await w.checkNow(), 'unchanged');

    version('..v2', b.leaf.cert, b.leaf.key);
    point('..v2');
    clock.advance(4999);
    assert.equal(applied.length, 0, 'nothing before the poll');
    clock.advance(1);
    assert.equal(await w.checkNow(), 'reloaded');
    assert.equal(applied.length, 1);
    assert.deepEqual(applied[0]!.cert, b.leaf.cert);

    version('..v3', a.leaf.cert, b.leaf.key);
    point('..v3');
    assert.equal(await w.checkNow(), 'failed');
    assert.equal(await w.checkNow(), 'unchanged', 'the same broken files are not retried or logged again');
    assert.equal(applied.length, 1, 'a mismatched pair is never applied');

    // apply itself refusing (e.g. the transport) is a failed reload too.
    const w2 = new TlsCredentialsWatcher(files, { initial, apply: () => { throw new Error('refused'); }, clock, logger: quiet });
    version('..v4', b.leaf.cert, b.leaf.key);
    point('..v4');
    assert.equal(await w2.checkNow(), 'failed');
    assert.equal(await w.checkNow(), 'unchanged', 'v4 holds the pair the first watcher already applied');
  } finally {
    w.stop();
  }
  assert.equal(clock.pending(), 0, 'stop() leaves no timer');
});
