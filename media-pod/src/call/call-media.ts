/**
 * One call's audio plumbing: the RTP session, what plays to the caller (a verb's prompt takes
 * precedence over the agent's stream playback), where the caller's audio and DTMF go (the
 * stream bridge, digit collectors), all without allocating per packet.
 */
import type { Logger } from '@sipflow/operator/log';
import type { Clock } from '../clock.js';
import type { RtpSession, FrameSource as RtpFrameSource, InboundMeta } from '../media/rtp/index.js';
import { decodeFrame, type Codec } from '../media/codec/index.js';
import type { StreamBridge } from '../stream/index.js';
import type { DigitCollection, FrameSource } from './control.js';

interface ActivePlayer {
  source: FrameSource;
  done: (completed: boolean) => void;
}

/** Pending digits per collector are bounded: a caller cannot grow memory by mashing keys. */
const MAX_PENDING_DIGITS = 64;

/**
 * Caller audio that stops arriving (silence suppression, comfort noise, loss, hold, a caller that
 * sends nothing until it speaks) is replaced by silence once it is this late, so the agent's
 * stream keeps one frame per 20 ms as Plivo's does: voice-activity detectors in agents only notice
 * that the caller stopped talking if they keep receiving audio. Below it, network jitter is left
 * to the jitter buffer and nothing is invented.
 */
export const INBOUND_GAP_FILL_MS = 60;
const FRAME_MS = 20;
const FRAME_SAMPLES = 160;
/** A stall longer than this is not back-filled frame by frame (the agent gets the recent part). */
const MAX_FILL_FRAMES = 10;
/** Packets arriving faster than real time may not push the covered horizon further than this. */
const MAX_COVER_AHEAD_MS = 200;
const SILENCE_FRAME = { silence: 160 } as const;

/**
 * Gaps noticed on a tick are filled a moment later, after the event loop has read the sockets:
 * timers run before I/O, so after a stall the tick would otherwise see every call as silent and
 * put silence in front of audio that is already waiting in the socket. One setImmediate serves
 * every call that needs a look.
 */
const gapChecks = new Set<CallMedia>();
let gapCheckScheduled = false;
function runGapChecks(): void {
  gapCheckScheduled = false;
  const due = [...gapChecks];
  gapChecks.clear();
  for (const m of due) m.fillInboundGap();
}

export interface CallMediaSummary {
  packetsIn: number; packetsOut: number; lost: number; late: number; reordered: number; jitterMs: number;
  foreign: number; invalid: number; dtmfIn: number; dtmfOut: number; latchedTo: string | null; silenceFilled: number;
  /** Ticks missed in pod stalls after which playback resumed late, and frames of audio dropped instead. */
  stallHeld: number; stallDropped: number;
}

export class CallMedia implements RtpFrameSource {
  private player: ActivePlayer | undefined;
  private bridge: StreamBridge | undefined;
  private readonly collectors = new Set<DigitQueue>();
  /** Listeners to the caller's decoded audio (<Wait silence/beep>); empty on almost every call. */
  private readonly listeners = new Set<(pcm: Int16Array) => void>();
  private readonly listenPcm = { pcm: new Int16Array(FRAME_SAMPLES) };
  /** Recordings' taps (<Record>); empty on almost every call. */
  private recorders: SessionTap[] = [];
  private closed = false;
  /** Reused per packet: the stream bridge reads a frame before pushInbound returns. */
  private readonly ulawFrame: { ulaw: Uint8Array } = { ulaw: new Uint8Array(0) };
  private readonly pcmFrame: { pcm: Int16Array } = { pcm: new Int16Array(160) };
  /** Caller audio waiting to fill a 20 ms frame (only for callers whose packets are not 20 ms). */
  private readonly pending = new Uint8Array(FRAME_SAMPLES);
  private pendingBytes = 0;
  /** Monotonic time up to which the caller's audio has reached the bridge (real or filled). */
  private inboundCoveredUntil = 0;
  /** In a gap: fill every tick rather than waiting for the threshold again. */
  private filling = false;
  private silenceFramesFilledCount = 0;
  /** A played μ-law frame decoded for the recordings. */
  private readonly playedPcm = new Int16Array(FRAME_SAMPLES);

