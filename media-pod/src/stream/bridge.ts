/**
 * One `<Stream>` on a call: the media pod dials the agent's WebSocket, forwards the caller's
 * audio and DTMF in Plivo's stream protocol, and (when bidirectional) queues the agent's
 * playAudio for the media pacer, answering checkpoints and clearAudio as Plivo does.
 */

import { randomUUID } from 'node:crypto';
import { AgentSocket, OPEN as WS_OPEN, CLOSED as WS_CLOSED, type AgentSocketError } from './agent-socket.js';
import type { Logger } from '@sipflow/operator/log';
import type { Clock, TimerHandle } from '../clock.js';
import { PlaybackQueue, type Samples } from './playback-queue.js';
import type { Codec } from '../media/codec/index.js';
import {
  DTMF_DIGIT, isUuid, parseAgentMessage, streamFormatOf, tracksOf,
  type AudioTrackSetting, type StreamCloseInfo, type StreamContentType, type StreamFormat,
  type StreamStatusEvent, type StreamStopReason, type StreamTrack,
} from './protocol.js';
import { ControlMessages, MediaMessageEncoder, buildStartMessage, type CallAudioFrame } from './wire-messages.js';
import { ulawDecode, ulawEncode, ulawToLinear } from '../media/codec/g711.js';
import { NoiseSuppressor } from '../media/analysis/noise-suppressor.js';
import { decodeBase64Into, PlayAudioReader } from './play-audio-scan.js';
import { createDownsampleState, downsample16kTo8k, type ResamplerState } from '../media/codec/resample.js';

export interface StreamBridgeOptions {
  /** The `<Stream>` URL (ws:// or wss://, query string kept). */
  readonly url: string;
  /** The call's CallUUID. */
  readonly callId: string;
  /** Generated (UUID v4) when absent. */
  readonly streamId?: string;
  /** Sent as `start.accountId`; an empty string when absent (the Node SDK requires a string). */
  readonly accountId?: string;
  readonly bidirectional: boolean;
  readonly audioTrack: AudioTrackSetting;
  readonly contentType: StreamContentType;
  readonly streamTimeoutSec: number;
  /** The `extraHeaders` attribute, echoed verbatim (empty string when none). */
  readonly extraHeaders: string;
  /** Headers for the WebSocket upgrade (the V3 signature), computed afresh for each attempt. */
  readonly upgradeHeaders?: (url: string) => Record<string, string>;
  /** wss:// trust anchors beyond Node's own store (tests; deployments use NODE_EXTRA_CA_CERTS). */
  readonly tlsCa?: string | Buffer;
  readonly clock: Clock;
  readonly logger: Logger;
  /** Largest message accepted from the agent; bigger ones close the stream with 1009. */
  readonly maxMessageBytes?: number;
  /** Playback queue cap. */
  readonly maxQueuedMs?: number;
  /**
   * The call sends PCMU: queue the agent's audio as μ-law bytes, so μ-law playAudio goes to RTP
   * as it came, without a decode and an encode per frame. Default false (PCM).
   */
  readonly ulawPlayback?: boolean;
  /** Extra connection attempts after the first fails to open. */
  readonly connectRetries?: number;
  /** First retry delay; doubles per retry. */
  readonly connectBackoffMs?: number;
  /** Upgrade handshake timeout per attempt. */
  readonly connectTimeoutMs?: number;
  /**
   * Connection attempts after an open stream's connection breaks (no close frame, or the agent
   * closes with 1001 going away, 1011, 1012 service restart or 1013 try again later), so a call
   * survives an agent pod being replaced. The new connection gets a fresh `start` (sequence
   * numbers from 1, the same streamId); audio queued from the old one is dropped. 0 keeps
   * Plivo's behaviour (the stream ends). Default 2; at most 5 reconnections per stream.
   */
  readonly reconnectAttempts?: number;
  /** Bytes allowed to sit unsent in the socket before media frames are dropped. */
  readonly maxBufferedBytes?: number;
  /** How long the agent may stay stalled (media being dropped) before the stream is dropped. */
  readonly stallLimitMs?: number;
  /** How long stop() waits for the agent's close frame before cutting the TCP connection. */
  readonly closeTimeoutMs?: number;
  /**
   * When the agent closes the socket cleanly, play out the audio it had already queued before the
   * stream counts as closed (default true): an agent's last words ("goodbye") are typically sent
   * just before it hangs up, and cutting them would be audible. Bounded by maxQueuedMs.
   */
  readonly drainOnAgentClose?: boolean;
  /** Plays DTMF into the call (agent's sendDTMF). */
  readonly sendDtmf: (digits: string) => void;
  readonly onStatus?: (event: StreamStatusEvent) => void;
  /**
   * `noiseCancellation="true"`: the caller's audio is cleaned of steady background noise before
   * it is streamed, at this `noiseCancellationLevel` (60–100). Absent: the audio goes as it came.
   */
  readonly noiseCancellationLevel?: number;
}

