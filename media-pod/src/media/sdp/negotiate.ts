/**
 * SDP offer/answer (RFC 3264) for the media pod: choose one G.711 codec and telephone-event from
 * the caller's offer, mirror hold directions, agree SRTP keys (SDES, RFC 4568) when the offer is
 * RTP/SAVP, and write an answer that carries the pod's advertised address and a stable o= line
 * whose version moves only when the answer changes.
 */
import { randomInt } from 'node:crypto';
import type { Codec } from '../codec/index.js';
import {
  formatCryptoAttribute, generateKeyParams, parseCryptoAttribute, type SrtpKeyParams, type SrtpSuite,
} from '../srtp/index.js';
import { parseSdp, SdpParseError, type SdpConnection, type SdpDirection, type SdpMedia, type SessionDescription } from './parse.js';

/** Per-call o= line state: create once per call, pass to every answer/offer of that call. */
export interface SdpSessionState {
  readonly sessionId: string;
  /** The o= version last sent. */
  version: number;
  readonly username: string;
  /** Body of the last SDP sent, minus its o= line, to tell whether the next one changed. */
  lastBody: string | undefined;
  /**
   * Our SRTP master keys, one per suite, made when first needed and kept for the whole call: a
   * re-INVITE answered with the same key keeps the outbound stream's rollover counter, so no
   * keystream is ever used twice (RFC 4568 §7.1.4 lets either side keep its key).
   */
  readonly srtpKeys: Map<SrtpSuite, SrtpKeyParams>;
  /** The crypto lines of the last offer we made (tag → suite), to read the answer's choice. */
  offeredCrypto: Map<number, SrtpSuite> | undefined;
}

export function createSdpSessionState(username = 'sipflow'): SdpSessionState {
  // A random decimal id well inside 2^53 so that it survives any JSON round trip.
  const sessionId = String(randomInt(1, 2 ** 47));
  return { sessionId, version: Number(sessionId.slice(-6)) + 1, username, lastBody: undefined, srtpKeys: new Map(), offeredCrypto: undefined };
}

function localKey(state: SdpSessionState, suite: SrtpSuite): SrtpKeyParams {
  let k = state.srtpKeys.get(suite);
  if (!k) { k = generateKeyParams(suite); state.srtpKeys.set(suite, k); }
  return k;
}

/**
 * Whether calls use SRTP: `off` refuses RTP/SAVP offers (488), `optional` answers each offer in
 * kind, `required` refuses plain RTP/AVP offers and offers SRTP itself.
 */
export type SrtpPolicy = 'off' | 'optional' | 'required';

/** The SRTP agreement of one call: the suite, the crypto tag, and both directions' keys. */
export interface NegotiatedSrtp {
  suite: SrtpSuite;
  tag: number;
  /** The peer's key: it protects what we receive. */
  remote: SrtpKeyParams;
  /** Ours: it protects what we send. */
  local: SrtpKeyParams;
}

export interface TelephoneEventFormat { payloadType: number; rate: number }

export interface NegotiateOptions {
  /** The ADVERTISED media address (what the caller must send to), never a wildcard listen address. */
  localAddress: string;
  localPort: number;
  /** Local codec preference; the first one the offer also has wins. Default ['PCMU', 'PCMA']. */
  preferred?: readonly Codec[];
  /** Packetisation we ask the caller to send (a=ptime). Default 20. */
  ptime?: number;
  /** Reuse across re-INVITEs of one call; a fresh one is made when absent. */
  session?: SdpSessionState;
  /** Accept telephone-event if offered (default true). */
  telephoneEvent?: boolean;
  /** Accept RTCP multiplexing (RFC 5761) if offered (default true). */
  rtcpMux?: boolean;
  /** Default `optional`. */
  srtp?: SrtpPolicy;
}

