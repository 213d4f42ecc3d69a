/**
 * One call's RTP stream: a UDP socket on a pooled port, symmetric RTP (reply to where packets
 * really come from, for callers behind NAT), inbound reordering and G.711 decoding, outbound
 * frames pulled from a playback source on the shared 20 ms MediaClock, RFC 4733 DTMF both ways,
 * a media timeout, and RTCP (SR/RR reports on port + 1 or muxed on the RTP port, the far end's
 * view of our stream: loss, jitter, round trip), and SRTP/SRTCP when SDP agreed keys. Buffers
 * are allocated once per session; the per-packet path does not create closures or timers.
 */
import dgram from 'node:dgram';
import { randomBytes, randomInt } from 'node:crypto';
import { isIP } from 'node:net';
import { systemClock, type Clock } from '../../clock.js';
import type { Logger } from '@sipflow/operator/log';
import { decodeFrame, encodeFrame, type Codec } from '../codec/index.js';
import { DtmfReceiver, DtmfSender, InbandDtmfDetector, type DtmfSenderOptions } from '../dtmf/index.js';
import { JitterBuffer } from './jitter-buffer.js';
import type { MediaClock, PacedStream } from './media-clock.js';
import { createRtpHeader, looksLikeRtcp, parseRtp, RTP_HEADER_SIZE, seqDelta, writeRtpHeaderValues } from './packet.js';
import type { RtpPortPool } from './port-pool.js';
import { SrtpSession, type SrtpKeyParams } from '../srtp/index.js';
import {
  buildRtcpReport, dlsrFromMs, ntpFromUnixMs, ntpMiddle32, ntpMiddle32FromUnixMs, parseRtcp, roundTripMs, RtpReceptionStats,
  type RtcpReportBlock, type RtcpSenderInfo,
} from './rtcp.js';

export type MediaDirection = 'sendrecv' | 'sendonly' | 'recvonly' | 'inactive';

/** What the session needs from SDP negotiation (`NegotiatedMedia` from ../sdp satisfies it). */
export interface RtpMediaParams {
  codec: Codec;
  payloadType: number;
  telephoneEvent?: { payloadType: number; rate: number } | undefined;
  /** The SDP address; packets go here until symmetric RTP learns the real source. */
  remote: { address: string; port: number };
  /** Our direction. */
  direction: MediaDirection;
  /** The peer put the call on hold: the media timeout is suspended. */
  hold?: boolean;
  /** RTCP multiplexed on the RTP port (RFC 5761, both sides said `a=rtcp-mux`). Default false. */
  rtcpMux?: boolean | undefined;
  /** The peer's `a=rtcp:` port; otherwise its RTP port + 1. */
  rtcpPort?: number | undefined;
  /**
   * SRTP keys from SDES (RFC 4568): `local` protects what we send, `remote` what we receive.
   * Absent means plain RTP. Packets that fail authentication are dropped before they can move
   * the symmetric-RTP latch.
   */
  srtp?: { local: SrtpKeyParams; remote: SrtpKeyParams } | undefined;
}

function sameKey(a: SrtpKeyParams | undefined, b: SrtpKeyParams): boolean {
  return a !== undefined && a.suite === b.suite && a.masterKey.equals(b.masterKey) && a.masterSalt.equals(b.masterSalt);
}

/** A new address continues the running stream if its sequence numbers are at most this far ahead (3 s). */
const RELATCH_MAX_SEQ_AHEAD = 150;
/** Packets in a row from a candidate source may skip this many sequence numbers (loss) and still count. */
const RELATCH_MAX_GAP = 4;

/** Whether `seq` comes 1 to `most` sequence numbers after `from`. */
function follows(from: number, seq: number, most: number): boolean {
  const d = seqDelta(from, seq);
  return d >= 1 && d <= most;
}

/**
 * Playback for the outbound direction. Called once per 20 ms tick: return 160 PCM samples at
 * 8 kHz, or a 160-byte payload already in the session's codec (e.g. μ-law straight from a stream
 * bridge), or null for "nothing to play" (the session sends silence, or nothing when
 * silenceWhenIdle is off). The session reads the returned array before the call returns, so a
 * source may reuse one buffer.
 */
export interface FrameSource {
  /** The next frame to play, or null for none. `dropped`: it is being discarded unplayed after a stall. */
  pull(codec: Codec, dropped?: boolean): Int16Array | Uint8Array | null;
  /** The pacer stalled and missed this many ticks (before any frames of them are dropped). */
  skipped?(ticks: number): void;
}

/** Per-packet metadata for onAudio/onPayload; the same object is reused for every packet. */
export interface InboundMeta {
  seq: number;
  timestamp: number;
  arrivalMs: number;
}

