/**
 * What the XML engine may do to a live call. The signalling/media side implements it
 * (call/session.ts); the engine (call/xml-engine.ts) only sequences verbs, so it can be tested
 * with a scripted stand-in and never touches sockets.
 */

import type { SpeechRecognizer } from '../speech/recognizer.js';
import type { RecordingStore } from '../recording/store.js';

/** A hangup cause as Plivo reports it to hangup_url. */
export interface HangupCause {
  code: number;
  name: string;
  /** The legacy HangupCause string (NORMAL_CLEARING, ...). */
  legacy: string;
  /** Plivo's HangupSource: Caller, Plivo, Answer XML, Error, ... */
  source: string;
  /** Free-text detail for logs (never sent to callers). */
  detail?: string;
}

/** A source of 20 ms, 8 kHz PCM frames played to the caller. */
export interface FrameSource {
  /** Next 160-sample frame, or null when the source has finished. */
  pullFrame(): Int16Array | null;
}

export interface XmlFetchResult {
  ok: boolean;
  xml?: string;
  /** Why the fetch failed, for the hangup cause detail. */
  cause?: string;
  detail?: string;
}

export interface DigitCollection {
  /** Abort signal-aware wait for the next DTMF digit; resolves null on timeout. */
  next(timeoutMs: number): Promise<string | null>;
  /** Digits received so far but not yet taken. */
  pending(): number;
  /** Resolves once at least one digit is pending (the caller started typing). */
  whenAny(): Promise<void>;
  close(): void;
}

export interface StreamHandle {
  /** Resolves when the WebSocket is gone, for whatever reason. */
  readonly closed: Promise<{ by: 'agent' | 'platform' | 'error'; detail?: string }>;
}

export interface CallControl {
  readonly callUuid: string;
  readonly answered: boolean;
  /** Aborted the moment the call ends (remote BYE, CANCEL, media timeout, shutdown). */
  readonly signal: AbortSignal;
  /** Sends 200 OK with the SDP answer (idempotent) and resolves when the ACK arrives. */
  answer(): Promise<void>;
  /**
   * Sends 183 Session Progress with SDP so early media can flow (idempotent). Resolves false when
   * early media is impossible: the INVITE carried no SDP offer, so ours can only go in the 200 OK.
   */
  preAnswer(): Promise<boolean>;
  /** Plays frames until the source ends; resolves false if interrupted (call ended or `until` aborted). */
  play(source: FrameSource, until?: AbortSignal): Promise<boolean>;
  /** Builds a frame source speaking the text. */
  speech(text: string, voice: string, language: string): Promise<FrameSource>;
  /** Builds a frame source playing an audio file from a URL. */
  audioFile(url: string): Promise<FrameSource>;
  /**
   * Starts collecting DTMF digits from now on. `redact` (GetDigits/GetInput log="false") keeps
   * the digits out of the pod's logs while this collection is open (PINs, card numbers).
   */
  collectDigits(opts?: { redact?: boolean }): DigitCollection;
  /** Sends digits as RFC 4733 events (`w` = 0.5 s, `W` = 1 s pause). */
  sendDtmf(digits: string): Promise<void>;
  /** Opens the <Stream> WebSocket; throws when it cannot be opened after its retries. */
  startStream(verb: unknown): Promise<StreamHandle>;
  /** Fetches XML from a Redirect or action URL with the call's standard parameters plus `extra`. */
  fetchXml(url: string, method: 'GET' | 'POST', extra: Record<string, string>, purpose: 'redirect' | 'action'): Promise<XmlFetchResult>;
  /** Ends the call: a final response before answer, BYE after. Idempotent. */
  hangup(cause: HangupCause): void;
  /** Rejects an unanswered call with a SIP status (busy/rejected). */
  reject(status: number, reason: string, cause: HangupCause): void;
  /** Waits, resolving false if the call ended first. */
  sleep(ms: number): Promise<boolean>;
  /**
   * Hands every packet of the caller's audio, decoded to 8 kHz 16-bit samples, to `onAudio`
   * until the returned function is called. The array is reused: read it before returning.
   */
  listen(onAudio: (pcm: Int16Array) => void): () => void;
  /**
   * A notification about the call (GetInput's interim speech results): the call's standard
   * parameters plus `extra`, sent in the background, retried, never awaited.
   */
  notify(url: string, method: 'GET' | 'POST', extra: Record<string, string>, purpose: string): void;
  /** GetInput's speech recognizer; absent when the pod has none. */
  readonly speechRecognizer?: SpeechRecognizer | undefined;
  /**
   * Recording: every 20 ms, the caller's audio (silence where none arrived) and what was played
   * to the caller (8 kHz frames, reused arrays), until the returned function is called.
   */
  record(onFrame: (caller: Int16Array, played: Int16Array) => void): () => void;
  /** Where <Record> stores recordings; absent when the pod has no store. */
  readonly recordings?: RecordingStore | undefined;
}
