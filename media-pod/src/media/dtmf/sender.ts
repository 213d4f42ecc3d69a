/**
 * DTMF transmission as a per-frame state machine driven by the session's 20 ms pacer: either
 * RFC 4733 event packets (start with marker, continuations, three end packets, one timestamp per
 * press) or, when the peer did not offer telephone-event, in-band dual-tone audio frames.
 */
import { dtmfEventCode, encodeTelephoneEvent, TELEPHONE_EVENT_SIZE } from './telephone-event.js';

export type DtmfMode = 'rfc4733' | 'inband';

export interface DtmfSenderOptions {
  /** Tone length per digit. Default 120 ms (RFC 4733 senders commonly use 100–250). */
  toneMs?: number;
  /** Silence after each digit. Default 80 ms. */
  gapMs?: number;
  /** RFC 4733 volume field (−dBm0). Default 10. */
  volume?: number;
  /** Length of 'w' and 'W' pauses. Defaults 500 and 1000 ms (Plivo's semantics). */
  shortPauseMs?: number;
  longPauseMs?: number;
  /** Most frames (digits, pauses, end markers) that may wait in the queue. Default 1024. */
  maxQueued?: number;
}

export class DtmfDigitError extends Error {
  constructor(readonly digits: string, readonly position: number) {
    super(`DTMF: character ${JSON.stringify(digits[position] ?? '')} at position ${position} is not one of 0-9 * # A-D w W`);
    this.name = 'DtmfDigitError';
  }
}

export class DtmfQueueFullError extends Error {
  constructor(queued: number) {
    super(`DTMF: send queue full (${queued} items)`);
    this.name = 'DtmfQueueFullError';
  }
}

/** What the session should send in the current 20 ms frame. The same object is reused. */
export interface DtmfStep {
  /** 'idle': nothing from DTMF, send normal audio. 'event': an RFC 4733 packet. 'tone': audio. */
  kind: 'idle' | 'event' | 'tone';
  marker: boolean;
  /** RTP timestamp for an 'event' packet (the press's start). */
  timestamp: number;
  /** 4-byte telephone-event payload for 'event'. */
  readonly payload: Uint8Array;
  /** 160 samples of tone for 'tone'. */
  readonly pcm: Int16Array;
}

// Queue item encoding: >= 0 a digit's event code; PAUSE items carry frames in the next slot;
// DONE items carry a callback index.
const PAUSE = -1;
const DONE = -2;

const ROW_HZ = [697, 770, 852, 941];
const COL_HZ = [1209, 1336, 1477, 1633];
/** Keypad layout by event code (0–15 → row, column). */
const KEYPAD = '123A456B789C*0#D';

const FRAME_MS = 20;
const FRAME_SAMPLES = 160;
const TONE_AMPLITUDE = 7000; // per tone, about −13 dBFS: well inside G.711 and detector ranges

export class DtmfSender {
  private readonly toneFrames: number;
  private readonly gapFrames: number;
  private readonly shortPauseFrames: number;
  private readonly longPauseFrames: number;
  private readonly volume: number;
  private readonly maxQueued: number;
  private queue: number[] = [];
  private qHead = 0;
  private readonly doneCallbacks = new Map<number, () => void>();
  private nextDoneId = 1;

  // Current item being played.
  private curEvent = -1;
  private curFrame = 0; // frames of the current digit already produced
  private curTs = 0;
  private pauseLeft = 0;
  private f1 = 0; private f2 = 0;

  readonly step: DtmfStep = { kind: 'idle', marker: false, timestamp: 0, payload: new Uint8Array(TELEPHONE_EVENT_SIZE), pcm: new Int16Array(FRAME_SAMPLES) };

  constructor(public mode: DtmfMode = 'rfc4733', opts: DtmfSenderOptions = {}) {
    this.toneFrames = Math.max(2, Math.round((opts.toneMs ?? 120) / FRAME_MS));
    this.gapFrames = Math.max(1, Math.round((opts.gapMs ?? 80) / FRAME_MS));
    this.shortPauseFrames = Math.round((opts.shortPauseMs ?? 500) / FRAME_MS);
    this.longPauseFrames = Math.round((opts.longPauseMs ?? 1000) / FRAME_MS);
    this.volume = Math.min(63, Math.max(0, opts.volume ?? 10));
    this.maxQueued = opts.maxQueued ?? 1024;
  }