export interface RtpSessionOptions {
  /** Local bind address: '0.0.0.0', '::', or a specific interface address. */
  listenAddress: string;
  /** Allocate the port from here (released to quarantine on close). */
  pool?: RtpPortPool;
  /** Bind this port instead (0 = ephemeral, for tests); ignored when `pool` is given. */
  port?: number;
  mediaClock: MediaClock;
  clock?: Clock;
  /** No inbound RTP for this long → onMediaTimeout. Default 60 s; 0 disables. Suspended on hold. */
  mediaTimeoutMs?: number;
  /**
   * On hold: a peer that has sent RTCP and then sends neither RTP nor RTCP for this long →
   * onMediaTimeout. Longer than the media timeout because some SBCs pause RTCP on hold, against
   * RFC 3264 §5.1. Default 600 s; 0 disables.
   */
  holdTimeoutMs?: number;
  jitterDepth?: number;
  jitterMaxWaitMs?: number;
  /**
   * Once latched, another source is followed only after this many packets in a row from it, each
   * following the one before in sequence, and only when they continue the running stream (same
   * SSRC, the next sequence numbers: a NAT binding or relay that moved) or the latched source has
   * been silent for `relatchQuietMs`. A stranger who does not see the call's packets cannot
   * take its audio by sending to the port (RTP bleed). Default 3.
   */
  relatchPackets?: number;
  /**
   * How long the latched source must have sent nothing before a source with a stream of its own
   * (new SSRC) may take over: a carrier whose media moved without a re-INVITE. Default 2000.
   */
  relatchQuietMs?: number;
  /**
   * The address the call's signalling came from. The first RTP packet from it, or from the SDP's
   * address, latches at once (a phone behind NAT sends its media from its SIP address); from any
   * other address the first source must send `relatchPackets` packets in sequence first.
   */
  signallingAddress?: string;
  /**
   * After a pacer stall, how much of the source's audio may be held back and played late instead
   * of dropped, counted since the source last ran dry (the end of the agent's utterance or
   * prompt). Default 1000; 0 drops the frames of every missed tick.
   */
  maxStallHoldMs?: number;
  dtmf?: DtmfSenderOptions;
  logger?: Logger;
  /** Ports to try when a pooled port is taken by another process. Default 8. */
  bindAttempts?: number;
  /**
   * Nominal RTCP report interval (RFC 3550 §6.2: 5 s minimum; each interval is randomised to
   * 0.5–1.5 times this, the first one is half as long). 0 sends no RTCP at all. Default 5000.
   */
  rtcpIntervalMs?: number;
  /** SDES CNAME in our reports. Default: random per session (RFC 7022), so no host name leaks. */
  cname?: string;
  /**
   * With nothing to play, send silence every 20 ms (true, the default), as a phone does, or send
   * nothing until there is audio again (false; the next packet carries the marker bit). Carriers'
   * SBCs may watch for RTP inactivity. The media pod's flag: --rtp-send-silence.
   */
  silenceWhenIdle?: boolean;
}

export interface RtpSessionStats {
  packetsIn: number;
  packetsOut: number;
  bytesIn: number;
  bytesOut: number;
  lost: number;
  late: number;
  duplicate: number;
  reordered: number;
  /** RFC 3550 interarrival jitter estimate, ms. */
  jitterMs: number;
  ssrcChanges: number;
  /** Packets dropped because they came from another address than the latched one. */
  foreign: number;
  invalid: number;
  /** RTCP we could not parse. */
  rtcpIgnored: number;
  /** RTCP compound packets accepted from the peer (either port). */
  rtcpIn: number;
  /** RTCP compound packets (reports, the closing BYE) we sent. */
  rtcpOut: number;
  /** What the far end last reported about our stream; null until a report about our SSRC came. */
  remoteReport: RemoteRtcpReport | null;
  /** Packets with a payload type we did not negotiate (comfort noise included). */
  otherPayloadType: number;
  /** SRTP/SRTCP packets dropped: failed authentication, replayed, or not SRTP at all. */
  srtpRejected: number;
  dtmfIn: number;
  dtmfOut: number;
  /** Ticks missed in pacer stalls after which the source resumed where it stopped (see maxStallHoldMs). */
  stallHeld: number;
  /** Frames of audio dropped after pacer stalls because the hold-back limit was reached. */
  stallDropped: number;
  latchedTo: { address: string; port: number } | null;
}

/** The far end's reception report about our outbound stream (RFC 3550 §6.4.1). */
export interface RemoteRtcpReport {
  /** Loss over its last reporting interval, 0–1. */
  fractionLost: number;
  /** Packets of ours it never received, since the start (negative with duplicates). */
  cumulativeLost: number;
  /** Its interarrival jitter estimate for our packets, ms. */
  jitterMs: number;
  /** Round trip from its LSR/DLSR, ms; null when its report echoed no SR of ours. */
  rttMs: number | null;
  /** Our monotonic clock when the report arrived. */
  atMs: number;
}

/** Raised by `RtpSession.open` when no port could be bound. */
export class RtpBindError extends Error {
  constructor(message: string, readonly code: 'PortsExhausted' | 'BindFailed') {
    super(message);
    this.name = 'RtpBindError';
  }
}

const MAX_PAYLOAD = 480; // up to 60 ms of G.711; larger frames are truncated
const SAMPLES_PER_TICK = 160;
/** 20 ms of digital silence in each codec (G.711 encodings of 0). */
const SILENCE_PAYLOAD: Readonly<Record<Codec, Uint8Array>> = {
  PCMU: new Uint8Array(SAMPLES_PER_TICK).fill(0xff),
  PCMA: new Uint8Array(SAMPLES_PER_TICK).fill(0xd5),
};
/** Timestamp units per ms: every codec we negotiate is 8 kHz. */
const UNITS_PER_MS = 8;

function randomCname(): string {
  return `${randomBytes(12).toString('base64url')}@sipflow`;
}

function bindSocket(type: 'udp4' | 'udp6', address: string, port: number): Promise<dgram.Socket> {
  return new Promise((resolve, reject) => {
    // IP literals resolve synchronously, so send() goes out immediately and no DNS is involved;
    // the last answer is cached because a call sends to the same address 50 times a second.
    let lastHost = ''; let lastFamily = 0;
    const sock = dgram.createSocket({
      type,
      lookup: (host, _opts, cb) => {
        if (host !== lastHost) { lastHost = host; lastFamily = isIP(host); }
        if (lastFamily === 0) cb(new Error(`RTP destination ${host} is not an IP address`), '', 0);
        else cb(null, host, lastFamily);
      },
    });
    const onError = (err: Error): void => { sock.close(); reject(err); };
    sock.once('error', onError);
    sock.bind(port, address, () => {
      sock.off('error', onError);
      resolve(sock);
    });
  });
}

