/**
 * Where <Record> puts its recordings. sipflow keeps no recordings itself: each one is spooled to a
 * local file while it runs (one second of audio in memory at most) and, when it ends, uploaded
 * with `PUT {base}/{RecordingID}.wav` to a store the operator runs (an object store's HTTP
 * gateway, WebDAV, a small service of their own), with an optional Authorization header. The URL
 * the application gets as `RecordUrl` is the `Location` the store answers with, or the PUT URL.
 * The spool file is removed whatever happens.
 */
import fs from 'node:fs';
import path from 'node:path';
import http from 'node:http';
import https from 'node:https';
import { systemClock, type Clock } from '../clock.js';
import { redactUrl } from '../audio/http-body.js';
import { wavHeaderPcm16 } from '../audio/wav.js';
import type { Logger } from '@sipflow/operator/log';

export const RECORDING_SAMPLE_RATE = 8000;
/** Audio held in memory per recording before it goes to the spool file: one second. */
const CHUNK_SAMPLES = RECORDING_SAMPLE_RATE;
/** Upload attempts (network errors, 408, 429, 5xx are retried; other answers are final). */
const UPLOAD_ATTEMPTS = 3;
const RETRY_DELAYS_MS = [500, 2000];

export interface RecordingStoreOptions {
  /** http(s) base URL; recordings go to `{baseUrl}/{id}.wav`. */
  baseUrl: string;
  /** Authorization header value for uploads. Never logged. */
  authorization?: string;
  /** Where recordings are spooled while they run (default: the OS temporary directory). */
  spoolDir: string;
  /** Deadline for each upload attempt (default 60 s). */
  timeoutMs?: number;
  /** Pauses before the second and third attempts (default 0.5 s and 2 s). */
  retryDelaysMs?: readonly number[];
  clock?: Clock;
  logger?: Logger;
  /** Told how each finished recording went (for the metrics). */
  onOutcome?: (outcome: 'stored' | 'failed') => void;
}

export interface FinishedRecording {
  url: string;
  durationMs: number;
}

/** A recording in progress, as the XML engine sees it. */
export interface RecordingSink {
  readonly id: string;
  readonly durationMs: number;
  write(pcm: Int16Array): void;
  writeStereo(left: Int16Array, right: Int16Array): void;
  /** Ends the recording and stores it; rejects when it could not be stored. */
  finish(): Promise<FinishedRecording>;
}

export interface RecordingStore {
  start(id: string, channels: 1 | 2): RecordingSink;
}

export class RecordingUploadError extends Error {
  constructor(message: string, readonly status?: number) { super(message); this.name = 'RecordingUploadError'; }
}

export class HttpRecordingStore implements RecordingStore {
  private readonly base: string;
  private readonly clock: Clock;

  constructor(private readonly opts: RecordingStoreOptions) {
    this.base = opts.baseUrl.replace(/\/+$/, '');
    this.clock = opts.clock ?? systemClock;
  }

  /** Starts a recording of 8 kHz 16-bit audio, mono or stereo (interleaved by `writeStereo`). */
  start(id: string, channels: 1 | 2): RecordingWriter {
    if (!/^[A-Za-z0-9-]{1,64}$/.test(id)) throw new RangeError(`recording id "${id}" is not a plain identifier`);
    return new RecordingWriter(this, id, channels, path.join(this.opts.spoolDir, `sipflow-recording-${id}.wav`));
  }

  private readonly finishing = new Set<Promise<unknown>>();

  /** Reports how a recording ended (RecordingWriter.finish). */
  outcome(outcome: 'stored' | 'failed'): void { this.opts.onOutcome?.(outcome); }

  /** Keeps track of a recording being stored, so a stopping pod can wait for it (`settle`). */
  track<T>(p: Promise<T>): Promise<T> {
    this.finishing.add(p);
    void p.catch(() => undefined).finally(() => this.finishing.delete(p));
    return p;
  }

  /** Waits (at most `timeoutMs`) for recordings still being stored; true when none is left. */
  async settle(timeoutMs: number): Promise<boolean> {
    const deadline = this.clock.now() + timeoutMs;
    while (this.finishing.size > 0) {
      const left = deadline - this.clock.now();
      if (left <= 0) return false;
      let timer: ReturnType<Clock['setTimeout']> | undefined;
      await Promise.race([
        Promise.allSettled([...this.finishing]),
        new Promise<void>((r) => { timer = this.clock.setTimeout(r, left); }),
      ]);
      this.clock.clearTimeout(timer);
    }
    return true;
  }

  /** PUTs the finished file; resolves the recording's URL. Retries what can succeed on a retry. */
  async upload(id: string, file: string, size: number): Promise<string> {
    const url = `${this.base}/${id}.wav`;
    let last: RecordingUploadError | undefined;
    for (let attempt = 0; attempt < UPLOAD_ATTEMPTS; attempt++) {
      const delays = this.opts.retryDelaysMs ?? RETRY_DELAYS_MS;
      if (attempt > 0) await new Promise<void>((r) => this.clock.setTimeout(r, delays[attempt - 1] ?? 2000));
      try {
        const location = await this.putOnce(url, file, size);
        return location ? new URL(location, url).toString() : url;
      } catch (err) {
        last = err instanceof RecordingUploadError ? err : new RecordingUploadError((err as Error).message);
        const retriable = last.status === undefined || last.status === 408 || last.status === 429 || last.status >= 500;
        this.opts.logger?.warn('recording upload failed', { url: redactUrl(url), attempt: attempt + 1, status: last.status, error: last.message, willRetry: retriable && attempt + 1 < UPLOAD_ATTEMPTS });
        if (!retriable) break;
      }
    }
    throw last ?? new RecordingUploadError('upload failed');
  }

