/**
 * Where <Play> files are decoded: inline (simple, for tests and tools) or in a dedicated worker
 * thread (the default for the media pod, so decoding never competes with RTP pacing).
 */
import type { Worker } from 'node:worker_threads';
import { decodeAudioFile } from './decode.js';
import type { DecodeJob, DecodeJobResult } from './decode-worker.js';
import { AudioFileError } from './errors.js';
import { spawnSiblingWorker } from './worker-spawn.js';

export interface AudioDecoder {
  /** Decode WAV/MP3 bytes to mono 8 kHz int16. Rejects with AudioFileError. May take ownership of `bytes`. */
  decode(bytes: Uint8Array, opts: { maxSeconds: number }): Promise<Int16Array>;
  close?(): Promise<void>;
}

export const inlineAudioDecoder: AudioDecoder = {
  decode: (bytes, opts) => decodeAudioFile(bytes, opts),
};

interface Pending { resolve(p: Int16Array): void; reject(e: Error): void }

/** One worker thread, decoding one file at a time in arrival order; restarted if it dies. */
export class WorkerAudioDecoder implements AudioDecoder {
  private worker: Worker | undefined;
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private closed = false;

  decode(bytes: Uint8Array, opts: { maxSeconds: number }): Promise<Int16Array> {
    if (this.closed) return Promise.reject(new AudioFileError('corrupt', 'audio decoder is closed'));
    const w = this.worker ?? this.start();
    const id = this.nextId++;
    return new Promise<Int16Array>((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      w.ref();
      // Transfer when the bytes own their whole buffer (the usual case for a downloaded body).
      const transferable = bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength && bytes.buffer instanceof ArrayBuffer;
      const job: DecodeJob = { id, bytes, maxSeconds: opts.maxSeconds };
      w.postMessage(job, transferable ? [bytes.buffer as ArrayBuffer] : []);
    });
  }

  async close(): Promise<void> {
    this.closed = true;
    this.failAll('audio decoder closed');
    const w = this.worker;
    this.worker = undefined;
    if (w) await w.terminate();
  }

  private start(): Worker {
    const w = spawnSiblingWorker(import.meta.url, 'decode-worker', null);
    w.unref();
    w.on('message', (r: DecodeJobResult) => {
      const p = this.pending.get(r.id);
      if (!p) return;
      this.pending.delete(r.id);
      if (this.pending.size === 0) w.unref();
      if (r.ok) p.resolve(r.pcm8k);
      else p.reject(new AudioFileError(r.cause, r.detail));
    });
    const gone = (why: string): void => {
      if (this.worker !== w) return;
      this.worker = undefined;
      this.failAll(why);
    };
    w.on('error', (e) => gone(`audio decoder worker failed: ${e.message}`));
    w.on('exit', (code) => gone(`audio decoder worker exited with code ${code}`));
    this.worker = w;
    return w;
  }

  private failAll(why: string): void {
    for (const p of this.pending.values()) p.reject(new AudioFileError('corrupt', why));
    this.pending.clear();
  }
}
