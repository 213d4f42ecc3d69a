/**
 * The contract every text-to-speech backend meets for <Speak>, so the built-in flite engine
 * can be swapped for an external service, plus a caching layer that works with any of them.
 */
import { resample } from '../media/codec/resample.js';
import { PcmCache } from '../audio/pcm-cache.js';

export interface SpeechOptions {
  /** Plivo voice attribute: WOMAN, MAN, Polly.<Name>, or whatever a custom engine understands. */
  voice: string;
  /** Plivo language attribute, e.g. en-US. */
  language: string;
}

export interface SynthesizedSpeech {
  /** Mono int16 samples. */
  pcm: Int16Array;
  sampleRate: number;
}

export interface SpeechEngine {
  synthesize(text: string, opts: SpeechOptions): Promise<SynthesizedSpeech>;
  /** Release workers, sockets, etc. Pending syntheses reject. */
  close?(): Promise<void>;
}

export type SpeechErrorCause =
  | 'text_too_long' // over the engine's text limit
  | 'overloaded' // queue full: shed instead of letting the backlog grow
  | 'timeout'
  | 'unavailable' // engine or service cannot be reached / crashed / closed
  | 'bad_response' // the engine produced something that is not usable audio
  | 'failed'; // the engine reported an error

export class SpeechError extends Error {
  override readonly name = 'SpeechError';
  override readonly cause: SpeechErrorCause;
  constructor(cause: SpeechErrorCause, message: string) {
    super(message);
    this.cause = cause;
  }
}

/** Convert a synthesis result to the 8 kHz the telephone leg plays. */
export function speechToPcm8k(s: SynthesizedSpeech): Int16Array {
  return s.sampleRate === 8000 ? s.pcm : resample(s.pcm, s.sampleRate, 8000);
}

export interface CachingSpeechEngineOptions {
  /** Budget in samples at 8 kHz (default 10 minutes of prompts, about 9.6 MB). */
  maxTotalSamples?: number;
}

/**
 * Wraps any SpeechEngine with an LRU of prompts keyed by (voice, language, text), stored at
 * 8 kHz: IVR menus repeat the same sentences on every call, and 8 kHz is all that is played.
 * Results are always 8 kHz and shared with the cache (read-only). Concurrent identical requests
 * share one synthesis.
 */
export class CachingSpeechEngine implements SpeechEngine {
  private readonly cache: PcmCache;
  private readonly inflight = new Map<string, Promise<Int16Array>>();
  constructor(private readonly inner: SpeechEngine, opts: CachingSpeechEngineOptions = {}) {
    this.cache = new PcmCache({ maxTotalSamples: opts.maxTotalSamples ?? 8000 * 600 });
  }

  async synthesize(text: string, opts: SpeechOptions): Promise<SynthesizedSpeech> {
    const key = JSON.stringify([opts.voice, opts.language, text]);
    const hit = this.cache.get(key);
    if (hit) return { pcm: hit, sampleRate: 8000 };
    let p = this.inflight.get(key);
    if (!p) {
      p = this.inner.synthesize(text, opts).then((s) => {
        const pcm = speechToPcm8k(s);
        this.cache.set(key, pcm);
        return pcm;
      }).finally(() => this.inflight.delete(key));
      this.inflight.set(key, p);
    }
    return { pcm: await p, sampleRate: 8000 };
  }

  cacheStats(): { entries: number; samples: number; hits: number; misses: number } {
    return { entries: this.cache.size, samples: this.cache.totalSamples, hits: this.cache.hits, misses: this.cache.misses };
  }

  async close(): Promise<void> { this.cache.clear(); await this.inner.close?.(); }
}

/**
 * An external TTS service first, the built-in engine when it fails: a prompt in another voice
 * beats a call that ends because its greeting could not be made. The primary's failures are
 * logged (with their cause) and reported through `onFallback`; a text the primary refuses as too
 * long is not retried elsewhere.
 */
export class FallbackSpeechEngine implements SpeechEngine {
  constructor(
    private readonly primary: SpeechEngine,
    private readonly fallback: SpeechEngine,
    private readonly onFallback: (err: SpeechError | Error) => void,
  ) {}

  async synthesize(text: string, opts: SpeechOptions): Promise<SynthesizedSpeech> {
    try {
      return await this.primary.synthesize(text, opts);
    } catch (err) {
      if (err instanceof SpeechError && err.cause === 'text_too_long') throw err;
      this.onFallback(err instanceof Error ? err : new Error(String(err)));
      return this.fallback.synthesize(text, opts);
    }
  }

  async close(): Promise<void> {
    await Promise.all([this.primary.close?.(), this.fallback.close?.()]);
  }
}