  constructor(readonly rtp: RtpSession, private readonly clock: Clock, private readonly logger: Logger) {
    rtp.setSource(this);
    // Only onPayload is used: μ-law goes to the bridge as is, and other codecs are decoded here,
    // only while a bridge listens (RtpSession decodes for onAudio on every packet, wanted or not).
    rtp.onPayload = (payload: Uint8Array, codec: Codec, _meta: InboundMeta) => {
      if (this.listeners.size > 0) this.toListeners(payload, codec);
      if (this.recorders.length > 0) for (const r of this.recorders) r.heard(payload, codec);
      const b = this.bridge;
      if (!b) return;
      // G.711: one byte per sample, 8 samples per ms.
      const now = this.clock.now();
      this.inboundCoveredUntil = Math.min(Math.max(this.inboundCoveredUntil, now) + payload.length / 8, now + MAX_COVER_AHEAD_MS);
      this.filling = false;
      if (payload.length === FRAME_SAMPLES && this.pendingBytes === 0) this.pushFrame(b, payload, codec);
      else this.reframe(b, payload, codec);
    };
    rtp.onDtmf = (digit: string) => this.digitReceived(digit, 'rfc4733');
  }

  private pushFrame(b: StreamBridge, payload: Uint8Array, codec: Codec): void {
    if (codec === 'PCMU') {
      this.ulawFrame.ulaw = payload;
      b.pushInbound(this.ulawFrame, this.clock.wallNow());
      return;
    }
    if (this.pcmFrame.pcm.length !== payload.length) this.pcmFrame.pcm = new Int16Array(payload.length);
    decodeFrame(codec, payload, this.pcmFrame.pcm);
    b.pushInbound(this.pcmFrame, this.clock.wallNow());
  }

  /**
   * Callers that packetize at 10, 30, 40 … ms: the agent still gets 20 ms frames, as from Plivo
   * (agents and Plivo's SDKs expect 160-sample frames). G.711 is one byte per sample, so the
   * payload bytes are regrouped before decoding.
   */
  private reframe(b: StreamBridge, payload: Uint8Array, codec: Codec): void {
    let at = 0;
    while (at < payload.length) {
      const take = Math.min(FRAME_SAMPLES - this.pendingBytes, payload.length - at);
      this.pending.set(payload.subarray(at, at + take), this.pendingBytes);
      this.pendingBytes += take;
      at += take;
      if (this.pendingBytes === FRAME_SAMPLES) {
        this.pendingBytes = 0;
        this.pushFrame(b, this.pending, codec);
      }
    }
  }

  private toListeners(payload: Uint8Array, codec: Codec): void {
    if (this.listenPcm.pcm.length !== payload.length) this.listenPcm.pcm = new Int16Array(payload.length);
    const pcm = decodeFrame(codec, payload, this.listenPcm.pcm);
    for (const l of this.listeners) l(pcm);
  }

  /**
   * Recording: every 20 ms tick, the caller's audio of that tick (silence where none arrived, so a
   * recording keeps real time) and what the pod played to the caller in it, until the returned
   * function is called. The arrays are reused.
   */
  record(onFrame: (caller: Int16Array, played: Int16Array) => void): () => void {
    if (this.closed) return () => undefined;
    const tap = new SessionTap(onFrame);
    this.recorders = [...this.recorders, tap];
    return () => { this.recorders = this.recorders.filter((t) => t !== tap); };
  }

  /** Hands the caller's audio, decoded, to `onAudio` until the returned function is called. */
  listen(onAudio: (pcm: Int16Array) => void): () => void {
    if (!this.closed) this.listeners.add(onAudio);
    return () => { this.listeners.delete(onAudio); };
  }

  /** A key press from the caller (RFC 4733 events, or SIP INFO): to the stream and any digit collector. */
  digitReceived(digit: string, via: 'rfc4733' | 'sip-info'): void {
    if (this.closed) return;
    let redact = false;
    for (const c of this.collectors) redact ||= c.redact;
    this.logger.debug('dtmf received', { digit: redact ? '(redacted: log="false")' : digit, via });
    this.bridge?.dtmfReceived(digit, this.clock.wallNow());
    for (const c of this.collectors) c.push(digit);
  }

  /** Called by the RTP pacer every 20 ms, and for frames it drops after a stall (`dropped`). */
  pull(codec: Codec, dropped = false): Int16Array | Uint8Array | null {
    if (this.bridge && this.clock.now() - this.inboundCoveredUntil >= (this.filling ? FRAME_MS : INBOUND_GAP_FILL_MS)) {
      gapChecks.add(this);
      if (!gapCheckScheduled) { gapCheckScheduled = true; setImmediate(runGapChecks); }
    }
    const frame = this.nextFrame(codec);
    if (this.recorders.length > 0 && !dropped) {
      // Recordings take PCM: a μ-law frame from the stream is decoded for them.
      const played = frame instanceof Uint8Array ? decodeFrame('PCMU', frame, this.playedPcm) : frame;
      for (const r of this.recorders) r.tick(played);
    }
    return frame;
  }

  /** The pacer missed ticks: recordings get them back once the caller's audio of that time arrives. */
  skipped(ticks: number): void {
    for (const r of this.recorders) r.gap(ticks);
  }