export type StreamConfigProblem = 'bad_url' | 'bad_content_type' | 'track_conflict' | 'bad_timeout';

/** The `<Stream>` settings cannot be honoured; thrown by the constructor. */
export class StreamConfigError extends Error {
  override readonly name = 'StreamConfigError';
  constructor(readonly problem: StreamConfigProblem, message: string) { super(message); }
}

/** The agent's WebSocket could not be opened, after all retries. */
export class StreamConnectError extends Error {
  override readonly name = 'StreamConnectError';
  constructor(readonly url: string, readonly attempts: number, readonly lastError: string) {
    super(`stream to ${url} failed to open after ${attempts} attempt(s): ${lastError}`);
  }
}

/** `draining`: the agent closed cleanly; its queued audio is still playing into the call. */
type BridgeState = 'idle' | 'connecting' | 'open' | 'draining' | 'closing' | 'closed';

/** Counters for metrics and tests. */
export interface StreamBridgeStats {
  /** Text frames from the agent that were looked at (including ignored ones). */
  agentMessages: number;
  mediaSent: number;
  mediaDropped: number;
  playAudioReceived: number;
  playbackDroppedMs: number;
  ignoredMessages: number;
  /** Times the stream's connection broke and a new one took over. */
  reconnects: number;
}

/** Close codes after which an agent is worth calling again: the connection, not the agent, gave up. */
const RECONNECT_CODES = new Set([1001, 1006, 1011, 1012, 1013]);
/** Reconnections per stream, so an agent that accepts and drops at once cannot loop forever. */
const MAX_RECONNECTS = 5;

const DEGRADED_LEVELS = [0.3, 0.6, 0.9] as const;
/** Warn-level logs for agent mistakes are capped per stream so a misbehaving agent cannot flood the log. */
const WARN_BUDGET = 20;
/** Unsent bytes (as a multiple of maxBufferedBytes) at which a stream whose agent is not reading is dropped. */
const BACKLOG_LIMIT_FACTOR = 4;

/** The caller's audio reaches the bridge in 20 ms frames of 8 kHz samples. */
const FRAME_SAMPLES = 160;

/** Decode scratch shared by every stream of the pod (see decodeBuffer). */
let decodeBytes = Buffer.alloc(4096);
let decodePcm = new Int16Array(4096);
let decodeUlaw = new Uint8Array(4096);

export class StreamBridge {
  readonly streamId: string;
  readonly callId: string;
  readonly format: StreamFormat;
  readonly tracks: readonly StreamTrack[];
  /** Resolves once, when the stream is over for any reason (never rejects). */
  readonly closed: Promise<StreamCloseInfo>;
  readonly stats: StreamBridgeStats = { agentMessages: 0, mediaSent: 0, mediaDropped: 0, playAudioReceived: 0, playbackDroppedMs: 0, ignoredMessages: 0, reconnects: 0 };

  private readonly opts: StreamBridgeOptions;
  private readonly log: Logger;
  private readonly clock: Clock;
  private readonly extraHeaders: string;
  private readonly accountId: string;
  private readonly maxMessageBytes: number;
  private readonly maxBufferedBytes: number;
  private readonly stallLimitMs: number;
  private readonly queue: PlaybackQueue;
  private readonly control: ControlMessages;
  private readonly inboundEncoder: MediaMessageEncoder | undefined;
  private readonly outboundEncoder: MediaMessageEncoder | undefined;
  private downState: ResamplerState | undefined;