export interface NegotiatedMedia {
  codec: Codec;
  payloadType: number;
  telephoneEvent: TelephoneEventFormat | undefined;
  /** Where to send RTP until symmetric RTP learns the real source. 0.0.0.0 when on hold. */
  remote: { address: string; port: number };
  /** Our direction, as written in the answer. */
  direction: SdpDirection;
  /** The ptime we asked for. */
  ptime: number;
  /** The caller's a=ptime, if given. */
  remotePtime: number | undefined;
  /** The caller has put us on hold (it will not send, or does not want to receive). */
  hold: boolean;
  /** Index of the m= line used. */
  mediaIndex: number;
  /**
   * RTCP goes over the RTP port (RFC 5761): the offer had `a=rtcp-mux` and so does the answer.
   * Absent counts as false (RTCP on the peer's RTP port + 1, or `rtcpPort`).
   */
  rtcpMux?: boolean;
  /** The peer's `a=rtcp:` port, if it gave one. */
  rtcpPort?: number | undefined;
  /** Present when the media is SRTP (RTP/SAVP with an agreed crypto line). */
  srtp?: NegotiatedSrtp | undefined;
}

export type NegotiateFailureCode =
  | 'BadSdp' | 'NoAudio' | 'NoCommonCodec' | 'UnsupportedTransport' | 'NoConnectionAddress' | 'SrtpRequired' | 'NoCommonCrypto';

export type NegotiateResult =
  | ({ ok: true; answerSdp: string; offer: SessionDescription } & NegotiatedMedia)
  | { ok: false; code: NegotiateFailureCode; reason: string };

const STATIC_PT: Record<number, Codec> = { 0: 'PCMU', 8: 'PCMA' };
const PLAIN_PROTOS = new Set(['RTP/AVP', 'RTP/AVPF']);
const SECURE_PROTOS = new Set(['RTP/SAVP', 'RTP/SAVPF']);

function invert(d: SdpDirection): SdpDirection {
  return d === 'sendonly' ? 'recvonly' : d === 'recvonly' ? 'sendonly' : d;
}

function isNullAddress(address: string): boolean {
  return address === '0.0.0.0' || address === '::' || address === '0:0:0:0:0:0:0:0';
}

/** The codec a payload type carries in this m= line, honouring rtpmap over the static table. */
function codecOf(m: SdpMedia, pt: number): Codec | undefined {
  const map = m.rtpmap.get(pt);
  if (!map) return STATIC_PT[pt];
  if (map.clockRate !== 8000 || (map.channels !== undefined && map.channels !== 1)) return undefined;
  const enc = map.encoding.toUpperCase();
  return enc === 'PCMU' || enc === 'PCMA' ? enc : undefined;
}

interface AudioChoice {
  index: number;
  media: SdpMedia;
  codec: Codec;
  payloadType: number;
  telephoneEvent: TelephoneEventFormat | undefined;
  connection: SdpConnection;
  /** The offer's proto, upper-cased (the answer repeats it for SRTP). */
  proto: string;
  crypto: { tag: number; suite: SrtpSuite; remote: SrtpKeyParams } | undefined;
}

type ChoiceResult = { ok: true; choice: AudioChoice } | { ok: false; code: NegotiateFailureCode; reason: string };

/**
 * Which SDES crypto line of an SRTP m= line we take: the first usable one in the peer's order.
 * `allowed` (tag → suite) limits it to what we offered when reading an answer.
 */
function chooseCrypto(m: SdpMedia, allowed?: ReadonlyMap<number, SrtpSuite>): AudioChoice['crypto'] {
  for (const a of m.attributes) {
    if (a.name.toLowerCase() !== 'crypto' || a.value === undefined) continue;
    const c = parseCryptoAttribute(a.value);
    if ('error' in c || !c.params) continue;
    if (allowed && allowed.get(c.tag) !== c.params.suite) continue;
    return { tag: c.tag, suite: c.params.suite, remote: c.params };
  }
  return undefined;
}