  private nextFrame(codec: Codec): Int16Array | Uint8Array | null {
    const p = this.player;
    if (p) {
      const frame = p.source.pullFrame();
      if (frame) return frame;
      this.player = undefined;
      p.done(true);
    }
    const b = this.bridge;
    return b ? b.pullFrame(codec) : null;
  }

  /** Plays a source to the caller; resolves true when it ran out, false when cut short. */
  play(source: FrameSource, until?: AbortSignal): Promise<boolean> {
    if (this.closed) return Promise.resolve(false);
    this.player?.done(false);
    return new Promise<boolean>((resolve) => {
      let settled = false;
      const onAbort = () => finish(false);
      const finish = (completed: boolean) => {
        if (settled) return;
        settled = true;
        until?.removeEventListener('abort', onAbort);
        if (this.player === player) this.player = undefined;
        resolve(completed);
      };
      const player: ActivePlayer = { source, done: finish };
      this.player = player;
      if (until) {
        if (until.aborted) { finish(false); return; }
        until.addEventListener('abort', onAbort, { once: true });
      }
    });
  }

  attachBridge(bridge: StreamBridge | undefined): void {
    this.bridge = bridge;
    if (bridge) this.inboundCoveredUntil = Math.max(this.inboundCoveredUntil, this.clock.now());
  }

  /** What the call's media did, for the end-of-call log line and metrics. */
  summary(): CallMediaSummary {
    const s = this.rtp.stats();
    return {
      packetsIn: s.packetsIn, packetsOut: s.packetsOut, lost: s.lost, late: s.late, reordered: s.reordered,
      jitterMs: Math.round(s.jitterMs * 10) / 10, foreign: s.foreign, invalid: s.invalid, dtmfIn: s.dtmfIn, dtmfOut: s.dtmfOut,
      latchedTo: s.latchedTo ? `${s.latchedTo.address}:${s.latchedTo.port}` : null, silenceFilled: this.silenceFramesFilledCount,
      stallHeld: s.stallHeld, stallDropped: s.stallDropped,
    };
  }

  /** Silence frames sent to the agent in place of caller audio that did not arrive. */
  get silenceFramesFilled(): number { return this.silenceFramesFilledCount; }

  /** Sends silence for caller audio that is overdue (see INBOUND_GAP_FILL_MS); run after I/O. */
  fillInboundGap(): void {
    const bridge = this.bridge;
    if (!bridge || this.closed) return;
    const now = this.clock.now();
    const late = now - this.inboundCoveredUntil;
    if (late < (this.filling ? FRAME_MS : INBOUND_GAP_FILL_MS)) return;
    this.filling = true;
    let frames = Math.floor(late / FRAME_MS);
    if (frames > MAX_FILL_FRAMES) {
      this.inboundCoveredUntil = now - MAX_FILL_FRAMES * FRAME_MS;
      frames = MAX_FILL_FRAMES;
    }
    const wall = this.clock.wallNow();
    for (let i = 0; i < frames; i++) bridge.pushInbound(SILENCE_FRAME, wall);
    this.inboundCoveredUntil += frames * FRAME_MS;
    this.silenceFramesFilledCount += frames;
  }

  get attachedBridge(): StreamBridge | undefined { return this.bridge; }

  collectDigits(opts: { redact?: boolean } = {}): DigitCollection {
    const q = new DigitQueue(opts.redact === true, () => this.collectors.delete(q));
    this.collectors.add(q);
    return q;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.player?.done(false);
    this.player = undefined;
    for (const c of [...this.collectors]) c.close();
    this.listeners.clear();
    this.recorders = [];
    this.bridge = undefined;
    this.rtp.setSource(null);
    this.rtp.onAudio = undefined;
    this.rtp.onPayload = undefined;
    this.rtp.onDtmf = undefined;
    this.rtp.close();
  }
}

class DigitQueue implements DigitCollection {
  private readonly digits: string[] = [];
  private waiter: ((d: string | null) => void) | undefined;
  private timer: NodeJS.Timeout | undefined;
  private anyWaiters: Array<() => void> = [];
  private closed = false;

  constructor(readonly redact: boolean, private readonly onClose: () => void) {}

  push(d: string): void {
    if (this.closed) return;
    if (this.waiter) { const w = this.waiter; this.clearWait(); w(d); }
    else if (this.digits.length < MAX_PENDING_DIGITS) this.digits.push(d);
    const any = this.anyWaiters; this.anyWaiters = [];
    for (const a of any) a();
  }