/** RTCP's socket next to the RTP one; a failure only costs the call its RTCP, so it is logged, not thrown. */
async function bindRtcpSocket(type: 'udp4' | 'udp6', opts: RtpSessionOptions, port: number): Promise<dgram.Socket | undefined> {
  if (port > 65535) return undefined;
  try {
    return await bindSocket(type, opts.listenAddress, port);
  } catch (err) {
    opts.logger?.warn('cannot bind the RTCP port; the call runs without RTCP on it', { port, err: err as Error });
    return undefined;
  }
}

export class RtpSession implements PacedStream {
  /** Incoming audio decoded to 8 kHz PCM (reused buffer: copy it to keep it). */
  onAudio: ((pcm: Int16Array, meta: InboundMeta) => void) | undefined;
  /** Incoming payload bytes in the negotiated codec, in sequence order, before any decoding. */
  onPayload: ((payload: Uint8Array, codec: Codec, meta: InboundMeta) => void) | undefined;
  /** A DTMF key press from the peer (RFC 4733, or in-band tones when it offered no telephone-event), once per press. */
  onDtmf: ((digit: string) => void) | undefined;
  /** No RTP for mediaTimeoutMs (while not on hold). Called once. */
  onMediaTimeout: ((detail: string) => void) | undefined;
  /** The peer's RTP source address changed (first packet or a confirmed move). */
  onLatch: ((address: string, port: number) => void) | undefined;

  readonly localPort: number;
  readonly localAddress: string;
  /** Where we receive RTCP besides the RTP port: rtpPort + 1 from the pool; null if it could not be bound. */
  readonly localRtcpPort: number | null;

  private readonly socket: dgram.Socket;
  private readonly rtcpSocket: dgram.Socket | undefined;
  private readonly pool: RtpPortPool | undefined;
  private readonly mediaClock: MediaClock;
  private readonly silenceWhenIdle: boolean;
  private readonly clock: Clock;
  private readonly logger: Logger | undefined;
  private readonly mediaTimeoutMs: number;
  private readonly holdTimeoutMs: number;
  private readonly relatchPackets: number;
  private readonly relatchQuietMs: number;
  private readonly signallingAddress: string;
  private readonly ipv6Socket: boolean;

  private params: RtpMediaParams | undefined;
  private source: FrameSource | null = null;
  private closed = false;

  // Outbound state.
  private readonly ssrc: number;
  private seq: number;
  private ts: number;
  private needMarker = true;
  /** Ticks of audio held back after stalls since the source last ran dry (bounded by maxStallHoldTicks). */
  private stallHeldTicks = 0;
  private readonly maxStallHoldTicks: number;
  // Two of each so a send still queued in libuv is never overwritten by the next one. Exactly
  // sized, so socket.send takes the whole buffer without slicing it.
  private readonly txFrames: [Buffer, Buffer];
  private readonly txFramePayloads: [Uint8Array, Uint8Array];
  private readonly txEvents: [Buffer, Buffer];
  private txIndex = 0;
  private sendAddress = '';
  private sendPort = 0;
  private sendBlocked = false;
  private sendBlockedLogged = false;

  // Inbound state.
  private readonly hdr = createRtpHeader();
  private readonly jitter: JitterBuffer;
  private readonly meta: InboundMeta = { seq: 0, timestamp: 0, arrivalMs: 0 };
  private pcm = new Int16Array(SAMPLES_PER_TICK);
  private remoteSsrc = -1;
  private latched = false;
  private latchAddress = '';
  private latchPort = 0;
  /** When a packet from the latched source last arrived (monotonic ms). */
  private latchedRxMs = 0;
  /** The latched source is at an address the SDP or the signalling named. */
  private latchNamed = false;
  /** The address and port the SDP named, in the socket's family: they may always take the latch. */
  private sdpAddress = '';
  private sdpPort = 0;
  private candAddress = '';
  private candPort = 0;
  private candSsrc = 0;
  private candSeq = 0;
  private candCount = 0;
  private strangerLogged = false;
  private lastRxMs: number;
  private timedOut = false;
  private transitValid = false;
  private lastTransit = 0;
  private jitterUnits = 0;

  private readonly dtmfRx = new DtmfReceiver();
  /** Only for peers that did not offer telephone-event: their keys are tones in the audio. */
  private inbandDtmf: InbandDtmfDetector | undefined;
  private readonly dtmfTx: DtmfSender;

  // RTCP state (RFC 3550 §6).
  private readonly reception = new RtpReceptionStats();
  private readonly rtcpIntervalMs: number;
  private readonly cname: string;
  /** When the next report is due on the monotonic clock; Infinity until media starts. */
  private nextReportMs = Infinity;
  private packetsOutAtLastReport = 0;
  /** The far end's last SR: its SSRC, the middle 32 bits of its NTP time, when it arrived. */
  private srSsrc = -1;
  private srMiddle = 0;
  private srArrivalMs = 0;
  /** Source port of the peer's RTCP on our RTCP port (symmetric RTCP); 0 until one arrives. */
  private rtcpPeerPort = 0;
  /** When the peer's last readable RTCP arrived (monotonic); -Infinity while it has sent none. */
  private lastRtcpRxMs = -Infinity;
  private remoteReport: RemoteRtcpReport | null = null;

  private readonly counters = {
    packetsIn: 0, packetsOut: 0, bytesIn: 0, bytesOut: 0, ssrcChanges: 0, foreign: 0, invalid: 0,
    rtcpIgnored: 0, rtcpIn: 0, rtcpOut: 0, otherPayloadType: 0, dtmfIn: 0, dtmfOut: 0, srtpRejected: 0,
    stallHeld: 0, stallDropped: 0,
  };