function chooseAudio(sdp: SessionDescription, preferred: readonly Codec[], wantTe: boolean, policy: SrtpPolicy, allowedCrypto?: ReadonlyMap<number, SrtpSuite>): ChoiceResult {
  let sawAudio = false; let sawRtp = false; let firstTransport: string | undefined;
  let plainRefused = false; let noCrypto = false;
  for (let i = 0; i < sdp.media.length; i++) {
    const m = sdp.media[i]!;
    if (m.type !== 'audio' || m.port === 0) continue;
    sawAudio = true;
    const proto = m.proto.toUpperCase();
    const secure = SECURE_PROTOS.has(proto);
    if (!secure && !PLAIN_PROTOS.has(proto)) { firstTransport ??= m.proto; continue; }
    if (secure && policy === 'off') { firstTransport ??= m.proto; continue; }
    if (!secure && policy === 'required') { plainRefused = true; continue; }
    let crypto: AudioChoice['crypto'];
    if (secure) {
      crypto = chooseCrypto(m, allowedCrypto);
      if (!crypto) { noCrypto = true; continue; }
    }
    sawRtp = true;
    const offered = new Map<Codec, number>();
    for (const f of m.formats) {
      if (!/^\d{1,3}$/.test(f)) continue;
      const c = codecOf(m, Number(f));
      if (c && !offered.has(c)) offered.set(c, Number(f));
    }
    const codec = preferred.find((c) => offered.has(c));
    if (!codec) continue;
    let te: TelephoneEventFormat | undefined;
    if (wantTe) {
      for (const f of m.formats) {
        const map = /^\d{1,3}$/.test(f) ? m.rtpmap.get(Number(f)) : undefined;
        // DTMF events must share the audio clock (8 kHz for G.711) or their timestamps are meaningless.
        if (map && map.encoding.toLowerCase() === 'telephone-event' && map.clockRate === 8000) { te = { payloadType: map.payloadType, rate: 8000 }; break; }
      }
    }
    const connection = m.connection ?? sdp.connection;
    if (!connection) return { ok: false, code: 'NoConnectionAddress', reason: 'no c= line for the audio stream' };
    return { ok: true, choice: { index: i, media: m, codec, payloadType: offered.get(codec)!, telephoneEvent: te, connection, proto, crypto } };
  }
  if (!sawAudio) return { ok: false, code: 'NoAudio', reason: 'offer has no active audio stream' };
  if (!sawRtp) {
    if (noCrypto) return { ok: false, code: 'NoCommonCrypto', reason: 'no usable a=crypto line (we support AES_CM_128_HMAC_SHA1_80/32 with inline keys)' };
    if (plainRefused) return { ok: false, code: 'SrtpRequired', reason: 'SRTP is required (offer RTP/SAVP with a=crypto)' };
    const only = policy === 'off' ? 'RTP/AVP' : 'RTP/AVP or RTP/SAVP';
    return { ok: false, code: 'UnsupportedTransport', reason: `unsupported media transport ${firstTransport ?? ''} (only ${only})`.replace('  ', ' ') };
  }
  return { ok: false, code: 'NoCommonCodec', reason: `no common codec (we support ${preferred.join(', ')})` };
}

export interface AnswerParams {
  localAddress: string;
  localPort: number;
  /** The offer's m= lines, so the answer can mirror their number and order. */
  offerMedia: readonly SdpMedia[];
  mediaIndex: number;
  payloadType: number;
  codec: Codec;
  telephoneEvent: TelephoneEventFormat | undefined;
  direction: SdpDirection;
  ptime: number;
  /** Write `a=rtcp-mux` (only when the offer had it). */
  rtcpMux?: boolean;
  /** SRTP: the m= line says `proto` (the offer's RTP/SAVP or RTP/SAVPF) and carries our crypto line. */
  srtp?: { proto: string; tag: number; local: SrtpKeyParams } | undefined;
}

function addrType(address: string): 'IP4' | 'IP6' {
  return address.includes(':') ? 'IP6' : 'IP4';
}

function audioLines(p: Omit<AnswerParams, 'localAddress' | 'offerMedia' | 'mediaIndex'>): string[] {
  const fmts = [p.payloadType, ...(p.telephoneEvent ? [p.telephoneEvent.payloadType] : [])];
  const lines = [`m=audio ${p.localPort} ${p.srtp?.proto ?? 'RTP/AVP'} ${fmts.join(' ')}`, `a=rtpmap:${p.payloadType} ${p.codec}/8000`];
  if (p.telephoneEvent) lines.push(`a=rtpmap:${p.telephoneEvent.payloadType} telephone-event/8000`, `a=fmtp:${p.telephoneEvent.payloadType} 0-16`);
  lines.push(`a=ptime:${p.ptime}`, `a=${p.direction}`);
  if (p.rtcpMux) lines.push('a=rtcp-mux');
  if (p.srtp) lines.push(`a=crypto:${formatCryptoAttribute(p.srtp.tag, p.srtp.local)}`);
  return lines;
}

