/**
 * One call's audio plumbing: the RTP session, what plays to the caller (a verb's prompt takes
 * precedence over the agent's stream playback), where the caller's audio and DTMF go (the
 * stream bridge, digit collectors), all without allocating per packet.
 */
import type { Logger } from '@sipflow/operator/log';
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

export class CallMedia implements RtpFrameSource {
  private player: ActivePlayer | undefined;
  private bridge: StreamBridge | undefined;
  private readonly collectors = new Set<DigitQueue>();
  private closed = false;
  /** Reused per packet: the stream bridge reads a frame before pushInbound returns. */
  private readonly ulawFrame: { ulaw: Uint8Array } = { ulaw: new Uint8Array(0) };
  private readonly pcmFrame: { pcm: Int16Array } = { pcm: new Int16Array(160) };

  constructor(readonly rtp: RtpSession, private readonly wallNow: () => number, private readonly logger: Logger) {
    rtp.setSource(this);
    // Only onPayload is used: μ-law goes to the bridge as is, and other codecs are decoded here,
    // only while a bridge listens (RtpSession decodes for onAudio on every packet, wanted or not).
    rtp.onPayload = (payload: Uint8Array, codec: Codec, _meta: InboundMeta) => {
      const b = this.bridge;
      if (!b) return;
      if (codec === 'PCMU') {
        this.ulawFrame.ulaw = payload;
        b.pushInbound(this.ulawFrame, this.wallNow());
        return;
      }
      if (this.pcmFrame.pcm.length !== payload.length) this.pcmFrame.pcm = new Int16Array(payload.length);
      decodeFrame(codec, payload, this.pcmFrame.pcm);
      b.pushInbound(this.pcmFrame, this.wallNow());
    };
    rtp.onDtmf = (digit: string) => {
      this.logger.debug('dtmf received', { digit });
      this.bridge?.dtmfReceived(digit, this.wallNow());
      for (const c of this.collectors) c.push(digit);
    };
  }

  /** Called by the RTP pacer every 20 ms. */
  pull(_codec: Codec): Int16Array | Uint8Array | null {
    const p = this.player;
    if (p) {
      const frame = p.source.pullFrame();
      if (frame) return frame;
      this.player = undefined;
      p.done(true);
    }
    const b = this.bridge;
    return b ? b.pullFrame() : null;
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

  attachBridge(bridge: StreamBridge | undefined): void { this.bridge = bridge; }
  get attachedBridge(): StreamBridge | undefined { return this.bridge; }

  collectDigits(): DigitCollection {
    const q = new DigitQueue(() => this.collectors.delete(q));
    this.collectors.add(q);
    return q;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.player?.done(false);
    this.player = undefined;
    for (const c of [...this.collectors]) c.close();
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
  /** Reused per packet: the stream bridge reads a frame before pushInbound returns. */
  private readonly ulawFrame: { ulaw: Uint8Array } = { ulaw: new Uint8Array(0) };
  private readonly pcmFrame: { pcm: Int16Array } = { pcm: new Int16Array(160) };

  constructor(private readonly onClose: () => void) {}

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
