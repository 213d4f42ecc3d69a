import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { WASI } from 'node:wasi';
import { compileFlite } from './flite-engine.js';
import { runWasiCommand } from './wasi-memory-host.js';
import { FLITE_VOICES } from './voices.js';

test('the in-memory host runs flite: lists its voices on stdout', async () => {
  const mod = await compileFlite();
  const r = runWasiCommand(mod, ['flite', '-lv'], { preopenDir: '/out', maxFileBytes: 1024 });
  assert.equal(r.exitCode, 0);
  assert.match(r.stdout, /^Voices available:/);
  for (const v of FLITE_VOICES) assert.match(r.stdout, new RegExp(`\\b${v}\\b`), `voice ${v} is built in`);
});

test('the in-memory host writes the same WAV bytes as node:wasi with a real directory', async () => {
  const mod = await compileFlite();
  const args = ['flite', '-voice', 'slt', '-t', 'Hello from sipflow', '-o', '/out/x.wav'];
  const mem = runWasiCommand(mod, args, { preopenDir: '/out', maxFileBytes: 16 << 20 });
  const dir = await mkdtemp(join(tmpdir(), 'sipflow-flite-'));
  try {
    const wasi = new WASI({ version: 'preview1', args, preopens: { '/out': dir }, returnOnExit: true });
    const instance = await (globalThis as unknown as { WebAssembly: { instantiate(m: unknown, i: unknown): Promise<object> } })
      .WebAssembly.instantiate(mod, wasi.getImportObject());
    assert.equal(wasi.start(instance), 0);
    const onDisk = await readFile(join(dir, 'x.wav'));
    assert.ok(onDisk.length > 10_000);
    assert.deepEqual(Buffer.from(mem.files.get('x.wav')!), onDisk);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('writes past maxFileBytes fail inside the program instead of growing memory', async () => {
  const mod = await compileFlite();
  const r = runWasiCommand(mod, ['flite', '-voice', 'slt', '-t', 'Hello from sipflow', '-o', '/out/x.wav'], { preopenDir: '/out', maxFileBytes: 1000 });
  assert.ok((r.files.get('x.wav')?.length ?? 0) <= 1000);
});