  /** True while digits, pauses or completion callbacks are pending. */
  get active(): boolean {
    return this.curEvent >= 0 || this.pauseLeft > 0 || this.qHead < this.queue.length;
  }

  /** Validates the whole string first (nothing is queued if any character is bad). */
  enqueue(digits: string, done?: () => void): void {
    const items: number[] = [];
    // Complete after the last digit's end packets, before its trailing gap (but after a trailing w/W).
    let doneAt = 0;
    for (let i = 0; i < digits.length; i++) {
      const ch = digits[i]!;
      if (ch === 'w' || ch === 'W') {
        items.push(PAUSE, ch === 'w' ? this.shortPauseFrames : this.longPauseFrames);
        doneAt = items.length;
        continue;
      }
      const code = dtmfEventCode(ch);
      if (code === undefined) throw new DtmfDigitError(digits, i);
      items.push(code);
      doneAt = items.length;
      items.push(PAUSE, this.gapFrames);
    }
    if (this.queue.length - this.qHead + items.length + 2 > this.maxQueued) throw new DtmfQueueFullError(this.queue.length - this.qHead);
    if (done) {
      const id = this.nextDoneId++;
      this.doneCallbacks.set(id, done);
      items.splice(doneAt, 0, DONE, id);
    }
    if (this.qHead > 0 && this.qHead === this.queue.length) { this.queue = []; this.qHead = 0; }
    for (const it of items) this.queue.push(it);
  }

  /** Drops everything pending and runs the completion callbacks (used when the call ends). */
  cancel(): void {
    this.queue = []; this.qHead = 0; this.curEvent = -1; this.pauseLeft = 0;
    const cbs = [...this.doneCallbacks.values()];
    this.doneCallbacks.clear();
    for (const cb of cbs) cb();
  }

  /** Advances one 20 ms frame; `rtpTimestamp` is the timestamp this frame would carry. */
  next(rtpTimestamp: number): DtmfStep {
    const s = this.step;
    s.kind = 'idle'; s.marker = false;
    for (;;) {
      if (this.curEvent >= 0) { this.produce(); break; }
      if (this.pauseLeft > 0) { this.pauseLeft--; break; }
      if (this.qHead >= this.queue.length) break;
      const item = this.queue[this.qHead++]!;
      if (item === PAUSE) { this.pauseLeft = this.queue[this.qHead++]!; continue; }
      if (item === DONE) { this.complete(); continue; }
      this.curEvent = item; this.curFrame = 0; this.curTs = rtpTimestamp;
      const key = KEYPAD.indexOf('0123456789*#ABCD'[item]!);
      this.f1 = ROW_HZ[key >> 2]!; this.f2 = COL_HZ[key & 3]!;
    }
    // Report completion in the frame that finished the work, not one frame later.
    while (this.curEvent < 0 && this.pauseLeft === 0 && this.queue[this.qHead] === DONE) {
      this.qHead++;
      this.complete();
    }
    return s;
  }

  /** Runs the callback whose id is at the queue head (the DONE marker already consumed). */
  private complete(): void {
    const id = this.queue[this.qHead++]!;
    const cb = this.doneCallbacks.get(id);
    this.doneCallbacks.delete(id);
    cb?.();
  }

  private produce(): void {
    const s = this.step;
    const k = this.curFrame++;
    if (this.mode === 'inband') {
      s.kind = 'tone';
      const base = k * FRAME_SAMPLES;
      const w1 = (2 * Math.PI * this.f1) / 8000; const w2 = (2 * Math.PI * this.f2) / 8000;
      for (let i = 0; i < FRAME_SAMPLES; i++) {
        const n = base + i;
        s.pcm[i] = Math.round(TONE_AMPLITUDE * (Math.sin(w1 * n) + Math.sin(w2 * n)));
      }
      if (this.curFrame >= this.toneFrames) this.curEvent = -1;
      return;
    }
    s.kind = 'event';
    s.timestamp = this.curTs;
    s.marker = k === 0;
    const isEnd = k >= this.toneFrames;
    const duration = (isEnd ? this.toneFrames : k + 1) * FRAME_SAMPLES;
    encodeTelephoneEvent({ event: this.curEvent, end: isEnd, volume: this.volume, duration }, s.payload);
    if (k >= this.toneFrames + 2) this.curEvent = -1; // three end packets sent
  }
}