  private state: BridgeState = 'idle';
  private ws: AgentSocket | undefined;
  private seq = 0;
  private inboundChunk = 0;
  private outboundChunk = 0;
  private timeoutTimer: TimerHandle | undefined;
  private closeTimer: TimerHandle | undefined;
  private backoffTimer: TimerHandle | undefined;
  private wakeBackoff: (() => void) | undefined;
  private resolveClosed!: (info: StreamCloseInfo) => void;
  /** Why we are closing, decided before the socket's close event arrives. */
  private closeCause: StreamCloseInfo | undefined;
  /** How the agent closed, held while its queued audio drains. */
  private drainInfo: StreamCloseInfo | undefined;
  private stallSince: number | undefined;
  private degradedLevel = 0;
  private warnBudget = WARN_BUDGET;
  /** Odd trailing byte of an L16 playAudio payload, carried into the next one. */
  private carryByte = -1;
  private carryRate = 0;
  /** Reads the agent's playAudio messages, remembering their shape. */
  private readonly playAudioReader = new PlayAudioReader();
  /** A μ-law frame decoded for a call that no longer sends PCMU. */
  private pullPcm: Int16Array | undefined;
  /** The caller's audio passes through it first when the stream asked for noise cancellation. */
  private readonly denoiser: { suppressor: NoiseSuppressor; frame: { pcm: Int16Array } } | undefined;

  constructor(opts: StreamBridgeOptions) {
    this.opts = opts;
    let url: URL;
    try { url = new URL(opts.url); } catch { throw new StreamConfigError('bad_url', `stream URL is not a valid URL: ${opts.url.slice(0, 200)}`); }
    if (url.protocol !== 'ws:' && url.protocol !== 'wss:') throw new StreamConfigError('bad_url', `stream URL must be ws:// or wss://, got ${url.protocol}`);
    const format = streamFormatOf(opts.contentType);
    if (!format) throw new StreamConfigError('bad_content_type', `unsupported stream contentType ${JSON.stringify(opts.contentType)}`);
    if (opts.bidirectional && opts.audioTrack !== 'inbound') {
      throw new StreamConfigError('track_conflict', `audioTrack=${opts.audioTrack} is not allowed with bidirectional=true`);
    }
    if (!(opts.streamTimeoutSec > 0)) throw new StreamConfigError('bad_timeout', `streamTimeout must be a positive number of seconds, got ${opts.streamTimeoutSec}`);
    this.format = format;
    this.tracks = tracksOf(opts.audioTrack);
    this.callId = opts.callId;
    this.streamId = opts.streamId ?? randomUUID();
    this.accountId = opts.accountId ?? '';
    this.extraHeaders = opts.extraHeaders;
    this.clock = opts.clock;
    this.maxMessageBytes = opts.maxMessageBytes ?? 65536;
    this.maxBufferedBytes = opts.maxBufferedBytes ?? 256 * 1024;
    this.stallLimitMs = opts.stallLimitMs ?? 5000;
    this.log = opts.logger.child({ callId: this.callId, streamId: this.streamId });
    if (!isUuid(this.callId)) this.log.warn('callId is not a UUID; Plivo stream SDKs will reject the start message');
    this.queue = new PlaybackQueue({
      maxQueuedMs: opts.maxQueuedMs ?? 60000, onPlayed: (name) => this.onCheckpointPlayed(name), ulaw: opts.ulawPlayback === true,
    });
    this.control = new ControlMessages(this.streamId, this.extraHeaders);
    this.inboundEncoder = this.tracks.includes('inbound') ? new MediaMessageEncoder('inbound', format, this.streamId, this.extraHeaders) : undefined;
    this.outboundEncoder = this.tracks.includes('outbound') ? new MediaMessageEncoder('outbound', format, this.streamId, this.extraHeaders) : undefined;
    if (opts.noiseCancellationLevel !== undefined && this.inboundEncoder) {
      this.denoiser = { suppressor: new NoiseSuppressor({ level: opts.noiseCancellationLevel }), frame: { pcm: new Int16Array(FRAME_SAMPLES) } };
    }
    this.closed = new Promise((resolve) => { this.resolveClosed = resolve; });
  }

  /** Milliseconds of agent audio waiting to be played into the call. */
  get queuedMs(): number { return this.queue.queuedMs; }
  get isOpen(): boolean { return this.state === 'open'; }

  /**
   * Opens the WebSocket (retrying `connectRetries` times) and sends `start`. Rejects with
   * StreamConnectError when it cannot; `closed` then resolves with `by: 'error'`.
   */
  async start(): Promise<void> {
    if (this.state !== 'idle') throw new Error(`stream ${this.streamId} already started`);
    this.state = 'connecting';
    this.timeoutTimer = this.clock.setTimeout(() => { void this.stop('timeout'); }, this.opts.streamTimeoutSec * 1000);
    const retries = Math.max(0, this.opts.connectRetries ?? 2);
    const backoff = this.opts.connectBackoffMs ?? 250;
    let lastError = 'unknown';
    let attempts = 0;
    for (let attempt = 0; attempt <= retries; attempt++) {
      if (this.state !== 'connecting') return; // stopped while connecting
      attempts++;
      try {
        await this.connectOnce();
        return;
      } catch (err) {
        lastError = err instanceof Error ? err.message : String(err);
        this.log.warn('stream connection failed', { attempt: attempts, error: lastError });
      }
      if (attempt < retries && this.state === 'connecting') await this.sleep(backoff * 2 ** attempt);
    }
    if (this.state !== 'connecting') return;
    this.finish({ by: 'error', reason: 'connect_failed' });
    throw new StreamConnectError(this.opts.url, attempts, lastError);
  }