function finish(state: SdpSessionState, localAddress: string, body: string[]): string {
  const joined = body.join('\r\n');
  // RFC 3264 §8: the version moves by one exactly when the description changes.
  if (state.lastBody !== undefined && state.lastBody !== joined) state.version += 1;
  state.lastBody = joined;
  const origin = `o=${state.username} ${state.sessionId} ${state.version} IN ${addrType(localAddress)} ${localAddress}`;
  return ['v=0', origin, 's=sipflow', `c=IN ${addrType(localAddress)} ${localAddress}`, 't=0 0', joined].join('\r\n') + '\r\n';
}

/** Writes an answer; m= lines other than the chosen one are declined with port 0. */
export function buildAnswer(state: SdpSessionState, p: AnswerParams): string {
  const body: string[] = [];
  p.offerMedia.forEach((m, i) => {
    if (i === p.mediaIndex) body.push(...audioLines(p));
    else body.push(`m=${m.type} 0 ${m.proto} ${m.formats[0] ?? '0'}`);
  });
  return finish(state, p.localAddress, body);
}

export interface OfferParams {
  localAddress: string;
  localPort: number;
  codecs?: readonly Codec[];
  /** Payload type for telephone-event, or null to leave it out. Default 101. */
  telephoneEventPayloadType?: number | null;
  direction?: SdpDirection;
  ptime?: number;
  /**
   * Offer RTCP multiplexing (default true). We listen on port + 1 as well, so an answer without
   * `a=rtcp-mux` still works (RFC 5761 §5.1.1).
   */
  rtcpMux?: boolean;
  /**
   * Offer SRTP (RTP/SAVP with one crypto line per suite we support). One m= line cannot offer
   * both without capability negotiation (RFC 5939), so only `required` offers SRTP.
   */
  srtp?: SrtpPolicy;
}

/** The suites we offer, strongest tag first (RFC 4568 §6.2.1 says the 80-bit tag is the default). */
const OFFERED_SUITES: readonly SrtpSuite[] = ['AES_CM_128_HMAC_SHA1_80', 'AES_CM_128_HMAC_SHA1_32'];

/** Writes an offer (for INVITEs that arrived without SDP, or re-INVITEs we originate). */
export function buildOffer(state: SdpSessionState, p: OfferParams): string {
  const codecs = p.codecs ?? ['PCMU', 'PCMA'];
  const tePt = p.telephoneEventPayloadType === undefined ? 101 : p.telephoneEventPayloadType;
  const pts = codecs.map((c) => (c === 'PCMU' ? 0 : 8));
  const fmts = [...pts, ...(tePt !== null ? [tePt] : [])];
  const secure = p.srtp === 'required';
  const body = [`m=audio ${p.localPort} ${secure ? 'RTP/SAVP' : 'RTP/AVP'} ${fmts.join(' ')}`];
  codecs.forEach((c, i) => body.push(`a=rtpmap:${pts[i]} ${c}/8000`));
  if (tePt !== null) body.push(`a=rtpmap:${tePt} telephone-event/8000`, `a=fmtp:${tePt} 0-16`);
  body.push(`a=ptime:${p.ptime ?? 20}`, `a=${p.direction ?? 'sendrecv'}`);
  if (p.rtcpMux ?? true) body.push('a=rtcp-mux');
  state.offeredCrypto = undefined;
  if (secure) {
    state.offeredCrypto = new Map();
    OFFERED_SUITES.forEach((suite, i) => {
      state.offeredCrypto!.set(i + 1, suite);
      body.push(`a=crypto:${formatCryptoAttribute(i + 1, localKey(state, suite))}`);
    });
  }
  return finish(state, p.localAddress, body);
}