  // SRTP (RFC 3711). The outbound context lives as long as its key: dropping it and starting a
  // new one with the same key would restart the rollover counter and reuse keystream.
  private srtpTx: SrtpSession | undefined;
  private srtpTxKey: SrtpKeyParams | undefined;
  private srtpRx: SrtpSession | undefined;
  private srtpRxKey: SrtpKeyParams | undefined;
  private srtpOn = false;
  private srtpTxFailed = false;

  /** Allocates a port (from the pool, if any), binds it, and returns an idle session. */
  static async open(opts: RtpSessionOptions): Promise<RtpSession> {
    const type = isIP(opts.listenAddress) === 6 ? 'udp6' : 'udp4';
    if (!opts.pool) {
      let sock: dgram.Socket;
      try {
        sock = await bindSocket(type, opts.listenAddress, opts.port ?? 0);
      } catch (err) {
        throw new RtpBindError(`cannot bind RTP socket on ${opts.listenAddress}:${opts.port ?? 0}: ${(err as Error).message}`, 'BindFailed');
      }
      // An explicit port gets its RTCP neighbour; the ephemeral test mode any free port.
      const rtcp = await bindRtcpSocket(type, opts, opts.port ? opts.port + 1 : 0);
      return new RtpSession(sock, rtcp, opts, undefined);
    }
    const attempts = opts.bindAttempts ?? 8;
    let lastErr: Error | undefined;
    for (let i = 0; i < attempts; i++) {
      const alloc = opts.pool.allocate();
      if (!alloc) throw new RtpBindError(`no free RTP port in ${opts.pool.lo}-${opts.pool.hi} (${opts.pool.inUse} in use, ${opts.pool.quarantined} quarantined)`, 'PortsExhausted');
      try {
        const sock = await bindSocket(type, opts.listenAddress, alloc.rtpPort);
        const rtcp = await bindRtcpSocket(type, opts, alloc.rtcpPort);
        return new RtpSession(sock, rtcp, opts, opts.pool);
      } catch (err) {
        // Someone else holds it; quarantine it like any released port and try the next one.
        lastErr = err as Error;
        opts.pool.release(alloc.rtpPort);
        opts.logger?.warn('RTP port busy, trying another', { port: alloc.rtpPort, err: lastErr });
      }
    }
    throw new RtpBindError(`could not bind any of ${attempts} RTP ports on ${opts.listenAddress}: ${lastErr?.message ?? 'unknown error'}`, 'BindFailed');
  }

  private constructor(socket: dgram.Socket, rtcpSocket: dgram.Socket | undefined, opts: RtpSessionOptions, pool: RtpPortPool | undefined) {
    this.socket = socket;
    this.rtcpSocket = rtcpSocket;
    this.localRtcpPort = rtcpSocket ? rtcpSocket.address().port : null;
    this.rtcpIntervalMs = Math.max(0, opts.rtcpIntervalMs ?? 5000);
    this.cname = opts.cname ?? randomCname();
    this.pool = pool;
    const addr = socket.address();
    this.localPort = addr.port;
    this.localAddress = addr.address;
    this.ipv6Socket = addr.family === 'IPv6';
    this.mediaClock = opts.mediaClock;
    this.silenceWhenIdle = opts.silenceWhenIdle ?? true;
    this.clock = opts.clock ?? systemClock;
    this.logger = opts.logger?.child({ rtpPort: this.localPort });
    this.mediaTimeoutMs = opts.mediaTimeoutMs ?? 60_000;
    this.holdTimeoutMs = opts.holdTimeoutMs ?? 600_000;
    this.relatchPackets = Math.max(1, opts.relatchPackets ?? 3);
    this.relatchQuietMs = Math.max(0, opts.relatchQuietMs ?? 2000);
    this.signallingAddress = opts.signallingAddress ?? '';
    this.maxStallHoldTicks = Math.max(0, Math.floor((opts.maxStallHoldMs ?? 1000) / 20));
    this.ssrc = randomInt(0, 2 ** 32 - 1) >>> 0;
    this.seq = randomInt(0, 0x10000);
    this.ts = randomInt(0, 2 ** 32 - 1) >>> 0;
    this.txFrames = [Buffer.allocUnsafe(RTP_HEADER_SIZE + SAMPLES_PER_TICK), Buffer.allocUnsafe(RTP_HEADER_SIZE + SAMPLES_PER_TICK)];
    this.txFramePayloads = [
      new Uint8Array(this.txFrames[0].buffer, this.txFrames[0].byteOffset + RTP_HEADER_SIZE, SAMPLES_PER_TICK),
      new Uint8Array(this.txFrames[1].buffer, this.txFrames[1].byteOffset + RTP_HEADER_SIZE, SAMPLES_PER_TICK),
    ];
    this.txEvents = [Buffer.allocUnsafe(RTP_HEADER_SIZE + 4), Buffer.allocUnsafe(RTP_HEADER_SIZE + 4)];
    this.lastRxMs = this.clock.now();
    this.jitter = new JitterBuffer((seq, ts, payload, arrival) => this.deliver(seq, ts, payload, arrival), {
      depth: opts.jitterDepth, maxWaitMs: opts.jitterMaxWaitMs,
    });
    this.dtmfTx = new DtmfSender('rfc4733', opts.dtmf);
    socket.on('message', (msg, rinfo) => this.receive(msg, rinfo.address, rinfo.port));
    socket.on('error', (err) => this.logger?.warn('RTP socket error', { err }));
    if (rtcpSocket) {
      rtcpSocket.on('message', (msg, rinfo) => this.receiveRtcp(msg, rinfo.address, rinfo.port, false));
      rtcpSocket.on('error', (err) => this.logger?.warn('RTCP socket error', { err }));
    }
  }

  /** The outbound SSRC (random per session). */
  get localSsrc(): number { return this.ssrc; }
  get isClosed(): boolean { return this.closed; }
  get media(): Readonly<RtpMediaParams> | undefined { return this.params; }