  /** Caller audio, every 20 ms from the RTP layer. */
  pushInbound(frame: CallAudioFrame, wallMs: number): void {
    if (this.state !== 'open' || !this.inboundEncoder) return;
    if (!this.admitMedia()) return;
    const msg = this.inboundEncoder.encode(this.denoiser ? this.denoise(this.denoiser, frame) : frame, this.seq + 1, this.inboundChunk + 1, wallMs);
    if (msg !== undefined && this.sendCounted(msg)) { this.inboundChunk++; this.stats.mediaSent++; }
  }

  /**
   * The caller's frame through the noise suppressor. Gap-filling silence goes through it too, so
   * its clock never skips; a frame of another length (not expected) passes untouched.
   */
  private denoise(d: { suppressor: NoiseSuppressor; frame: { pcm: Int16Array } }, frame: CallAudioFrame): CallAudioFrame {
    const out = d.frame.pcm;
    if (frame.ulaw?.length === FRAME_SAMPLES) ulawDecode(frame.ulaw, out);
    else if (frame.pcm?.length === FRAME_SAMPLES) out.set(frame.pcm);
    else if (frame.silence === FRAME_SAMPLES) out.fill(0);
    else return frame;
    d.suppressor.process(out, out);
    return d.frame;
  }

  /**
   * Audio being played to the caller (by other verbs), for audioTrack outbound/both. Never
   * emitted on bidirectional streams: pipecat decodes every media message as the caller.
   */
  pushOutbound(frame: CallAudioFrame, wallMs: number): void {
    if (this.state !== 'open' || !this.outboundEncoder) return;
    if (!this.admitMedia()) return;
    const msg = this.outboundEncoder.encode(frame, this.seq + 1, this.outboundChunk + 1, wallMs);
    if (msg !== undefined && this.sendCounted(msg)) { this.outboundChunk++; this.stats.mediaSent++; }
  }

  /** An RFC 4733 digit from the caller. */
  dtmfReceived(digit: string, wallMs: number): void {
    if (this.state !== 'open') return;
    if (!DTMF_DIGIT.test(digit)) { this.log.debug('dtmf digit not reportable; ignored', { digit: digit.slice(0, 4) }); return; }
    this.sendCounted(this.control.dtmf(this.seq + 1, digit, wallMs));
  }

  /**
   * The next 20 ms of agent audio (160 samples, 8 kHz) or null for silence: μ-law bytes when the
   * queue holds μ-law and the call still sends PCMU, 16-bit PCM otherwise. The array is reused:
   * consume it before the next call. Checkpoints passed are acknowledged here.
   */
  pullFrame(codec: Codec = 'PCMU'): Int16Array | Uint8Array | null {
    let frame: Samples | null = null;
    if (this.state === 'draining') {
      frame = this.queue.pull();
      if (frame === null && this.drainInfo) this.finish(this.drainInfo);
    } else if (this.state === 'open') {
      frame = this.queue.pull();
      if (this.degradedLevel > 0 && this.queue.queuedSamples === 0) this.degradedLevel = 0;
    }
    if (frame instanceof Uint8Array && codec !== 'PCMU') {
      // A re-INVITE moved the call to another codec: what is queued is decoded for it.
      this.pullPcm ??= new Int16Array(FRAME_SAMPLES);
      return ulawDecode(frame, this.pullPcm);
    }
    return frame;
  }

