/**
 * Speech recognition for `<GetInput inputType="speech">`: the contract any recognizer meets, and
 * the one the pod ships, a client for a recognition service reached over a WebSocket
 * (`--speech-recognizer-url`). sipflow bundles no recognizer: the pod finds where the caller
 * speaks (endpointing, in the XML engine) and sends just that stretch of audio.
 *
 * The service protocol, one WebSocket per utterance:
 * - pod → service, text: `{"event":"start","encoding":"audio/x-l16","sampleRate":8000,
 *   "language":"en-US","hints":["sales","support"],"speechModel":"default","profanityFilter":false}`
 * - pod → service, binary: the utterance as 16-bit little-endian mono samples at 8 kHz, 20 ms per frame
 * - pod → service, text: `{"event":"stop"}` when the caller has finished speaking
 * - service → pod, text: `{"event":"result","text":"support","confidence":0.87,"final":true}`;
 *   the first final result ends the utterance. Before it, any number of interim ones:
 *   `{"event":"result","final":false,"text":"sup","stable":"","stability":0.4}` (`stable`, the part
 *   that will not change, optional; the rest of `text` is still unstable).
 */

import type { Logger } from '@sipflow/operator/log';
import { AgentSocket, OPEN } from '../stream/agent-socket.js';

export interface RecognitionOptions {
  /** GetInput `language`, e.g. en-US. */
  language: string;
  /** GetInput `hints`: phrases the caller is likely to say. */
  hints: readonly string[];
  speechModel: string;
  profanityFilter: boolean;
}

export interface RecognitionResult {
  /** What was said; '' when nothing was recognized. */
  text: string;
  /** 0–1. */
  confidence: number;
}

/** A transcript in progress: `stable` will not change, `unstable` may. */
export interface InterimResult {
  stable: string;
  unstable: string;
  /** 0–1: how likely `unstable` is to stay as it is. */
  stability: number;
}

/** One utterance being recognized. */
export interface RecognitionSession {
  /** 20 ms of the caller's audio, 8 kHz 16-bit samples (copied; the array may be reused). */
  write(pcm: Int16Array): void;
  /** The utterance is over: resolves with the result, or undefined when the recognizer failed (logged). */
  finish(): Promise<RecognitionResult | undefined>;
  /** Gives up on the utterance (the caller pressed a key, the call ended). */
  abort(): void;
}

export interface SpeechRecognizer {
  /** `onInterim` gets the transcripts in progress, when the recognizer has them. */
  start(opts: RecognitionOptions, onInterim?: (r: InterimResult) => void): RecognitionSession;
  close?(): Promise<void>;
}

export interface WebSocketSpeechRecognizerOptions {
  /** ws:// or wss:// address of the recognition service. */
  url: string;
  /** Headers on the WebSocket upgrade, e.g. Authorization. Never logged. */
  headers?: Readonly<Record<string, string>>;
  logger: Logger;
  /** Opening the connection (default 5 s). */
  connectTimeoutMs?: number;
  /** From the end of the utterance to the final result (default 10 s). */
  resultTimeoutMs?: number;
  /** Audio held while the connection opens or the service is slow (default 60 s, GetInput's longest). */
  maxBufferedMs?: number;
  /** Told how each utterance ended (for a metric). */
  onOutcome?: (outcome: RecognitionOutcome) => void;
}

export type RecognitionOutcome = 'recognized' | 'empty' | 'failed' | 'aborted';

/** A result larger than this is not a transcript. */
const MAX_RESULT_BYTES = 64 * 1024;

export class WebSocketSpeechRecognizer implements SpeechRecognizer {
  constructor(private readonly opts: WebSocketSpeechRecognizerOptions) {
    const u = new URL(opts.url);
    if (u.protocol !== 'ws:' && u.protocol !== 'wss:') throw new Error(`speech recognizer URL must be ws:// or wss://, got ${u.protocol}`);
  }

  start(opts: RecognitionOptions, onInterim?: (r: InterimResult) => void): RecognitionSession {
    return new WebSocketRecognition(this.opts, opts, onInterim);
  }
}

class WebSocketRecognition implements RecognitionSession {
  private readonly socket: AgentSocket | undefined;
  private readonly log: Logger;
  private readonly maxQueued: number;
  /** Frames written before the connection opened. */
  private queued: Buffer[] = [];
  private finished = false;
  private done = false;
  private resultTimer: NodeJS.Timeout | undefined;
  private settle!: (r: RecognitionResult | undefined) => void;
  private readonly result: Promise<RecognitionResult | undefined>;