  /**
   * Applies negotiated media (the first answer, and every re-INVITE) and starts pacing. A new
   * SDP address undoes the symmetric-RTP latch; leaving hold restarts the media-timeout window.
   */
  configure(p: RtpMediaParams): void {
    if (this.closed) return;
    const prev = this.params;
    this.params = { ...p, remote: { ...p.remote } };
    if (!prev || prev.remote.address !== p.remote.address || prev.remote.port !== p.remote.port) {
      this.latched = false;
      this.candCount = 0;
      this.rtcpPeerPort = 0;
      this.setSendTarget(p.remote.address, p.remote.port);
      this.sdpAddress = this.sendAddress;
      this.sdpPort = this.sendPort;
    }
    // RFC 3550 §6.2: the first report goes after half the minimum interval, randomised.
    if (!prev && this.rtcpIntervalMs > 0) this.nextReportMs = this.clock.now() + this.randomInterval() / 2;
    if (!prev || this.watchingTimeout(prev) !== this.watchingTimeout(this.params)) {
      this.lastRxMs = this.clock.now();
      this.timedOut = false;
    }
    this.applySrtp(p.srtp);
    this.dtmfTx.mode = p.telephoneEvent ? 'rfc4733' : 'inband';
    this.inbandDtmf = p.telephoneEvent ? undefined : (this.inbandDtmf ?? new InbandDtmfDetector());
    if (!prev) this.mediaClock.add(this);
  }

  private applySrtp(keys: RtpMediaParams['srtp']): void {
    const was = this.srtpOn;
    this.srtpOn = keys !== undefined;
    if (keys) {
      if (!sameKey(this.srtpTxKey, keys.local)) { this.srtpTx = new SrtpSession(keys.local); this.srtpTxKey = keys.local; }
      if (!sameKey(this.srtpRxKey, keys.remote)) { this.srtpRx = new SrtpSession(keys.remote); this.srtpRxKey = keys.remote; }
    }
    if (was !== this.srtpOn) this.logger?.info(this.srtpOn ? 'SRTP on' : 'SRTP off', this.srtpOn ? { suite: keys!.local.suite } : {});
  }

  /** Sets (or clears) what is played to the peer. */
  setSource(src: FrameSource | null): void {
    this.source = src;
  }