  /**
   * Ends the stream: sends `stop` (Java SDK shape; other SDKs ignore it) and closes with 1000.
   * Resolves when the socket is closed. Safe to call more than once.
   */
  async stop(reason: StreamStopReason): Promise<void> {
    if (this.state === 'closed' || this.state === 'closing') { await this.closed; return; }
    if (this.state === 'draining' && this.drainInfo) {
      // The call is ending (or the stream timed out) before the agent's last audio finished.
      this.log.info('queued agent audio cut short', { reason, unplayedMs: Math.round(this.queue.queuedMs) });
      this.finish(this.drainInfo);
      return;
    }
    if (this.state === 'idle' || this.state === 'connecting') {
      this.ws?.terminate();
      this.wakeBackoff?.();
      this.finish({ by: 'platform', reason });
      return;
    }
    const ws = this.ws;
    this.state = 'closing';
    this.closeCause = { by: 'platform', code: 1000, reason };
    if (ws && ws.readyState === WS_OPEN) {
      this.seq++;
      ws.send(this.control.stop(this.seq, reason));
      ws.close(1000, reason);
      this.closeTimer = this.clock.setTimeout(() => ws.terminate(), this.opts.closeTimeoutMs ?? 2000);
    } else {
      ws?.terminate();
    }
    await this.closed;
  }

  // --- connection ---------------------------------------------------------------------------

  /**
   * One connection attempt. The socket's handlers are fixed here and act only while this socket is
   * the stream's current one, so a late event from an earlier connection changes nothing.
   */
  private connectOnce(): Promise<void> {
    return new Promise((resolve, reject) => {
      let opened = false;
      let ws: AgentSocket;
      try {
        ws = new AgentSocket({
          url: this.opts.url,
          maxPayload: this.maxMessageBytes,
          handshakeTimeoutMs: this.opts.connectTimeoutMs ?? 5000,
          headers: this.opts.upgradeHeaders?.(this.opts.url) ?? {},
          ...(this.opts.tlsCa ? { ca: this.opts.tlsCa } : {}),
        }, {
          open: () => {
            opened = true;
            if (this.state === 'connecting' && this.ws === ws) this.onOpen(ws);
            else ws.terminate();
            resolve();
          },
          message: (data, isBinary) => { if (this.ws === ws) this.onAgentFrame(data, isBinary); },
          error: (err) => {
            if (!opened) { reject(err); return; }
            if (this.ws === ws) this.onSocketError(err);
          },
          close: (code, reason) => {
            if (!opened) { reject(new Error(`closed during handshake (${code})`)); return; }
            if (this.ws === ws) this.onSocketClosed(code, reason.slice(0, 123));
          },
        });
      } catch (err) { reject(err instanceof Error ? err : new Error(String(err))); return; }
      this.ws = ws;
    });
  }

  private onOpen(ws: AgentSocket): void {
    this.state = 'open';
    this.seq = 1;
    ws.send(buildStartMessage({
      callId: this.callId, streamId: this.streamId, accountId: this.accountId,
      tracks: [...this.tracks], format: this.format, extraHeaders: this.extraHeaders,
    }));
    this.log.info('stream started', { url: redactQuery(this.opts.url), contentType: this.opts.contentType, bidirectional: this.opts.bidirectional });
    // A reconnection continues the same stream: one StartStream for its status callback.
    if (this.stats.reconnects === 0) this.status('StartStream');
  }

  private onSocketError(err: AgentSocketError): void {
    if (err.code === 'message_too_big') {
      this.log.warn('agent message larger than the limit; dropping stream', { limitBytes: this.maxMessageBytes });
      this.closeCause ??= { by: 'error', code: 1009, reason: 'message_too_big' };
    } else if (err.code === 'protocol_error' || err.code === 'invalid_utf8') {
      this.log.warn('agent broke the WebSocket protocol; dropping stream', { error: err.message });
      this.closeCause ??= { by: 'error', code: err.closeCode, reason: 'protocol_error' };
    } else if (err.code === 'socket_error') {
      // A reset or similar on an open connection: the 1006 close that follows reports it as a
      // lost connection (and a reason to reconnect), whether or not the reset surfaced as an error.
      this.log.warn('stream socket error', { error: err.message });
    } else {
      this.log.warn('stream socket error', { error: err.message });
      this.closeCause ??= { by: 'error', reason: 'connection_error' };
    }
  }

  private onSocketClosed(code: number, reason: string): void {
    // 1006 means the TCP connection went away without a close frame: a failure, not a hangup.
    const info: StreamCloseInfo = this.closeCause
      ?? (code === 1006 ? { by: 'error', code, reason: 'connection_lost' } : { by: 'agent', code, reason: reason || 'agent_closed' });
    // The connection broke under an open stream (not a close we asked for, not the agent hanging up).
    const broken = this.closeCause === undefined ? RECONNECT_CODES.has(code) : this.closeCause.reason === 'connection_error';
    if (broken && this.state === 'open' && (this.opts.reconnectAttempts ?? 2) > 0 && this.stats.reconnects < MAX_RECONNECTS) {
      void this.reconnect(info, code);
      return;
    }
    if (info.by === 'agent' && this.state === 'open' && this.queue.queuedSamples > 0 && this.opts.drainOnAgentClose !== false) {
      this.state = 'draining';
      this.drainInfo = info;
      this.log.info('agent closed the stream; playing out its queued audio', { code, queuedMs: Math.round(this.queue.queuedMs) });
      return;
    }
    this.finish(info);
  }