  next(timeoutMs: number): Promise<string | null> {
    if (this.closed) return Promise.resolve(null);
    const d = this.digits.shift();
    if (d !== undefined) return Promise.resolve(d);
    return new Promise((resolve) => {
      this.waiter = resolve;
      this.timer = setTimeout(() => { this.clearWait(); resolve(null); }, Math.max(0, timeoutMs));
      this.timer.unref();
    });
  }

  pending(): number { return this.digits.length; }

  whenAny(): Promise<void> {
    if (this.digits.length > 0 || this.closed) return Promise.resolve();
    return new Promise((resolve) => this.anyWaiters.push(resolve));
  }

  private clearWait(): void { clearTimeout(this.timer); this.timer = undefined; this.waiter = undefined; }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    const w = this.waiter; this.clearWait(); w?.(null);
    const any = this.anyWaiters; this.anyWaiters = [];
    for (const a of any) a();
    this.onClose();
  }
}

/**
 * Lines the caller's audio up with the pod's 20 ms ticks for a recording: packets go into a short
 * queue (60 ms, or two packets for callers that send longer ones, so a burst or a drifting clock
 * cannot delay the recording for good) and each tick takes one frame from it, or silence when the
 * caller sent nothing.
 */
/** A stall's worth of caller audio a recording waits for is at most this many frames (1 s). */
const MAX_GAP_FRAMES = 50;
/** Ticks after a stall during which the caller's delayed packets may still arrive. */
const GAP_GRACE_TICKS = 5;
/** Caller audio a tap holds in the normal run of ticks, in frames. */
const TAP_FRAMES = 3;

/**
 * Pairs the caller's audio with what was played, one frame per tick. A pacer stall misses ticks:
 * the caller's packets of that time arrive afterwards in a burst, and the tap writes them out as
 * frames of their own (with silence as the played side, since nothing was played then), so a
 * recording keeps the caller's words and its real time.
 */
class SessionTap {
  private queue = new Int16Array(FRAME_SAMPLES * TAP_FRAMES);
  private queued = 0;
  private decoded = new Int16Array(FRAME_SAMPLES);
  private readonly caller = new Int16Array(FRAME_SAMPLES);
  private readonly played = new Int16Array(FRAME_SAMPLES);
  private readonly silence = new Int16Array(FRAME_SAMPLES);
  /** Frames of missed ticks still to be written once the caller's audio of them arrives. */
  private owed = 0;
  private owedTicks = 0;

  constructor(private readonly onFrame: (caller: Int16Array, played: Int16Array) => void) {}

  heard(payload: Uint8Array, codec: Codec): void {
    // G.711: one sample per byte; RTP payloads are bounded by the datagram, so this stays small.
    const n = payload.length;
    if (this.decoded.length < n) this.decoded = new Int16Array(n);
    const limit = Math.max(FRAME_SAMPLES * (TAP_FRAMES + this.owed), 2 * n);
    if (this.queue.length < limit) {
      const bigger = new Int16Array(limit);
      bigger.set(this.queue.subarray(0, this.queued));
      this.queue = bigger;
    }
    const pcm = decodeFrame(codec, payload, this.decoded.subarray(0, n));
    this.keep(limit - n);
    this.queue.set(pcm, this.queued);
    this.queued += n;
    this.settle();
  }

  /** The pacer missed `ticks` ticks. */
  gap(ticks: number): void {
    this.owed = Math.min(this.owed + ticks, MAX_GAP_FRAMES);
    this.owedTicks = GAP_GRACE_TICKS;
  }

  tick(frame: Int16Array | null): void {
    this.settle();
    this.emit(frame && frame.length === FRAME_SAMPLES ? frame : null);
    if (this.owedTicks > 0 && --this.owedTicks === 0) {
      this.owed = 0;
      this.keep(FRAME_SAMPLES * TAP_FRAMES); // back to the normal bound: a backlog left now would delay the caller for good
    }
  }

  /** Writes owed frames while more than the next tick's audio is waiting. */
  private settle(): void {
    while (this.owed > 0 && this.queued >= 2 * FRAME_SAMPLES) {
      this.owed--;
      this.emit(this.silence);
    }
  }

  /** One frame: the oldest caller audio (silence where there is none) and `played`. */
  private emit(played: Int16Array | null): void {
    const take = Math.min(FRAME_SAMPLES, this.queued);
    this.caller.set(this.queue.subarray(0, take));
    this.caller.fill(0, take);
    this.queue.copyWithin(0, take, this.queued);
    this.queued -= take;
    if (played) this.played.set(played);
    else this.played.fill(0);
    this.onFrame(this.caller, this.played);
  }

  /** Drops the oldest caller audio beyond `max` samples. */
  private keep(max: number): void {
    const overflow = this.queued - max;
    if (overflow > 0) {
      this.queue.copyWithin(0, overflow, this.queued);
      this.queued -= overflow;
    }
  }
}