  /**
   * Sends DTMF digits (0-9 * # A-D; 'w' = 0.5 s pause, 'W' = 1 s). RFC 4733 events when the peer
   * offered telephone-event, in-band tones otherwise. Resolves when the last digit has gone out,
   * or when the session closes first. Rejects (DtmfDigitError) if a character is not allowed.
   */
  sendDtmf(digits: string): Promise<void> {
    if (this.closed || digits.length === 0) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      try {
        this.dtmfTx.enqueue(digits, resolve);
      } catch (err) {
        reject(err);
      }
    });
  }

  stats(): RtpSessionStats {
    const j = this.jitter.stats;
    return {
      ...this.counters,
      lost: j.lost, late: j.late, duplicate: j.duplicate, reordered: j.reordered,
      jitterMs: this.jitterUnits / UNITS_PER_MS,
      latchedTo: this.latched ? { address: this.latchAddress, port: this.latchPort } : null,
      remoteReport: this.remoteReport ? { ...this.remoteReport } : null,
    };
  }

  /**
   * Stops pacing, says goodbye in RTCP (RFC 3550 §6.3.7: only if we ever sent RTP or RTCP),
   * closes the sockets and returns the port to the pool's quarantine. Idempotent.
   */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.mediaClock.remove(this);
    this.source = null;
    this.dtmfTx.cancel();
    if (this.params && this.rtcpIntervalMs > 0 && (this.counters.packetsOut > 0 || this.counters.rtcpOut > 0)) {
      this.sendReport(this.clock.now(), true);
    }
    this.socket.removeAllListeners('message');
    this.socket.close();
    if (this.rtcpSocket) {
      this.rtcpSocket.removeAllListeners('message');
      this.rtcpSocket.close();
    }
    this.pool?.release(this.localPort);
  }

  private watchingTimeout(p: RtpMediaParams): boolean {
    return p.direction === 'sendrecv' && !p.hold;
  }

  private setSendTarget(address: string, port: number): void {
    // A dual-stack IPv6 socket reaches IPv4 peers through their IPv4-mapped address.
    this.sendAddress = this.ipv6Socket && isIP(address) === 4 ? `::ffff:${address}` : address;
    this.sendPort = port;
    this.sendBlocked = !this.ipv6Socket && isIP(address) === 6;
    this.sendBlockedLogged = false;
  }

  // ---- outbound -------------------------------------------------------------------------------

  onTick(nowMs: number): void {
    const p = this.params;
    if (this.closed || !p) return;
    this.jitter.flush(nowMs);
    if (!this.timedOut) {
      // On hold RTP may rightly stop, but a peer that sends RTCP keeps sending it while it is
      // there (RFC 3550 §6): from such a peer, silence on both is a peer that has gone.
      const watching = this.watchingTimeout(p);
      const lastHeard = watching ? this.lastRxMs : Math.max(this.lastRxMs, this.lastRtcpRxMs);
      const limit = watching ? this.mediaTimeoutMs : this.lastRtcpRxMs > -Infinity ? this.holdTimeoutMs : 0;
      if (limit > 0 && nowMs - lastHeard >= limit) {
        this.timedOut = true;
        const detail = watching ? 'no RTP received' : 'on hold, and neither RTP nor RTCP received';
        this.logger?.info('RTP media timeout', { silentMs: Math.round(nowMs - lastHeard), detail });
        this.onMediaTimeout?.(detail);
        if (this.closed) return;
      }
    }
    if (nowMs >= this.nextReportMs) this.sendReport(nowMs, false);
    const ts = this.ts;
    this.ts = (this.ts + SAMPLES_PER_TICK) >>> 0;
    const canSend = (p.direction === 'sendrecv' || p.direction === 'sendonly') && this.sendPort !== 0 && !isNullAddress(this.sendAddress);

    if (this.dtmfTx.active) {
      const step = this.dtmfTx.next(ts);
      if (step.kind === 'event') {
        const te = p.telephoneEvent;
        if (te && canSend) {
          this.txIndex ^= 1;
          const buf = this.txEvents[this.txIndex]!;
          writeRtpHeaderValues(buf, 0, step.marker, te.payloadType, this.seq, step.timestamp, this.ssrc);
          buf.set(step.payload, RTP_HEADER_SIZE);
          this.transmit(buf);
          this.counters.dtmfOut++;
        }
        this.pullSource(p.codec, false); // keep playback in step with the call's clock
        this.needMarker = true;
        return;
      }
      if (step.kind === 'tone') {
        this.pullSource(p.codec, false);
        if (canSend) this.sendAudio(step.pcm, p, ts);
        return;
      }
    }
    const frame = this.pullSource(p.codec, false);
    if (frame) {
      if (canSend) this.sendAudio(frame, p, ts);
    } else if (this.silenceWhenIdle) {
      if (canSend) this.sendAudio(SILENCE_PAYLOAD[p.codec], p, ts);
    } else {
      this.needMarker = true;
    }
  }

  /**
   * After a stall, the RTP timestamp jumps by the missed time (with a marker on the next packet),
   * so the caller's jitter buffer sees a gap rather than a burst. The audio due in the missed ticks
   * is not lost: the source is paused and resumes where it stopped, so an agent's sentence or a
   * prompt is heard whole, a little late. The delay this adds lasts until the source next runs
   * dry (the end of the utterance) and is bounded by maxStallHoldMs; past it, the missed ticks'
   * frames are pulled and dropped, so a source that never pauses does not drift ever later.
   * Returns the frames dropped.
   */
  onSkippedTicks(ticks: number): number {
    const p = this.params;
    if (this.closed || !p) return 0;
    this.ts = (this.ts + ticks * SAMPLES_PER_TICK) >>> 0;
    this.needMarker = true;
    const source = this.source;
    if (!source) return 0;
    source.skipped?.(ticks);
    const hold = Math.min(ticks, this.maxStallHoldTicks - this.stallHeldTicks);
    this.stallHeldTicks += hold;
    this.counters.stallHeld += hold;
    let dropped = 0;
    for (let i = hold; i < ticks; i++) {
      if (this.pullSource(p.codec, true) === null) break; // nothing left to drop
      dropped++;
    }
    this.counters.stallDropped += dropped;
    return dropped;
  }

  /** The source's next frame; a source that ran dry ends the stall hold-back (its utterance is over). */
  private pullSource(codec: Codec, dropped: boolean): Int16Array | Uint8Array | null {
    const frame = this.source ? this.source.pull(codec, dropped) : null;
    if (frame === null) this.stallHeldTicks = 0;
    return frame;
  }

  private sendAudio(frame: Int16Array | Uint8Array, p: RtpMediaParams, ts: number): void {
    const n = Math.min(frame.length, MAX_PAYLOAD);
    this.txIndex ^= 1;
    let buf: Buffer; let payload: Uint8Array;
    if (n === SAMPLES_PER_TICK) {
      buf = this.txFrames[this.txIndex]!;
      payload = this.txFramePayloads[this.txIndex]!;
    } else {
      // Unusual frame sizes take a one-off buffer rather than slowing down the common case.
      buf = Buffer.allocUnsafe(RTP_HEADER_SIZE + n);
      payload = buf.subarray(RTP_HEADER_SIZE);
    }
    writeRtpHeaderValues(buf, 0, this.needMarker, p.payloadType, this.seq, ts, this.ssrc);
    const src = n === frame.length ? frame : frame.subarray(0, n);
    if (src instanceof Int16Array) encodeFrame(p.codec, src, payload);
    else payload.set(src);
    this.needMarker = false;
    this.transmit(buf);
  }

  private transmit(buf: Buffer): void {
    this.seq = (this.seq + 1) & 0xffff;
    if (this.sendBlocked) {
      if (!this.sendBlockedLogged) {
        this.sendBlockedLogged = true;
        this.logger?.warn('cannot send RTP to an IPv6 peer from an IPv4 socket', { remote: this.sendAddress });
      }
      return;
    }
    let out = buf;
    if (this.srtpOn) {
      try {
        out = this.srtpTx!.protectRtp(buf);
      } catch (err) {
        // Only a context past its packet limit (2^48) or a repeated index gets here: never send it in clear.
        if (!this.srtpTxFailed) this.logger?.warn('cannot protect RTP; not sending', { err: err as Error });
        this.srtpTxFailed = true;
        return;
      }
    }
    this.counters.packetsOut++;
    this.counters.bytesOut += buf.length;
    this.socket.send(out, this.sendPort, this.sendAddress);
  }

  // ---- inbound --------------------------------------------------------------------------------

  private receive(wire: Buffer, address: string, port: number): void {
    const p = this.params;
    if (this.closed) return;
    if (looksLikeRtcp(wire)) { this.receiveRtcp(wire, address, port, true); return; }
    let msg = wire;
    if (this.srtpOn && p) {
      const plain = this.srtpRx!.unprotectRtp(wire);
      if (!plain) { this.counters.srtpRejected++; return; }
      msg = plain;
    }
    const h = parseRtp(msg, this.hdr);
    if (typeof h === 'string' || !p) { this.counters.invalid++; return; }
    const now = this.clock.now();
    if (!this.acceptSource(address, port, h.ssrc, h.sequenceNumber, now)) { this.counters.foreign++; return; }
    this.lastRxMs = now;
    this.counters.packetsIn++;
    this.counters.bytesIn += msg.length;
    const payload = new Uint8Array(msg.buffer, msg.byteOffset + h.payloadOffset, h.payloadLength);

    if (h.payloadType === p.payloadType && h.ssrc !== this.remoteSsrc) {
      if (this.remoteSsrc >= 0) {
        this.counters.ssrcChanges++;
        this.jitter.drain();
        this.logger?.debug('remote SSRC changed', { ssrc: h.ssrc });
      }
      this.jitter.reset();
      this.reception.reset();
      this.remoteSsrc = h.ssrc;
      this.transitValid = false;
    }
    // Events and comfort noise share the audio stream's sequence numbers, so they count too.
    if (h.ssrc === this.remoteSsrc) this.reception.update(h.sequenceNumber);

    if (h.payloadType === p.payloadType) {
      this.updateJitter(now, h.timestamp);
      if (p.direction === 'sendrecv' || p.direction === 'recvonly') this.jitter.push(h.sequenceNumber, h.timestamp, payload, now);
      return;
    }
    const te = p.telephoneEvent;
    if (te && h.payloadType === te.payloadType) {
      const digit = this.dtmfRx.receive(h.timestamp, payload);
      if (digit !== null) {
        this.counters.dtmfIn++;
        this.onDtmf?.(digit);
      }
      return;
    }
    this.counters.otherPayloadType++;
  }

  /**
   * Symmetric RTP: latch on the first source (a caller behind NAT sends from an address its SDP
   * cannot name): at once if it is at the SDP's or the signalling's address, after three packets
   * in sequence otherwise. After that another source is a stranger until it proves it carries this
   * call's media (see `relatchPackets`); the address the SDP named takes the latch back at once.
   */
  private acceptSource(address: string, port: number, ssrc: number, seq: number, now: number): boolean {
    if (!this.latched) {
      if (this.isNamed(address) || this.candidateInRow(address, port, ssrc, seq)) {
        this.latch(address, port, now);
        return true;
      }
      return false;
    }
    if (port === this.latchPort && address === this.latchAddress) {
      this.candCount = 0;
      this.latchedRxMs = now;
      return true;
    }
    if (port === this.sdpPort && address === this.sdpAddress) {
      this.moveTo(address, port, now, 'the address in the SDP');
      return true;
    }
    // A source nobody named that won the first latch yields to one at a named address.
    if (!this.latchNamed && this.isNamed(address)) {
      this.moveTo(address, port, now, 'an address the signalling named');
      return true;
    }
    // A move must continue from the highest sequence number the running stream has reached.
    const continues = ssrc === this.remoteSsrc && follows(this.reception.highestSeq, seq, RELATCH_MAX_SEQ_AHEAD);
    const quiet = now - this.latchedRxMs >= this.relatchQuietMs;
    if (!continues && !quiet) {
      this.candCount = 0;
      if (!this.strangerLogged) {
        this.strangerLogged = true;
        this.logger?.warn('RTP from another source ignored: it does not continue the call\'s stream', {
          latched: `${this.latchAddress}:${this.latchPort}`, from: `${address}:${port}`,
        });
      }
      return false;
    }
    if (!this.candidateInRow(address, port, ssrc, seq)) return false;
    this.moveTo(address, port, now, continues ? 'the same stream from a new address' : 'the latched source went quiet');
    return true;
  }

  /** Counts packets in a row from one source, each following the one before; true at `relatchPackets`. */
  private candidateInRow(address: string, port: number, ssrc: number, seq: number): boolean {
    const inRow = this.candCount > 0 && port === this.candPort && address === this.candAddress && ssrc === this.candSsrc &&
      follows(this.candSeq, seq, RELATCH_MAX_GAP);
    if (inRow) this.candCount++;
    else { this.candAddress = address; this.candPort = port; this.candSsrc = ssrc; this.candCount = 1; }
    this.candSeq = seq;
    return this.candCount >= this.relatchPackets;
  }

  /** The SDP's or the signalling's address (in the socket's family: an IPv4 peer on a dual-stack socket is ::ffff:a.b.c.d). */
  private isNamed(address: string): boolean {
    const s = this.signallingAddress;
    return address === this.sdpAddress || (s !== '' && (address === s || address === `::ffff:${s}`));
  }

  private moveTo(address: string, port: number, now: number, why: string): void {
    this.logger?.info('RTP source moved', { from: `${this.latchAddress}:${this.latchPort}`, to: `${address}:${port}`, why });
    this.latch(address, port, now);
  }

  private latch(address: string, port: number, now: number): void {
    this.latched = true;
    this.latchAddress = address;
    this.latchPort = port;
    this.latchedRxMs = now;
    this.latchNamed = this.isNamed(address);
    this.candCount = 0;
    this.rtcpPeerPort = 0;
    this.sendAddress = address; // already in the socket's own family
    this.sendPort = port;
    this.sendBlocked = false;
    this.onLatch?.(address, port);
  }

  private updateJitter(nowMs: number, rtpTs: number): void {
    // RFC 3550 A.8, in 8 kHz timestamp units.
    const transit = nowMs * UNITS_PER_MS - rtpTs;
    if (this.transitValid) {
      let d = transit - this.lastTransit;
      if (d < 0) d = -d;
      // A 32-bit timestamp wrap shows up as a ~2^32 jump; ignore it rather than poison the estimate.
      if (d < 2 ** 31) this.jitterUnits += (d - this.jitterUnits) / 16;
    }
    this.lastTransit = transit;
    this.transitValid = true;
  }

  // ---- RTCP -----------------------------------------------------------------------------------

  private randomInterval(): number {
    return this.rtcpIntervalMs * (0.5 + Math.random());
  }

  /** RTCP from the peer, on the RTCP port or (`muxed`) the RTP port. Never throws. */
  private receiveRtcp(wire: Buffer, address: string, port: number, muxed: boolean): void {
    if (this.closed) return;
    // Only the peer's address (latched, or from the SDP until RTP arrives) may report to us.
    if (!this.params || address !== this.sendAddress) { this.counters.foreign++; return; }
    let msg = wire;
    if (this.srtpOn) {
      const plain = this.srtpRx!.unprotectRtcp(wire);
      if (!plain) { this.counters.srtpRejected++; return; }
      msg = plain;
    }
    const c = parseRtcp(msg);
    if (typeof c === 'string') {
      this.counters.rtcpIgnored++;
      this.logger?.debug('unreadable RTCP', { reason: c, bytes: msg.length });
      return;
    }
    this.counters.rtcpIn++;
    this.lastRtcpRxMs = this.clock.now();
    if (!muxed) this.rtcpPeerPort = port;
    for (const pkt of c.packets) {
      if (pkt.type === 'sr' || pkt.type === 'rr') {
        if (pkt.ssrc === this.ssrc) continue; // our own report looped back
        if (pkt.type === 'sr') {
          this.srSsrc = pkt.ssrc;
          this.srMiddle = ntpMiddle32(pkt.sender.ntpSec, pkt.sender.ntpFrac);
          this.srArrivalMs = this.clock.now();
        }
        for (const b of pkt.reports) if (b.ssrc === this.ssrc) this.takeRemoteReport(b);
      } else if (pkt.type === 'bye') {
        this.logger?.debug('RTCP BYE from the peer', { reason: pkt.reason });
      }
    }
  }

  private takeRemoteReport(b: RtcpReportBlock): void {
    const arrival = ntpMiddle32FromUnixMs(this.clock.wallNow());
    const rtt = roundTripMs(arrival, b.lsr, b.dlsr);
    this.remoteReport = {
      fractionLost: b.fractionLost / 256,
      cumulativeLost: b.cumulativeLost,
      jitterMs: b.jitter / UNITS_PER_MS,
      rttMs: rtt === null ? null : Math.round(rtt * 10) / 10,
      atMs: this.clock.now(),
    };
  }

  /**
   * Sends an SR (we sent RTP since the last report) or RR, with a block about the peer's stream
   * once it has sent some, SDES CNAME, and a BYE when `bye`. Once per interval, not per packet.
   */
  private sendReport(nowMs: number, bye: boolean): void {
    this.nextReportMs = nowMs + this.randomInterval();
    const p = this.params;
    if (!p || this.sendBlocked || this.sendPort === 0 || isNullAddress(this.sendAddress)) return;
    const muxed = p.rtcpMux === true;
    const port = muxed ? this.sendPort : this.rtcpPeerPort || p.rtcpPort || this.sendPort + 1;
    if (port > 65535) return;
    // Without our RTCP socket, reports leave from the RTP port (where RTCP is accepted as well).
    const sock = muxed ? this.socket : this.rtcpSocket ?? this.socket;
    const c = this.counters;
    const weSent = c.packetsOut > this.packetsOutAtLastReport;
    this.packetsOutAtLastReport = c.packetsOut;
    let sender: RtcpSenderInfo | undefined;
    if (weSent) {
      const ntp = ntpFromUnixMs(this.clock.wallNow());
      // Every packet we send has a plain 12-byte header, so payload octets are bytes less headers.
      sender = { ntpSec: ntp.sec, ntpFrac: ntp.frac, rtpTimestamp: this.ts, packetCount: c.packetsOut >>> 0, octetCount: (c.bytesOut - RTP_HEADER_SIZE * c.packetsOut) >>> 0 };
    }
    const reports: RtcpReportBlock[] = [];
    if (this.remoteSsrc >= 0 && this.reception.hasData) {
      const haveSr = this.srSsrc === this.remoteSsrc;
      const lsr = haveSr ? this.srMiddle : 0;
      const dlsr = haveSr ? dlsrFromMs(nowMs - this.srArrivalMs) : 0;
      reports.push(this.reception.reportBlock(this.remoteSsrc, this.jitterUnits, lsr, dlsr));
    }
    const plain = buildRtcpReport({ ssrc: this.ssrc, sender, reports, cname: this.cname, bye: bye ? {} : undefined });
    try {
      sock.send(this.srtpOn ? this.srtpTx!.protectRtcp(plain) : plain, port, this.sendAddress);
      c.rtcpOut++;
    } catch (err) {
      this.logger?.warn('cannot send RTCP', { err: err as Error, port });
    }
  }

  private deliver(seq: number, timestamp: number, payload: Uint8Array, arrivalMs: number): void {
    const p = this.params;
    if (!p) return;
    const m = this.meta;
    m.seq = seq; m.timestamp = timestamp; m.arrivalMs = arrivalMs;
    this.onPayload?.(payload, p.codec, m);
    if (this.onAudio || this.inbandDtmf) {
      // Sized to the peer's frame (160 at 20 ms); reallocated only if its ptime changes.
      if (this.pcm.length !== payload.length) this.pcm = new Int16Array(payload.length);
      const pcm = decodeFrame(p.codec, payload, this.pcm);
      if (this.inbandDtmf) {
        const digit = this.inbandDtmf.process(pcm);
        if (digit !== null) {
          this.counters.dtmfIn++;
          this.onDtmf?.(digit);
        }
      }
      this.onAudio?.(pcm, m);
    }
  }
}

function isNullAddress(a: string): boolean {
  return a === '' || a === '0.0.0.0' || a === '::' || a === '::ffff:0.0.0.0';
}