  private putOnce(url: string, file: string, size: number): Promise<string | undefined> {
    return new Promise((resolve, reject) => {
      const u = new URL(url);
      const lib = u.protocol === 'https:' ? https : http;
      const headers: Record<string, string> = { 'content-type': 'audio/wav', 'content-length': String(size) };
      if (this.opts.authorization) headers.authorization = this.opts.authorization;
      let settled = false;
      const done = (err: Error | undefined, location?: string): void => {
        if (settled) return;
        settled = true;
        this.clock.clearTimeout(timer);
        if (err) reject(err); else resolve(location);
      };
      const req = lib.request(u, { method: 'PUT', headers }, (res) => {
        res.resume(); // the body says nothing we need
        const status = res.statusCode ?? 0;
        res.on('end', () => {
          if (status >= 200 && status < 300) done(undefined, typeof res.headers.location === 'string' ? res.headers.location : undefined);
          else done(new RecordingUploadError(`the recording store answered ${status}`, status));
        });
        res.on('error', (err) => done(err));
      });
      const timer = this.clock.setTimeout(() => {
        done(new RecordingUploadError(`no answer from the recording store within ${this.opts.timeoutMs ?? 60_000} ms`));
        req.destroy();
      }, this.opts.timeoutMs ?? 60_000);
      req.on('error', (err) => done(err));
      const body = fs.createReadStream(file);
      body.on('error', (err) => { done(err); req.destroy(); });
      body.pipe(req);
    });
  }
}

/**
 * One recording in progress. Writes are synchronous and cheap (into a one-second buffer); full
 * buffers are appended to the spool file in order. `finish` completes the WAV header and uploads.
 */
export class RecordingWriter implements RecordingSink {
  private chunk: Int16Array;
  private filled = 0;
  private samples = 0;
  private fd: Promise<fs.promises.FileHandle> | undefined;
  /** Appends in order; the first failure is kept and reported by finish(). */
  private writes: Promise<void> = Promise.resolve();
  private failure: Error | undefined;
  private ended = false;
  /** Where the next chunk goes in the spool file (after the 44-byte header). */
  private offset = 44;

  constructor(private readonly store: HttpRecordingStore, readonly id: string, readonly channels: 1 | 2, private readonly file: string) {
    this.chunk = new Int16Array(CHUNK_SAMPLES * channels);
  }

  /** Sample frames written so far (one per 1/8000 s, whatever the channel count). */
  get durationMs(): number { return (this.samples * 1000) / RECORDING_SAMPLE_RATE; }

  /** Mono audio (a recording started with 1 channel). */
  write(pcm: Int16Array): void {
    if (this.ended) return;
    for (let i = 0; i < pcm.length; i++) {
      this.chunk[this.filled++] = pcm[i]!;
      if (this.filled === this.chunk.length) this.flush();
    }
    this.samples += pcm.length;
  }

  /** Stereo audio, left and right of equal length (a recording started with 2 channels). */
  writeStereo(left: Int16Array, right: Int16Array): void {
    if (this.ended) return;
    const n = Math.min(left.length, right.length);
    for (let i = 0; i < n; i++) {
      this.chunk[this.filled++] = left[i]!;
      this.chunk[this.filled++] = right[i]!;
      if (this.filled === this.chunk.length) this.flush();
    }
    this.samples += n;
  }

  private flush(): void {
    if (this.filled === 0) return;
    const bytes = new Uint8Array(this.chunk.buffer, 0, this.filled * 2).slice();
    this.filled = 0;
    this.append(bytes, this.offset);
    this.offset += bytes.length;
  }

  /** Writes at an explicit position (positioned writes do not move the file's own offset). */
  private append(bytes: Uint8Array, position: number): void {
    this.fd ??= this.open();
    const fd = this.fd;
    this.writes = this.writes.then(async () => {
      if (this.failure) return;
      try {
        const h = await fd;
        await h.write(bytes, 0, bytes.length, position);
      } catch (err) {
        this.failure = err as Error;
      }
    });
  }

  private async open(): Promise<fs.promises.FileHandle> {
    const h = await fs.promises.open(this.file, 'w', 0o600);
    await h.write(new Uint8Array(44), 0, 44, 0); // the header, completed by finish()
    return h;
  }

  /** Ends the recording and uploads it; the spool file is gone afterwards either way. */
  finish(): Promise<FinishedRecording> {
    if (this.ended) return Promise.reject(new Error('recording already finished'));
    this.ended = true;
    return this.store.track(this.storeFile());
  }

  private async storeFile(): Promise<FinishedRecording> {
    this.flush();
    const dataBytes = this.samples * this.channels * 2;
    this.append(wavHeaderPcm16(dataBytes, RECORDING_SAMPLE_RATE, this.channels), 0);
    try {
      await this.writes;
      const h = await this.fd!;
      await h.close();
      if (this.failure) throw new RecordingUploadError(`cannot spool the recording: ${this.failure.message}`);
      const url = await this.store.upload(this.id, this.file, 44 + dataBytes);
      this.store.outcome('stored');
      return { url, durationMs: this.durationMs };
    } catch (err) {
      this.store.outcome('failed');
      throw err;
    } finally {
      await fs.promises.rm(this.file, { force: true });
    }
  }
}