function describe(sdp: SessionDescription, choice: AudioChoice, ourPtime: number, flipDirection: boolean, state: SdpSessionState | undefined): NegotiatedMedia {
  let theirs: SdpDirection = choice.media.direction ?? sdp.direction ?? 'sendrecv';
  const nullAddr = isNullAddress(choice.connection.address);
  if (nullAddr) {
    // RFC 2543-style hold: c=0.0.0.0 means "do not send to me", whatever the attribute says.
    theirs = theirs === 'sendrecv' ? 'sendonly' : theirs === 'recvonly' ? 'inactive' : theirs;
  }
  const ours = flipDirection ? invert(theirs) : theirs;
  return {
    codec: choice.codec,
    payloadType: choice.payloadType,
    telephoneEvent: choice.telephoneEvent,
    remote: { address: choice.connection.address, port: choice.media.port },
    direction: ours,
    ptime: ourPtime,
    remotePtime: choice.media.ptime,
    hold: theirs === 'sendonly' || theirs === 'inactive',
    mediaIndex: choice.index,
    rtcpMux: choice.media.rtcpMux,
    rtcpPort: choice.media.rtcpPort,
    srtp: choice.crypto && state
      ? { suite: choice.crypto.suite, tag: choice.crypto.tag, remote: choice.crypto.remote, local: localKey(state, choice.crypto.suite) }
      : undefined,
  };
}

/**
 * Answers an offer. A failure's `reason` is meant for a `488 Not Acceptable Here` (with a
 * Warning header) upstream. Pass the same `session` on every re-INVITE of a call.
 */
export function negotiateAnswer(offer: string | SessionDescription, opts: NegotiateOptions): NegotiateResult {
  let sdp: SessionDescription;
  try {
    sdp = typeof offer === 'string' ? parseSdp(offer) : offer;
  } catch (err) {
    if (err instanceof SdpParseError) return { ok: false, code: 'BadSdp', reason: err.reason };
    throw err;
  }
  const ptime = opts.ptime ?? 20;
  const chosen = chooseAudio(sdp, opts.preferred ?? ['PCMU', 'PCMA'], opts.telephoneEvent ?? true, opts.srtp ?? 'optional');
  if (!chosen.ok) return chosen;
  const state = opts.session ?? createSdpSessionState();
  const neg = describe(sdp, chosen.choice, ptime, true, state);
  neg.rtcpMux = neg.rtcpMux === true && (opts.rtcpMux ?? true);
  const answerSdp = buildAnswer(state, {
    localAddress: opts.localAddress, localPort: opts.localPort, offerMedia: sdp.media, mediaIndex: neg.mediaIndex,
    payloadType: neg.payloadType, codec: neg.codec, telephoneEvent: neg.telephoneEvent, direction: neg.direction, ptime,
    rtcpMux: neg.rtcpMux,
    srtp: neg.srtp ? { proto: chosen.choice.proto, tag: neg.srtp.tag, local: neg.srtp.local } : undefined,
  });
  return { ok: true, answerSdp, offer: sdp, ...neg };
}

/**
 * Reads the answer to an offer we made (`buildOffer` with the same `session`). The answer's
 * direction is the peer's; the returned `direction` is ours (its mirror). After an SRTP offer
 * only an RTP/SAVP answer naming one of our crypto tags with its suite is usable.
 */
export function readAnswer(answer: string, opts: { preferred?: readonly Codec[]; ptime?: number; session?: SdpSessionState } = {}): { ok: true } & NegotiatedMedia | { ok: false; code: NegotiateFailureCode; reason: string } {
  let sdp: SessionDescription;
  try { sdp = parseSdp(answer); } catch (err) {
    if (err instanceof SdpParseError) return { ok: false, code: 'BadSdp', reason: err.reason };
    throw err;
  }
  const offered = opts.session?.offeredCrypto;
  const chosen = chooseAudio(sdp, opts.preferred ?? ['PCMU', 'PCMA'], true, offered ? 'required' : 'off', offered);
  if (!chosen.ok) return chosen;
  return { ok: true, ...describe(sdp, chosen.choice, opts.ptime ?? 20, true, opts.session) };
}