  constructor(private readonly cfg: WebSocketSpeechRecognizerOptions, opts: RecognitionOptions, private readonly onInterim?: (r: InterimResult) => void) {
    this.log = cfg.logger;
    this.maxQueued = Math.ceil((cfg.maxBufferedMs ?? 60_000) / 20);
    this.result = new Promise((resolve) => { this.settle = resolve; });
    const start = JSON.stringify({
      event: 'start', encoding: 'audio/x-l16', sampleRate: 8000,
      language: opts.language, hints: opts.hints, speechModel: opts.speechModel, profanityFilter: opts.profanityFilter,
    });
    try {
      this.socket = new AgentSocket({ url: cfg.url, headers: cfg.headers ?? {}, maxPayload: MAX_RESULT_BYTES, handshakeTimeoutMs: cfg.connectTimeoutMs ?? 5000 }, {
        open: () => {
          this.socket!.send(start);
          for (const f of this.queued) this.socket!.sendBinary(f);
          this.queued = [];
          if (this.finished) this.socket!.send('{"event":"stop"}');
        },
        message: (data, isBinary) => { if (!isBinary) this.onMessage(data.toString('utf8')); },
        error: (err) => this.fail(`recognizer connection failed: ${err.message}`),
        close: (code) => this.fail(`recognizer closed the connection (${code}) before a final result`),
      });
    } catch (err) {
      this.socket = undefined;
      queueMicrotask(() => this.fail(`recognizer unusable: ${err instanceof Error ? err.message : String(err)}`));
    }
  }

  write(pcm: Int16Array): void {
    if (this.finished || this.done) return;
    const frame = Buffer.allocUnsafe(pcm.length * 2);
    for (let i = 0; i < pcm.length; i++) frame.writeInt16LE(pcm[i]!, i * 2);
    if (this.socket?.readyState === OPEN) { this.socket.sendBinary(frame); return; }
    if (this.queued.length >= this.maxQueued) return; // bounded while the service is not there yet
    this.queued.push(frame);
  }

  finish(): Promise<RecognitionResult | undefined> {
    if (!this.finished && !this.done) {
      this.finished = true;
      if (this.socket?.readyState === OPEN) this.socket.send('{"event":"stop"}');
      this.resultTimer = setTimeout(() => this.fail('no final result in time'), this.cfg.resultTimeoutMs ?? 10_000);
    }
    return this.result;
  }

  abort(): void {
    if (this.done) return;
    this.done = true;
    this.cfg.onOutcome?.('aborted');
    clearTimeout(this.resultTimer);
    this.queued = [];
    this.socket?.terminate();
    this.settle(undefined);
  }

  private onMessage(text: string): void {
    let msg: unknown;
    try { msg = JSON.parse(text); } catch { this.log.warn('recognizer sent a message that is not JSON; ignored', { bytes: text.length }); return; }
    if (typeof msg !== 'object' || msg === null) return;
    const m = msg as Record<string, unknown>;
    if (m.event !== 'result') return;
    const said = typeof m.text === 'string' ? m.text.trim() : '';
    if (m.final !== true) {
      if (this.done || !this.onInterim || said === '') return;
      const stable = typeof m.stable === 'string' && said.startsWith(m.stable.trim()) ? m.stable.trim() : '';
      this.onInterim({ stable, unstable: said.slice(stable.length).trim(), stability: unit(m.stability) });
      return;
    }
    this.succeed({ text: said, confidence: unit(m.confidence) });
  }

  private succeed(r: RecognitionResult): void {
    if (this.done) return;
    this.done = true;
    this.cfg.onOutcome?.(r.text === '' ? 'empty' : 'recognized');
    clearTimeout(this.resultTimer);
    this.socket?.close(1000, 'done');
    this.settle(r);
  }

  private fail(why: string): void {
    if (this.done) return;
    this.done = true;
    this.cfg.onOutcome?.('failed');
    clearTimeout(this.resultTimer);
    this.queued = [];
    this.log.warn('speech recognition failed', { error: why });
    this.socket?.terminate();
    this.settle(undefined);
  }
}

function unit(v: unknown): number {
  return typeof v === 'number' && Number.isFinite(v) ? Math.min(1, Math.max(0, v)) : 0;
}

/** GetInput `hints`: comma-separated phrases, trimmed, empty ones dropped. */
export function parseHints(hints: string | undefined): string[] {
  if (!hints) return [];
  return hints.split(',').map((h) => h.trim()).filter((h) => h.length > 0);
}