  /**
   * A new connection for a stream whose connection broke. Until it opens, caller audio is not
   * sent and nothing plays; the old connection's queued audio and checkpoints are dropped, since
   * the agent that queued them may be gone. If no attempt succeeds the stream ends as it would
   * have without reconnecting.
   */
  private async reconnect(lost: StreamCloseInfo, code: number): Promise<void> {
    this.state = 'connecting';
    this.closeCause = undefined;
    this.stats.reconnects++;
    const dropped = this.queue.clear();
    this.carryByte = -1;
    this.degradedLevel = 0;
    this.stallSince = undefined;
    this.inboundChunk = 0;
    this.outboundChunk = 0;
    this.log.warn('stream connection lost; reconnecting', { code, droppedMs: dropped.droppedSamples / 8, reconnect: this.stats.reconnects });
    const attempts = Math.max(0, this.opts.reconnectAttempts ?? 2);
    const backoff = this.opts.connectBackoffMs ?? 250;
    let lastError = 'unknown';
    for (let attempt = 0; attempt < attempts; attempt++) {
      // A short pause first: the agent's load balancer needs a moment to stop sending to a dead pod.
      await this.sleep(backoff * 2 ** attempt);
      if (this.state !== 'connecting') return; // the call ended meanwhile
      try {
        await this.connectOnce();
        if ((this.state as BridgeState) === 'open') this.log.info('stream reconnected', { attempt: attempt + 1, reconnects: this.stats.reconnects });
        return;
      } catch (err) {
        lastError = err instanceof Error ? err.message : String(err);
        this.log.warn('stream reconnection failed', { attempt: attempt + 1, error: lastError });
      }
    }
    if (this.state === 'connecting') this.finish(lost);
  }

