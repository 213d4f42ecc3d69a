/**
 * Loads the audio file named by a <Play> verb: fetches it over HTTP(S) within a byte and time
 * budget, decodes WAV or MP3 to 8 kHz mono, and keeps recent files in a memory-bounded cache
 * so a prompt played on every call is fetched once, not once per call.
 */
import { createLogger, type Logger } from '@sipflow/operator/log';
import { systemClock, type Clock } from '../clock.js';
import { WorkerAudioDecoder, type AudioDecoder } from './decoder.js';
import { AudioFileError } from './errors.js';
import { fetchBounded, redactUrl } from './http-body.js';
import { PcmCache } from './pcm-cache.js';

/** Plivo's documented limit for <Play> files. */
export const PLAY_MAX_BYTES = 10 * 1024 * 1024;

export interface AudioFetchOptions {
  /** Largest file accepted (default 10 MB). */
  maxBytes?: number;
  /** Deadline for the download (default from the fetcher, 15 s). */
  timeoutMs?: number;
}

export interface FetchedAudio {
  /** Mono int16 at 8 kHz. Shared with the cache: read-only. */
  pcm8k: Int16Array;
  /** True when served from the cache without a request. */
  cached: boolean;
}

export interface AudioFetcherOptions {
  /** Cache budget in samples at 8 kHz (default 30 minutes of audio, about 29 MB). 0 disables caching. */
  cacheMaxSamples?: number;
  /** How long a cached file is trusted before it is fetched again (default 10 minutes). */
  cacheMaxAgeMs?: number;
  /** Longest playable file in seconds, guarding decode memory for highly compressed MP3s (default 1800). */
  maxSeconds?: number;
  defaultTimeoutMs?: number;
  /** Where decoding runs (default: a WorkerAudioDecoder owned, and closed, by this fetcher). */
  decoder?: AudioDecoder;
  clock?: Clock;
  logger?: Logger;
}

export class AudioFetcher {
  private readonly cache: PcmCache;
  private readonly inflight = new Map<string, Promise<Int16Array>>();
  private readonly clock: Clock;
  private readonly log: Logger;
  private readonly maxSeconds: number;
  private readonly defaultTimeoutMs: number;
  private readonly decoder: AudioDecoder;
  private readonly ownsDecoder: boolean;

  constructor(opts: AudioFetcherOptions = {}) {
    this.clock = opts.clock ?? systemClock;
    this.log = opts.logger ?? createLogger('audio-fetcher');
    this.maxSeconds = opts.maxSeconds ?? 1800;
    this.defaultTimeoutMs = opts.defaultTimeoutMs ?? 15_000;
    this.decoder = opts.decoder ?? new WorkerAudioDecoder();
    this.ownsDecoder = !opts.decoder;
    this.cache = new PcmCache({ maxTotalSamples: opts.cacheMaxSamples ?? 8000 * 1800, maxAgeMs: opts.cacheMaxAgeMs ?? 600_000, clock: this.clock });
  }

  /** Fetch and decode `url`. Rejects with AudioFileError; concurrent calls for one URL share a download. */
  async fetchAudio(url: string, opts: AudioFetchOptions = {}): Promise<FetchedAudio> {
    const maxBytes = opts.maxBytes ?? PLAY_MAX_BYTES;
    const hit = this.cache.get(url);
    if (hit) return { pcm8k: hit, cached: true };
    const key = `${maxBytes} ${url}`;
    let p = this.inflight.get(key);
    if (!p) {
      p = this.load(url, maxBytes, opts.timeoutMs ?? this.defaultTimeoutMs).finally(() => this.inflight.delete(key));
      this.inflight.set(key, p);
    }
    return { pcm8k: await p, cached: false };
  }

  private async load(url: string, maxBytes: number, timeoutMs: number): Promise<Int16Array> {
    const res = await fetchBounded({ url, maxBytes, timeoutMs, clock: this.clock });
    if (res.status < 200 || res.status > 299) {
      throw new AudioFileError('http_status', `HTTP ${res.status}`, { url: res.finalUrl, status: res.status });
    }
    const bytes = res.body.length; // read before decode: the body may be transferred to the worker
    let pcm8k: Int16Array;
    try {
      pcm8k = await this.decoder.decode(res.body, { maxSeconds: this.maxSeconds });
    } catch (e) {
      if (e instanceof AudioFileError) throw e.withUrl(res.finalUrl);
      throw new AudioFileError('corrupt', `decoder failed: ${e instanceof Error ? e.message : String(e)}`, { url: res.finalUrl });
    }
    const cached = this.cache.set(url, pcm8k);
    this.log.debug('audio file loaded', { url: redactUrl(url), bytes, seconds: pcm8k.length / 8000, cached });
    return pcm8k;
  }

  /** Stop the decoder worker (if this fetcher created it) and drop the cache. */
  async close(): Promise<void> {
    this.cache.clear();
    if (this.ownsDecoder) await this.decoder.close?.();
  }

  /** Cache statistics, for metrics. */
  cacheStats(): { entries: number; samples: number; hits: number; misses: number } {
    return { entries: this.cache.size, samples: this.cache.totalSamples, hits: this.cache.hits, misses: this.cache.misses };
  }
}
