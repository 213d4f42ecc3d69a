/**
 * Worker-thread side of FliteSpeechEngine: runs flite (WASI) for one request at a time so a
 * long <Speak> never blocks the main thread that paces RTP. The compiled module arrives in
 * workerData, so the 21 MB binary is compiled once per process, not once per worker.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { runWasiCommand } from './wasi-memory-host.js';
import { isWasmModule, type WasmModule } from './wasm.js';

export interface FliteJob { id: number; text: string; voice: string }
export type FliteJobResult =
  | { id: number; ok: true; wav: Uint8Array }
  | { id: number; ok: false; message: string };
export interface FliteWorkerData { module: WasmModule; maxWavBytes: number }

const data = workerData as FliteWorkerData | undefined;
const port = parentPort;
if (!port || !isWasmModule(data?.module)) throw new Error('flite-worker must run as a worker with a compiled module in workerData');
const { module, maxWavBytes } = data;

port.on('message', (job: FliteJob) => {
  let reply: FliteJobResult;
  try {
    const r = runWasiCommand(module, ['flite', '-voice', job.voice, '-t', job.text, '-o', '/out/speech.wav'], { preopenDir: '/out', maxFileBytes: maxWavBytes });
    const wav = r.files.get('speech.wav');
    if (r.exitCode !== 0 || !wav) reply = { id: job.id, ok: false, message: `flite exited with ${r.exitCode}${wav ? '' : ', no output file'}${r.stderr ? `: ${r.stderr.slice(0, 200)}` : ''}` };
    else reply = { id: job.id, ok: true, wav };
  } catch (e) {
    reply = { id: job.id, ok: false, message: `flite trapped: ${e instanceof Error ? e.message : String(e)}` };
  }
  port.postMessage(reply, reply.ok ? [reply.wav.buffer as ArrayBuffer] : []);
});