  private finish(info: StreamCloseInfo): void {
    if (this.state === 'closed') return;
    this.state = 'closed';
    this.clock.clearTimeout(this.timeoutTimer);
    this.clock.clearTimeout(this.closeTimer);
    this.clock.clearTimeout(this.backoffTimer);
    this.queue.clear();
    if (this.ws && this.ws.readyState !== WS_CLOSED) this.ws.terminate();
    this.log.info('stream ended', { by: info.by, code: info.code, reason: info.reason, mediaSent: this.stats.mediaSent, mediaDropped: this.stats.mediaDropped });
    this.status(info.by === 'error' ? 'DroppedStream' : 'StopStream', info.reason);
    this.resolveClosed(info);
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const done = (): void => { this.wakeBackoff = undefined; this.clock.clearTimeout(this.backoffTimer); resolve(); };
      this.wakeBackoff = done;
      this.backoffTimer = this.clock.setTimeout(done, ms);
    });
  }

  // --- sending ------------------------------------------------------------------------------

  /**
   * Sends a message built with sequenceNumber `this.seq + 1`; false when the socket is no longer open.
   * Control replies (clearedAudio, playedStream) are never dropped, so an agent that keeps sending
   * clearAudio while it stops reading could make them pile up here without end: past
   * BACKLOG_LIMIT_FACTOR × maxBufferedBytes unsent, the stream is dropped as stalled instead.
   */
  private sendCounted(msg: string | Buffer): boolean {
    const ws = this.ws;
    if (!ws || ws.readyState !== WS_OPEN) return false;
    if (ws.bufferedAmount > this.maxBufferedBytes * BACKLOG_LIMIT_FACTOR) {
      this.log.warn('agent not reading and still sending; dropping stream', { bufferedBytes: ws.bufferedAmount, limitBytes: this.maxBufferedBytes * BACKLOG_LIMIT_FACTOR });
      this.closeCause = { by: 'error', reason: 'agent_stalled' };
      ws.terminate();
      this.finish(this.closeCause);
      return false;
    }
    this.seq++;
    ws.send(msg);
    return true;
  }

  /**
   * Media goes only while the agent keeps reading. Frames are dropped (not queued) while the
   * socket's backlog is over the cap; a stall longer than stallLimitMs drops the stream.
   */
  private admitMedia(): boolean {
    const ws = this.ws;
    if (!ws) return false;
    if (ws.bufferedAmount <= this.maxBufferedBytes) {
      if (this.stallSince !== undefined) {
        this.log.info('agent reading again; media resumed', { droppedFrames: this.stats.mediaDropped });
        this.stallSince = undefined;
      }
      return true;
    }
    this.stats.mediaDropped++;
    const now = this.clock.now();
    if (this.stallSince === undefined) {
      this.stallSince = now;
      this.log.warn('agent not reading; dropping media frames', { bufferedBytes: ws.bufferedAmount });
      this.status('DegradedStream', 'agent_not_reading');
    } else if (now - this.stallSince >= this.stallLimitMs) {
      this.closeCause = { by: 'error', reason: 'agent_stalled' };
      ws.terminate();
      this.finish(this.closeCause);
    }
    return false;
  }

  // --- from the agent -----------------------------------------------------------------------

  private onAgentFrame(data: Buffer, isBinary: boolean): void {
    if (this.state !== 'open') return;
    this.stats.agentMessages++;
    if (isBinary) { this.ignored('binary frame ignored'); return; }
    // Nearly every message is a plain playAudio: read it from the bytes without building a string
    // or a JSON tree (50 per second per call). Anything else takes the full parser below.
    if (this.opts.bidirectional) {
      const scan = this.playAudioReader.read(data);
      if (scan) {
        const buf = this.decodeBuffer(scan.payloadEnd - scan.payloadStart);
        const n = decodeBase64Into(data, scan.payloadStart, scan.payloadEnd, buf);
        if (n >= 0) { this.playDecoded(scan.encoding, scan.sampleRate, n); return; }
      }
    }
    const text = data.toString('utf8');
    const msg = parseAgentMessage(text);
    switch (msg.kind) {
      case 'invalid': this.ignored('agent message ignored', { problem: msg.problem }); return;
      case 'unknown': this.ignored('unknown agent event ignored', { agentEvent: msg.event }, 'debug'); return;
      default: break;
    }
    if (!this.opts.bidirectional) { this.ignored('agent message ignored: stream is not bidirectional', { agentEvent: msg.kind }, 'debug'); return; }
    switch (msg.kind) {
      case 'playAudio': this.onPlayAudio(msg.encoding, msg.sampleRate, msg.payload); break;
      case 'checkpoint':
        if (!this.queue.mark(msg.name)) this.ignored('too many pending checkpoints; checkpoint ignored', { checkpoint: msg.name.slice(0, 64) });
        break;
      case 'clearAudio': {
        const dropped = this.queue.clear();
        this.carryByte = -1;
        this.degradedLevel = 0;
        this.log.debug('clearAudio', { droppedMs: dropped.droppedSamples / 8, droppedCheckpoints: dropped.droppedCheckpoints });
        this.sendCounted(this.control.clearedAudio(this.seq + 1));
        break;
      }
      case 'sendDTMF':
        try { this.opts.sendDtmf(msg.digits); } catch (err) { this.log.warn('sendDTMF failed', { error: err instanceof Error ? err.message : String(err) }); }
        break;
    }
  }

  /**
   * The buffer base64 text of this length decodes into: one for every stream of the pod, since a
   * playAudio is decoded and queued synchronously. Base64 decodes to at most 3/4 of its length; the
   * buffer is bounded by the message cap, so steady playback allocates nothing, and it stays in the
   * CPU's cache instead of each call keeping its own.
   */
  private decodeBuffer(base64Length: number): Buffer {
    const maxBytes = Math.ceil(base64Length * 3 / 4) + 1;
    if (decodeBytes.length < maxBytes) decodeBytes = Buffer.alloc(maxBytes);
    return decodeBytes;
  }

  private onPlayAudio(encoding: 'audio/x-mulaw' | 'audio/x-l16', rate: 8000 | 16000, payload: string): void {
    const n = this.decodeBuffer(payload.length).write(payload, 0, 'base64');
    this.playDecoded(encoding, rate, n);
  }

  /** Queues the `n` audio bytes of a playAudio that are in the shared `decodeBytes`. */
  private playDecoded(encoding: 'audio/x-mulaw' | 'audio/x-l16', rate: 8000 | 16000, n: number): void {
    this.stats.playAudioReceived++;
    if (encoding !== this.format.encoding || rate !== this.format.sampleRate) {
      this.log.debug('playAudio format differs from the stream contentType; converting', { encoding, sampleRate: rate });
    }
    const buf = decodeBytes;
    if (decodePcm.length < n + 1) decodePcm = new Int16Array(n + 1);
    const out = decodePcm;
    let pcm: Samples;
    let pcmLength: number;
    if (encoding === 'audio/x-mulaw' && this.queue.ulaw) {
      this.carryByte = -1;
      pcm = buf;
      pcmLength = n;
    } else if (encoding === 'audio/x-mulaw') {
      this.carryByte = -1;
      for (let i = 0; i < n; i++) out[i] = ulawToLinear(buf[i]!);
      pcm = out;
      pcmLength = n;
    } else {
      if (this.carryRate !== rate) this.carryByte = -1;
      this.carryRate = rate;
      let i = 0;
      let k = 0;
      if (this.carryByte >= 0 && n > 0) {
        out[k++] = ((this.carryByte | (buf[0]! << 8)) << 16) >> 16;
        i = 1;
        this.carryByte = -1;
      }
      for (; i + 1 < n; i += 2) out[k++] = ((buf[i]! | (buf[i + 1]! << 8)) << 16) >> 16; // little-endian (G10)
      if (i < n) this.carryByte = buf[i]!;
      pcm = out.subarray(0, k);
      if (rate === 16000) {
        this.downState ??= createDownsampleState();
        // Decimating in place is safe: output index never overtakes the input the filter still needs,
        // because the filter reads from its own history copy (state.work), not from `pcm`.
        pcm = downsample16kTo8k(pcm, this.downState, out.subarray(0, (k + 1) >> 1));
      }
      pcmLength = pcm.length;
      // L16 for a μ-law queue is encoded once here, as it would have been when sent.
      if (this.queue.ulaw) {
        if (decodeUlaw.length < pcmLength) decodeUlaw = new Uint8Array(pcmLength);
        pcm = ulawEncode(pcm, decodeUlaw.subarray(0, pcmLength));
      }
    }
    const accepted = this.queue.append(pcm, 0, pcmLength);
    if (accepted < pcmLength) {
      const droppedMs = (pcmLength - accepted) / 8;
      this.stats.playbackDroppedMs += droppedMs;
      this.ignored('playback queue full; audio dropped', { droppedMs, capMs: this.queue.capacityMs });
      if (this.degradedLevel < DEGRADED_LEVELS.length + 1) {
        this.degradedLevel = DEGRADED_LEVELS.length + 1;
        this.status('DegradedStream', 'playback_queue_full');
      }
      return;
    }
    const fill = this.queue.queuedMs / this.queue.capacityMs;
    let level = 0;
    while (level < DEGRADED_LEVELS.length && fill >= DEGRADED_LEVELS[level]!) level++;
    if (level > this.degradedLevel) {
      this.degradedLevel = level;
      this.status('DegradedStream', `playback_queue_${Math.round(DEGRADED_LEVELS[level - 1]! * 100)}pct`);
    }
  }

  private onCheckpointPlayed(name: string): void {
    this.sendCounted(this.control.playedStream(this.seq + 1, name));
  }

  // --- reporting ----------------------------------------------------------------------------

  private ignored(msg: string, fields: Record<string, unknown> = {}, level: 'warn' | 'debug' = 'warn'): void {
    this.stats.ignoredMessages++;
    if (level === 'debug') { this.log.debug(msg, fields); return; }
    if (this.warnBudget > 0) {
      this.warnBudget--;
      this.log.warn(msg, this.warnBudget === 0 ? { ...fields, note: 'further warnings for this stream are logged at debug' } : fields);
    } else {
      this.log.debug(msg, fields);
    }
  }

  private status(event: StreamStatusEvent['event'], reason?: string): void {
    if (!this.opts.onStatus) return;
    const ev: StreamStatusEvent = reason === undefined
      ? { event, callId: this.callId, streamId: this.streamId, timestampMs: this.clock.wallNow() }
      : { event, callId: this.callId, streamId: this.streamId, reason, timestampMs: this.clock.wallNow() };
    try { this.opts.onStatus(ev); } catch (err) { this.log.warn('stream status listener threw', { error: err instanceof Error ? err.message : String(err) }); }
  }
}

/** Stream URLs may carry tokens in the query string (`?body=`), so logs keep only origin and path. */
function redactQuery(url: string): string {
  const i = url.indexOf('?');
  return i < 0 ? url : `${url.slice(0, i)}?…`;
}
