/**
 * A <Speak> engine that delegates to an external TTS service over HTTP, for operators who want
 * better voices or other languages than flite offers. Contract: POST JSON
 * `{"text","voice","language"}` to the configured URL; answer 200 with a WAV body (any PCM,
 * float or G.711 format, any rate, mono or stereo).
 */
import { systemClock, type Clock } from '../clock.js';
import { AudioFileError } from '../audio/errors.js';
import { fetchBounded, redactUrl } from '../audio/http-body.js';
import { decodeWav } from '../audio/wav.js';
import { SpeechError, type SpeechEngine, type SpeechOptions, type SynthesizedSpeech } from './engine.js';

export interface HttpSpeechEngineOptions {
  /** http(s) URL of the service. */
  url: string;
  /** Extra request headers, e.g. an API key. Never logged. */
  headers?: Record<string, string>;
  /** Whole-request deadline (default 15 s). */
  timeoutMs?: number;
  /** Largest WAV accepted (default 32 MB). */
  maxResponseBytes?: number;
  /** Longest text sent (default 4000 characters). */
  maxTextLength?: number;
  /** Requests in flight at once (default 8); more reject with `overloaded`. */
  maxConcurrent?: number;
  clock?: Clock;
}

export class HttpSpeechEngine implements SpeechEngine {
  private inFlight = 0;
  private readonly shownUrl: string;

  constructor(private readonly opts: HttpSpeechEngineOptions) {
    const u = new URL(opts.url); // fail at configuration time, not on the first call
    if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new Error(`TTS service URL must be http(s), got ${u.protocol}`);
    this.shownUrl = redactUrl(opts.url);
  }

  async synthesize(text: string, opts: SpeechOptions): Promise<SynthesizedSpeech> {
    const maxText = this.opts.maxTextLength ?? 4000;
    if (text.length > maxText) throw new SpeechError('text_too_long', `text is ${text.length} characters; the limit is ${maxText}`);
    if (this.inFlight >= (this.opts.maxConcurrent ?? 8)) throw new SpeechError('overloaded', `${this.inFlight} TTS requests already in flight to ${this.shownUrl}`);
    this.inFlight++;
    try {
      const res = await fetchBounded({
        url: this.opts.url,
        method: 'POST',
        headers: { ...this.opts.headers, 'content-type': 'application/json', accept: 'audio/wav' },
        body: JSON.stringify({ text, voice: opts.voice, language: opts.language }),
        maxBytes: this.opts.maxResponseBytes ?? 32 * 1024 * 1024,
        timeoutMs: this.opts.timeoutMs ?? 15_000,
        clock: this.opts.clock ?? systemClock,
      });
      if (res.status !== 200) throw new SpeechError('failed', `TTS service ${this.shownUrl} answered HTTP ${res.status}`);
      const { pcm, sampleRate } = decodeWav(res.body, { allowEmpty: true });
      return { pcm, sampleRate };
    } catch (e) {
      if (e instanceof SpeechError) throw e;
      if (e instanceof AudioFileError) {
        const cause = e.cause === 'unreachable' ? (e.timedOut ? 'timeout' : 'unavailable') : 'bad_response';
        throw new SpeechError(cause, `TTS service ${this.shownUrl}: ${e.detail}`);
      }
      throw e;
    } finally {
      this.inFlight--;
    }
  }
}
