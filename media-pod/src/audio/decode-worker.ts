/**
 * Worker-thread side of WorkerAudioDecoder: decodes and resamples <Play> files off the main
 * thread, where a minute-long 44.1 kHz file would otherwise stall RTP pacing for every call.
 */
import { parentPort } from 'node:worker_threads';
import { decodeAudioFile } from './decode.js';
import { AudioFileError, type AudioFileErrorCause } from './errors.js';

export interface DecodeJob { id: number; bytes: Uint8Array; maxSeconds: number }
export type DecodeJobResult =
  | { id: number; ok: true; pcm8k: Int16Array }
  | { id: number; ok: false; cause: AudioFileErrorCause; detail: string };

const port = parentPort;
if (!port) throw new Error('decode-worker must run as a worker thread');

port.on('message', (job: DecodeJob) => {
  decodeAudioFile(job.bytes, { maxSeconds: job.maxSeconds }).then(
    (pcm8k) => port.postMessage({ id: job.id, ok: true, pcm8k } satisfies DecodeJobResult, [pcm8k.buffer as ArrayBuffer]),
    (e: unknown) => {
      const r: DecodeJobResult = e instanceof AudioFileError
        ? { id: job.id, ok: false, cause: e.cause, detail: e.detail }
        : { id: job.id, ok: false, cause: 'corrupt', detail: `decoder failed: ${e instanceof Error ? e.message : String(e)}` };
      port.postMessage(r);
    },
  );
});
