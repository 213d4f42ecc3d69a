/**
 * One inbound call after it passed authentication: its dialog (200 OK, ACK, BYE either way,
 * re-INVITE), its media, and the CallControl the XML engine drives. Whatever ends the call —
 * the XML, the caller, a media timeout, a drain — goes through `end()`, which releases
 * everything once and reports the hangup to hangup_url.
 */
import { randomInt } from 'node:crypto';
import type { Logger } from '@sipflow/operator/log';
import type { RoutingApp } from '@sipflow/operator/contract/types';
import {
  createRequest, getHeader, getHeaders, parseNameAddrCached, parseSipUri, type SipRequest,
} from '../sip/message/index.js';
import type { InviteServerTransaction, NonInviteServerTransaction, TransactionLayer } from '../sip/transaction/index.js';
import type { SipDestination, SipSource, SipTransport } from '../sip/transport/index.js';
import { negotiateAnswer, readAnswer, type NegotiatedMedia, type SdpSessionState, type SrtpPolicy } from '../media/sdp/index.js';
import type { AnswerUrlClient, CallbackClient } from '../callbacks/index.js';
import { hangupParams, signedHeaders } from '../callbacks/index.js';
import type { HangupSource } from '../callbacks/hangupCauses.js';
import { StreamBridge, type StreamStatusEvent } from '../stream/index.js';
import type { StreamVerb } from '../xml/index.js';
import { PcmPlayback } from '../audio/playback.js';
import type { AudioFetcher } from '../audio/fetcher.js';
import { speechToPcm8k, type SpeechEngine } from '../speech/engine.js';
import type { Clock, TimerHandle } from '../clock.js';
import type { MediaMetrics } from '../observability/metrics.js';
import { CallMedia } from './call-media.js';
import { causeFor } from './causes.js';
import {
  DEFAULT_SESSION_TIMER_POLICY, decideSessionTimer, parseSessionExpires, SessionTimer, SUPPORTED_HEADER,
  type SessionTimerDecision, type SessionTimerPolicy,
} from './session-timer.js';
import type { SpeechRecognizer } from '../speech/recognizer.js';
import type { RecordingStore } from '../recording/store.js';
import type { CallControl, DigitCollection, FrameSource, HangupCause, StreamHandle, XmlFetchResult } from './control.js';

export const ALLOW = 'INVITE, ACK, BYE, CANCEL, OPTIONS, INFO, UPDATE';

export interface CallServices {
  transactions: TransactionLayer;
  transport: SipTransport;
  answerClient: AnswerUrlClient;
  callbacks: CallbackClient;
  speech: SpeechEngine;
  /** GetInput speech; absent when the pod has no recognizer. */
  recognizer?: SpeechRecognizer | undefined;
  /** <Record>'s store; absent when the pod has none. */
  recordings?: RecordingStore | undefined;
  audio: AudioFetcher;
  metrics: MediaMetrics;
  clock: Clock;
  /** Host put in Contact (and SDP, through the media layer). */
  advertiseHost: string;
  /** Session-timer limits (RFC 4028); the RFC's defaults when absent. */
  sessionTimerPolicy?: SessionTimerPolicy;
  /** SRTP for calls (SDES): `optional` (default) answers RTP/SAVP and RTP/AVP offers in kind. */
  srtpPolicy?: SrtpPolicy;
  /** An answered call ends after this long whatever it is doing (9070); 0 or absent = no limit. */
  maxCallDurationMs?: number;
  /** New connections tried when a stream's connection breaks (StreamBridge's default when absent). */
  streamReconnectAttempts?: number;
}

/** An application that requires SRTP gets it whatever the pod's own policy says. */
export function srtpPolicyFor(app: RoutingApp, podPolicy: SrtpPolicy | undefined): SrtpPolicy {
  return app.security?.requireSrtp ? 'required' : podPolicy ?? 'optional';
}

export interface CallInit {
  callUuid: string;
  app: RoutingApp;
  authToken?: string;
  invite: InviteServerTransaction;
  rtpMedia: CallMedia;
  sdp: SdpSessionState;
  negotiated: NegotiatedMedia & { answerSdp: string };
  /**
   * The INVITE had no SDP: `negotiated.answerSdp` is our offer, sent in the 200 OK, and the media
   * (codec, where to send) is only known from the answer in the ACK.
   */
  delayedOffer?: boolean;
  /** Parameters of the answer_url request; redirects/actions/hangup reuse them. */
  answerParams: Record<string, string>;
  logger: Logger;
  /** The session timer the INVITE asked for, as the ingress decided it (applied with the 200 OK). */
  sessionTimer?: SessionTimerDecision;
}

/** Pre-answer SIP responses for causes that end a call before it was answered. */
function rejectStatusFor(cause: HangupCause): [number, string] {
  switch (cause.code) {
    case 3010: return [486, 'Busy Here'];
    case 3020: return [603, 'Decline'];
    case 9020: return [503, 'Service Unavailable'];
    case 7011: return [500, 'Answer URL Unreachable'];
    case 8011: case 8012: case 8014: return [500, 'Invalid Answer XML'];
    case 9010: return [500, 'Unsupported XML'];
    case 5010: return [500, 'Server Internal Error'];
    default: return [480, 'Temporarily Unavailable'];
  }
}

export class Call implements CallControl {
  readonly callUuid: string;
  readonly app: RoutingApp;
  readonly callId: string;
  /** Our tag on To (the dialog's local tag). */
  readonly localTag: string;
  readonly remoteTag: string;
  private state: 'early' | 'answered' | 'ended' = 'early';
  private readonly abort = new AbortController();
  private readonly startWall: number;
  private answerWall: number | undefined;
  private sentEarlyMedia = false;
  /** Our SDP went out as an offer (200 OK to an offerless INVITE or re-INVITE); the ACK answers it. */
  private offerAwaitingAck = false;
  /** RTP configured from a negotiated answer (not yet, for a delayed offer before its ACK). */
  private mediaStarted = false;
  private answering: Promise<void> | undefined;
  private localCseq = randomInt(1, 1 << 20);
  private bridge: StreamBridge | undefined;
  private readonly sleeps = new Set<() => void>();
  private readonly ended: Promise<HangupCause>;
  private resolveEnded!: (c: HangupCause) => void;
  private cause: HangupCause | undefined;
  private readonly logger: Logger;
  private readonly sessionTimer: SessionTimer;
  private durationTimer: TimerHandle | undefined;

  constructor(private readonly svc: CallServices, private readonly init: CallInit, private readonly onGone: (call: Call) => void) {
    this.callUuid = init.callUuid;
    this.app = init.app;
    this.callId = init.invite.callId;
    this.localTag = init.invite.toTag;
    this.remoteTag = parseNameAddrCached(getHeader(init.invite.request, 'From') ?? '')?.params.get('tag') ?? '';
    this.startWall = svc.clock.wallNow();
    this.logger = init.logger;
    this.ended = new Promise((r) => { this.resolveEnded = r; });
    init.rtpMedia.rtp.onMediaTimeout = (detail) => this.end(causeFor(6020, 'Plivo', detail));
    this.offerAwaitingAck = init.delayedOffer === true;
    this.sessionTimer = new SessionTimer(svc.clock, {
      refresh: () => this.sendRefresh(),
      expired: (sec) => this.end(causeFor(9060, 'Error', `no session refresh within ${sec} s`)),
    });
  }

  get answered(): boolean { return this.state === 'answered'; }
  get isEnded(): boolean { return this.state === 'ended'; }
  get signal(): AbortSignal { return this.abort.signal; }
  get whenEnded(): Promise<HangupCause> { return this.ended; }
  get inviteTx(): InviteServerTransaction { return this.init.invite; }
  get source(): SipSource { return this.init.invite.source; }

  /**
   * Our Contact names the transport the INVITE came on, with TLS's own port. An INVITE to a sips:
   * URI over TLS gets a sips: Contact (RFC 5630 §3: no transport=tls with sips:).
   */
  contactHeader(): string {
    const src = this.init.invite.source;
    const adv = this.svc.transport.advertisedFor(src.transport);
    const host = adv.host.includes(':') ? `[${adv.host}]` : adv.host;
    if (src.transport === 'tls' && this.init.invite.request.parsedUri.scheme === 'sips') return `<sips:${this.app.appId}@${host}:${adv.port}>`;
    return `<sip:${this.app.appId}@${host}:${adv.port}${src.transport === 'udp' ? '' : `;transport=${src.transport}`}>`;
  }

  private withSdp(extra: Array<[string, string]> = []): { headers: Array<[string, string]>; body: string; contentType: string } {
    return {
      headers: [['Contact', this.contactHeader()], ['Allow', ALLOW], ['Supported', SUPPORTED_HEADER], ...extra],
      body: this.init.negotiated.answerSdp,
      contentType: 'application/sdp',
    };
  }

  private startMedia(): void {
    this.mediaStarted = true;
    const n = this.init.negotiated;
    this.init.rtpMedia.rtp.configure({
      codec: n.codec, payloadType: n.payloadType, telephoneEvent: n.telephoneEvent,
      remote: n.remote, direction: n.direction, hold: n.hold, rtcpMux: n.rtcpMux, rtcpPort: n.rtcpPort,
      srtp: n.srtp ? { local: n.srtp.local, remote: n.srtp.remote } : undefined,
    });
  }

  preAnswer(): Promise<boolean> {
    // Without an offer in the INVITE ours could only go in a reliable 183 (100rel), which we do not do.
    if (this.init.delayedOffer) return Promise.resolve(false);
    if (this.state !== 'early' || this.sentEarlyMedia) return Promise.resolve(true);
    this.sentEarlyMedia = true;
    this.init.invite.respond(183, 'Session Progress', this.withSdp());
    this.startMedia();
    return Promise.resolve(true);
  }

  /**
   * An ACK for our 200 OK (the ingress routes it here). When our SDP was an offer, the ACK carries
   * the answer: it decides the codec and where media goes. No usable answer leaves the offer
   * pending, and the call is ended once the ACK has been seen (initial INVITE) or the old media
   * kept (offerless re-INVITE).
   */
  ackReceived(req: SipRequest): void {
    if (!this.offerAwaitingAck || this.state === 'ended') return;
    const body = req.body.toString('utf8');
    const read = body.trim() === '' ? { ok: false as const, reason: 'the ACK has no SDP' } : readAnswer(body, { session: this.init.sdp });
    if (!read.ok) {
      this.logger.warn('no usable SDP answer in the ACK', { reason: read.reason });
      if (this.init.delayedOffer && !this.mediaStarted) this.end(causeFor(9050, 'Error', read.reason));
      this.offerAwaitingAck = false;
      return;
    }
    this.offerAwaitingAck = false;
    this.init.negotiated = { ...read, answerSdp: this.init.negotiated.answerSdp };
    this.startMedia();
    this.logger.info('SDP answer from the ACK applied', { codec: read.codec, direction: read.direction });
  }

  answer(): Promise<void> {
    if (this.state === 'ended') return Promise.reject(new CallEndedError(this.callUuid));
    if (!this.answering) this.answering = this.doAnswer();
    return this.answering;
  }

  private async doAnswer(): Promise<void> {
    const tx = this.init.invite;
    if (!tx.respondWith) throw new Error('no INVITE transaction');
    const timer = this.init.sessionTimer ?? { kind: 'none' };
    tx.respond(200, 'OK', this.withSdp(timer.kind === 'active' ? timer.headers : []));
    this.state = 'answered';
    this.applySessionTimer(timer);
    const maxMs = this.svc.maxCallDurationMs ?? 0;
    if (maxMs > 0) {
      this.durationTimer = this.svc.clock.setTimeout(() => this.end(causeFor(9070, 'Plivo', `answered for ${maxMs / 1000} s`)), maxMs);
    }
    this.answerWall = this.svc.clock.wallNow();
    this.svc.metrics.invites.inc({ outcome: 'answered' });
    if (!this.sentEarlyMedia && !this.init.delayedOffer) this.startMedia();
    this.logger.info('call answered', this.init.delayedOffer ? { sdp: 'offer in 200 OK' } : { codec: this.init.negotiated.codec });
    const outcome = await tx.waitForAck();
    if (outcome === 'timeout' && this.state === 'answered') {
      this.end(causeFor(9040, 'Error', 'no ACK for 200 OK'));
      throw new CallEndedError(this.callUuid);
    }
    if (this.init.delayedOffer && !this.mediaStarted && this.state === 'answered') {
      // The ACK came (the ingress saw it first) without an answer we can use.
      this.end(causeFor(9050, 'Error', 'the ACK has no usable SDP answer'));
    }
    if ((this.state as string) === 'ended') throw new CallEndedError(this.callUuid); // end() ran meanwhile
  }

  async play(source: FrameSource, until?: AbortSignal): Promise<boolean> {
    if (this.state === 'ended') return false;
    return this.init.rtpMedia.play(source, until);
  }

  async speech(text: string, voice: string, language: string): Promise<FrameSource> {
    const s = await this.svc.speech.synthesize(text, { voice, language });
    return new PcmPlayback(speechToPcm8k(s), 1);
  }

  async audioFile(url: string): Promise<FrameSource> {
    const a = await this.svc.audio.fetchAudio(url);
    return new PcmPlayback(a.pcm8k, 1);
  }

  collectDigits(opts?: { redact?: boolean }): DigitCollection { return this.init.rtpMedia.collectDigits(opts); }

  listen(onAudio: (pcm: Int16Array) => void): () => void { return this.init.rtpMedia.listen(onAudio); }

  get speechRecognizer(): SpeechRecognizer | undefined { return this.svc.recognizer; }
  get recordings(): RecordingStore | undefined { return this.svc.recordings; }
  record(onFrame: (caller: Int16Array, played: Int16Array) => void): () => void { return this.init.rtpMedia.record(onFrame); }

  sendDtmf(digits: string): Promise<void> { return this.init.rtpMedia.rtp.sendDtmf(digits); }

  async startStream(v: unknown): Promise<StreamHandle> {
    const verb = v as StreamVerb;
    if (this.bridge) throw new Error('a stream is already running on this call (one stream per call)');
    const token = this.init.authToken;
    const bridge = new StreamBridge({
      url: verb.url,
      callId: this.callUuid,
      bidirectional: verb.bidirectional,
      audioTrack: verb.audioTrack,
      contentType: verb.contentType,
      streamTimeoutSec: verb.streamTimeout,
      extraHeaders: verb.extraHeaders,
      clock: this.svc.clock,
      logger: this.logger.child({ stream: true }),
      sendDtmf: (digits: string) => { this.sendDtmf(digits).catch((err: unknown) => this.logger.warn('sendDTMF failed', { error: err as Error })); },
      onStatus: (e: StreamStatusEvent) => this.onStreamStatus(verb, e),
      // Unknown before an offer-less INVITE's ACK: PCM then, which suits either codec.
      ulawPlayback: this.init.rtpMedia.rtp.media?.codec === 'PCMU',
      ...(this.svc.streamReconnectAttempts !== undefined ? { reconnectAttempts: this.svc.streamReconnectAttempts } : {}),
      ...(verb.noiseCancellation ? { noiseCancellationLevel: verb.noiseCancellationLevel } : {}),
      ...(token ? { upgradeHeaders: (url: string) => wsSignature(url, token) } : {}),
    });
    this.bridge = bridge;
    try {
      await bridge.start();
    } catch (err) {
      this.bridge = undefined;
      this.svc.metrics.streams.inc({ event: 'failed' });
      throw err;
    }
    if (this.state === 'ended') { void bridge.stop('call_hangup'); throw new CallEndedError(this.callUuid); }
    this.svc.metrics.streams.inc({ event: 'started' });
    this.svc.metrics.streamsActive.inc();
    this.init.rtpMedia.attachBridge(bridge);
    const closed = bridge.closed.then((info) => {
      this.svc.metrics.streamsActive.dec();
      this.svc.metrics.streams.inc({ event: info.by === 'error' ? 'dropped' : 'stopped' });
      if (bridge.stats.reconnects > 0) this.svc.metrics.streams.inc({ event: 'reconnected' }, bridge.stats.reconnects);
      if (this.init.rtpMedia.attachedBridge === bridge) this.init.rtpMedia.attachBridge(undefined);
      if (this.bridge === bridge) this.bridge = undefined;
      this.logger.info('stream closed', { by: info.by, code: info.code, reason: info.reason, reconnects: bridge.stats.reconnects });
      return { by: info.by, ...(info.reason ? { detail: String(info.reason) } : {}) };
    });
    return { closed };
  }

  private onStreamStatus(verb: StreamVerb, e: StreamStatusEvent): void {
    if (e.event === 'DegradedStream') this.svc.metrics.streams.inc({ event: 'degraded' });
    if (!verb.statusCallbackUrl) return;
    void this.svc.callbacks.notify({
      url: verb.statusCallbackUrl,
      method: verb.statusCallbackMethod,
      params: {
        CallUUID: this.callUuid, StreamID: e.streamId, Event: e.event, ...(e.reason ? { StatusReason: e.reason } : {}),
        Timestamp: new Date(e.timestampMs).toISOString(), From: this.init.answerParams.From ?? '', To: this.init.answerParams.To ?? '',
        Direction: 'inbound', ServiceURL: verb.url, Bidirectional: String(verb.bidirectional), AudioTrack: verb.audioTrack,
        ContentType: verb.contentType, KeepCallAlive: String(verb.keepCallAlive), ExtraHeaders: verb.extraHeaders,
      },
      ...(this.init.authToken ? { authToken: this.init.authToken } : {}),
      purpose: 'stream-status',
      callUuid: this.callUuid,
    });
  }

  notify(url: string, method: 'GET' | 'POST', extra: Record<string, string>, purpose: string): void {
    void this.svc.callbacks.notify({
      url, method, params: { ...this.init.answerParams, CallStatus: 'in-progress', ...extra },
      ...(this.init.authToken ? { authToken: this.init.authToken } : {}),
      purpose, callUuid: this.callUuid,
    });
  }

  async fetchXml(url: string, method: 'GET' | 'POST', extra: Record<string, string>, purpose: 'redirect' | 'action'): Promise<XmlFetchResult> {
    const params = { ...this.init.answerParams, CallStatus: this.answered ? 'in-progress' : 'ringing', Event: purpose === 'redirect' ? 'Redirect' : 'GetDigits', ...extra };
    const started = performance.now();
    const res = await this.svc.answerClient.fetchXml({ url, method, params, purpose, ...(this.init.authToken ? { authToken: this.init.authToken } : {}) });
    this.svc.metrics.answerUrlLatency.observe({ purpose, result: res.ok ? 'ok' : res.cause }, (performance.now() - started) / 1000);
    return res.ok ? { ok: true, xml: res.xml } : { ok: false, cause: res.cause, detail: res.detail };
  }

  sleep(ms: number): Promise<boolean> {
    if (this.state === 'ended') return Promise.resolve(false);
    // Through the clock, which caps delays at what a Node timer holds: a <Wait length> of years
    // must not fire at once.
    const clock = this.svc.clock;
    return new Promise((resolve) => {
      const wake = () => { clock.clearTimeout(t); this.sleeps.delete(wake); resolve(false); };
      const t = clock.setTimeout(() => { this.sleeps.delete(wake); resolve(true); }, ms);
      this.sleeps.add(wake);
    });
  }

  hangup(cause: HangupCause): void { this.end(cause); }

  reject(status: number, reason: string, cause: HangupCause): void {
    if (this.state === 'early') this.init.invite.respond(status, reason);
    this.end(cause);
  }

  /** A key press the caller sent as SIP INFO. */
  infoDtmf(digit: string): void {
    if (this.state === 'ended') return;
    this.init.rtpMedia.digitReceived(digit, 'sip-info');
  }

  /** The caller hung up (BYE) — answered already by the ingress. */
  remoteBye(): void { this.end(causeFor(4000, 'Caller')); }

  /** The caller cancelled before answer. */
  cancelled(): void {
    if (this.state === 'early') this.init.invite.respond(487, 'Request Terminated');
    this.end(causeFor(1000, 'Caller'));
  }

  /**
   * A re-INVITE in this dialog: new SDP (hold/resume, codec change) on the same RTP port, and/or a
   * session refresh (RFC 4028).
   */
  handleReInvite(tx: InviteServerTransaction): void {
    if (this.state !== 'answered') { tx.respond(491, 'Request Pending'); return; }
    const timer = this.refreshDecision(tx);
    if (!timer) return;
    const timerHeaders = timer.kind === 'active' ? timer.headers : [];
    const body = tx.request.body.toString('utf8');
    if (body.trim() === '') {
      // An offerless re-INVITE: offer our current SDP again; the answer comes in the ACK and must
      // keep the crypto line (if any) that the SDP we repeat carries.
      const srtp = this.init.negotiated.srtp;
      this.init.sdp.offeredCrypto = srtp ? new Map([[srtp.tag, srtp.suite]]) : undefined;
      tx.respond(200, 'OK', this.withSdp(timerHeaders));
      this.offerAwaitingAck = true;
      this.applySessionTimer(timer);
      return;
    }
    if (!this.applyOffer(tx, body, 're-INVITE')) return;
    tx.respond(200, 'OK', this.withSdp(timerHeaders));
    this.applySessionTimer(timer);
  }

  /**
   * UPDATE (RFC 3311) in this dialog: most often a session refresh without a body; with SDP it is
   * an offer (hold, codec change) answered in the 200 like a re-INVITE's.
   */
  handleUpdate(tx: NonInviteServerTransaction): void {
    const body = tx.request.body.toString('utf8');
    const hasOffer = body.trim() !== '';
    if (this.state === 'ended') { tx.respond(481, 'Call/Transaction Does Not Exist'); return; }
    // An offer while ours is unanswered, or on an early dialog, would cross offers (RFC 3311 §5.2).
    if (hasOffer && (this.state !== 'answered' || this.offerAwaitingAck)) {
      tx.respond(491, 'Request Pending', { headers: [['Retry-After', '2']] });
      return;
    }
    const timer = this.refreshDecision(tx);
    if (!timer) return;
    const timerHeaders: Array<[string, string]> = timer.kind === 'active' ? timer.headers : [];
    if (!hasOffer) {
      tx.respond(200, 'OK', { headers: [['Contact', this.contactHeader()], ['Allow', ALLOW], ['Supported', SUPPORTED_HEADER], ...timerHeaders] });
    } else {
      if (!this.applyOffer(tx, body, 'UPDATE')) return;
      tx.respond(200, 'OK', this.withSdp(timerHeaders));
    }
    if (this.state === 'answered') this.applySessionTimer(timer);
  }

  /** The timer a refresh asks for, or undefined after answering 422 (interval below our minimum). */
  private refreshDecision(tx: InviteServerTransaction | NonInviteServerTransaction): SessionTimerDecision | undefined {
    const d = decideSessionTimer(tx.request, this.svc.sessionTimerPolicy ?? DEFAULT_SESSION_TIMER_POLICY);
    if (d.kind !== 'too-small') return d;
    tx.respond(422, 'Session Interval Too Small', { headers: [['Min-SE', String(d.minSeSec)]] });
    this.logger.info('session refresh refused: interval too small', { method: tx.method, asked: d.asked, minSe: d.minSeSec });
    return undefined;
  }

  /** Negotiates an in-dialog SDP offer; answers 488 and returns false when nothing fits. */
  private applyOffer(tx: InviteServerTransaction | NonInviteServerTransaction, body: string, what: string): boolean {
    const rtp = this.init.rtpMedia.rtp;
    const neg = negotiateAnswer(body, {
      localAddress: this.svc.advertiseHost, localPort: rtp.localPort, session: this.init.sdp, srtp: srtpPolicyFor(this.app, this.svc.srtpPolicy),
    });
    if (!neg.ok) {
      tx.respond(488, 'Not Acceptable Here', { headers: [['Warning', `399 sipflow "${neg.reason.replace(/"/g, "'")}"`]] });
      return false;
    }
    this.init.negotiated = neg;
    this.startMedia();
    this.logger.info(`${what} applied`, { hold: neg.hold, direction: neg.direction, codec: neg.codec });
    return true;
  }

  /** Starts, restarts or stops the session timer after a 2xx that carried `decision`. */
  private applySessionTimer(decision: SessionTimerDecision): void {
    if (this.state !== 'answered') return;
    if (decision.kind === 'active') {
      const was = this.sessionTimer.state;
      this.sessionTimer.restart(decision.intervalSec, decision.refresher);
      if (!was || was.intervalSec !== decision.intervalSec || was.refresher !== decision.refresher) {
        this.logger.info('session timer running', { intervalSec: decision.intervalSec, refresher: decision.refresher });
      }
    } else {
      if (this.sessionTimer.state) this.logger.info('session timer stopped: the refresh asked for none');
      else if (decision.kind === 'none' && decision.reason) this.logger.info('no session timer', { reason: decision.reason });
      this.sessionTimer.stop();
    }
  }

  /** We are the refresher (RFC 4028 §10): an UPDATE without a body keeps the session alive. */
  private sendRefresh(): void {
    const cur = this.sessionTimer.state;
    if (this.state !== 'answered' || !cur) return;
    const { req, dest } = this.inDialogRequest('UPDATE', [
      ['Contact', this.contactHeader()], ['Session-Expires', `${cur.intervalSec};refresher=uas`],
      ['Supported', SUPPORTED_HEADER], ['Allow', ALLOW],
    ]);
    this.svc.transactions.sendRequest(req, dest).then((res) => {
      if (this.state !== 'answered') return;
      if (res.status >= 200 && res.status < 300) {
        const se = parseSessionExpires(res);
        // An interval under our minimum in the answer (0, say) would have us refresh in a loop.
        const minSe = (this.svc.sessionTimerPolicy ?? DEFAULT_SESSION_TIMER_POLICY).minSeSec;
        const interval = se && se.seconds >= minSe ? se.seconds : cur.intervalSec;
        this.sessionTimer.restart(interval, se?.refresher ?? 'uas');
        this.logger.debug('session refreshed', { status: res.status });
      } else if (res.status === 408 || res.status === 481) {
        this.end(causeFor(9060, 'Error', `session refresh answered ${res.status}`));
      } else if (res.status === 405 || res.status === 501) {
        this.logger.warn('session refresh not possible: the caller refused UPDATE; the session timer is off', { status: res.status });
        this.sessionTimer.stop();
      } else {
        this.logger.warn('session refresh refused; trying again', { status: res.status });
        this.sessionTimer.retryRefresh(res.status === 491 ? 2000 + Math.floor(Math.random() * 2000) : 10_000);
      }
    }, (err: unknown) => {
      if (this.state !== 'answered') return;
      this.end(causeFor(9060, 'Error', `session refresh not answered: ${(err as Error).message}`));
    });
  }

  /** Ends the call once: SIP (final response or BYE), media, stream, metrics, hangup_url. */
  end(cause: HangupCause): void {
    if (this.state === 'ended') return;
    const wasAnswered = this.state === 'answered';
    this.state = 'ended';
    this.cause = cause;
    if (!wasAnswered) {
      const [status, reason] = rejectStatusFor(cause);
      if (cause.code !== 1000 && this.init.invite.state === 'proceeding') {
        this.init.invite.respond(status, reason, { headers: [['Warning', `399 sipflow "${cause.name}${cause.detail ? `: ${cause.detail.replace(/"/g, "'").slice(0, 200)}` : ''}"`]] });
      }
      this.svc.metrics.invites.inc({ outcome: cause.code === 1000 ? 'canceled' : 'rejected' });
    } else if (cause.source !== 'Caller') {
      this.sendBye();
    }
    // The cause as the reason: abort() without one builds a DOMException (with a stack) per call.
    this.abort.abort(cause);
    this.sessionTimer.stop();
    this.svc.clock.clearTimeout(this.durationTimer);
    for (const wake of [...this.sleeps]) wake();
    const bridge = this.bridge;
    this.bridge = undefined;
    if (bridge) void bridge.stop('call_hangup');
    const media = this.init.rtpMedia.summary();
    this.init.rtpMedia.close();
    // Read after close, so the RTCP BYE sent there is counted.
    const rtp = this.init.rtpMedia.rtp.stats();
    const far = rtp.remoteReport;
    const rtcp = {
      rtcpIn: rtp.rtcpIn, rtcpOut: rtp.rtcpOut, rtcpUnreadable: rtp.rtcpIgnored,
      ...(this.init.negotiated.srtp ? { srtp: this.init.negotiated.srtp.suite, srtpRejected: rtp.srtpRejected } : {}),
      // What the far end last said about the audio we sent (RTCP receiver report).
      farEnd: far ? { fractionLost: Math.round(far.fractionLost * 1000) / 1000, cumulativeLost: far.cumulativeLost, jitterMs: Math.round(far.jitterMs * 10) / 10, rttMs: far.rttMs } : null,
    };
    this.svc.metrics.callsEnded.inc({ cause_code: String(cause.code) });
    const m = this.svc.metrics;
    m.rtpPackets.inc({ kind: 'received' }, media.packetsIn);
    m.rtpPackets.inc({ kind: 'sent' }, media.packetsOut);
    m.rtpPackets.inc({ kind: 'lost' }, media.lost);
    m.rtpPackets.inc({ kind: 'dropped' }, media.foreign + media.invalid);
    if (rtp.srtpRejected > 0) m.rtpPackets.inc({ kind: 'srtp_rejected' }, rtp.srtpRejected);
    m.rtcpPackets.inc({ kind: 'received' }, rtp.rtcpIn);
    m.rtcpPackets.inc({ kind: 'sent' }, rtp.rtcpOut);
    m.rtcpPackets.inc({ kind: 'unreadable' }, rtp.rtcpIgnored);
    if (far) {
      m.farEndLoss.observe(far.fractionLost);
      if (far.rttMs !== null) m.roundTrip.observe(far.rttMs / 1000);
    }
    this.logger.info('call ended', { causeCode: cause.code, cause: cause.name, source: cause.source, detail: cause.detail, answered: wasAnswered, media: { ...media, ...rtcp } });
    const answeredMs = this.answerWall === undefined ? 0 : this.svc.clock.wallNow() - this.answerWall;
    if (wasAnswered && media.packetsIn === 0 && answeredMs >= 2000) {
      m.callsWithoutRtp.inc();
      this.logger.warn('no RTP ever arrived from the caller', {
        advertised: `${this.svc.advertiseHost}:${this.init.rtpMedia.rtp.localPort}`, answeredMs: Math.round(answeredMs),
        hint: 'check that the RTP port range is reachable from the caller (firewall, NAT) and that the advertised address is the one they can reach',
      });
    }
    this.notifyHangup(cause);
    this.resolveEnded(cause);
    this.onGone(this);
  }

  private notifyHangup(cause: HangupCause): void {
    const url = this.app.hangupUrl;
    if (!url) return;
    const p = this.init.answerParams;
    const params = hangupParams({
      callUuid: this.callUuid, from: p.From ?? '', to: p.To ?? '', callerName: p.CallerName ?? '',
      ...(p['SIP-H-To'] !== undefined ? { sipToHeader: p['SIP-H-To'] } : {}),
      startTime: this.startWall, ...(this.answerWall !== undefined ? { answerTime: this.answerWall } : {}),
      endTime: this.svc.clock.wallNow(), causeCode: cause.code, causeName: cause.name,
      hangupSource: cause.source as HangupSource,
      extra: Object.fromEntries(Object.entries(p).filter(([k]) => k.startsWith('X-PH-') || k.startsWith('SIPAuth') || k === 'SIPSourceIP')),
    });
    void this.svc.callbacks.notify({
      url, method: this.app.hangupMethod, params, purpose: 'hangup', callUuid: this.callUuid,
      ...(this.init.authToken ? { authToken: this.init.authToken } : {}),
    });
  }

  /** BYE from our side (RFC 3261 §15.1.1). */
  private sendBye(): void {
    const { req, dest } = this.inDialogRequest('BYE', [['Reason', `Q.850;cause=16;text="${this.cause?.name ?? 'Normal Hangup'}"`]]);
    this.svc.transactions.sendRequest(req, dest).then(
      (res) => this.logger.debug('BYE answered', { status: res.status }),
      (err: unknown) => this.logger.warn('BYE not answered', { error: err as Error }),
    );
  }

  /** A request of ours in this dialog: to the caller's Contact, through its Record-Route. */
  private inDialogRequest(method: string, extra: Array<[string, string]>): { req: SipRequest; dest: SipDestination } {
    const inv = this.init.invite.request;
    const contact = parseNameAddrCached(getHeader(inv, 'Contact') ?? '');
    const target = contact?.uriText ?? inv.uri;
    const routes = getHeaders(inv, 'Record-Route');
    const from = getHeader(inv, 'From') ?? '';
    const to = getHeader(inv, 'To') ?? '';
    const toWithTag = /;\s*tag=/i.test(to) ? to : `${to};tag=${this.localTag}`;
    const headers: Array<[string, string]> = [
      ['From', toWithTag], ['To', from], ['Call-ID', this.callId], ['CSeq', `${++this.localCseq} ${method}`],
      ...routes.map((r): [string, string] => ['Route', r]),
      ...extra,
    ];
    let req: SipRequest;
    try {
      req = createRequest({ method, uri: target, headers });
    } catch {
      req = createRequest({ method, uri: inv.uri, headers });
    }
    return { req, dest: this.requestDestination(routes[0]) };
  }

  /**
   * Through a proxy when the INVITE was record-routed; otherwise back where the INVITE came from
   * (NAT-safe): over TCP/TLS on its connection while that is open, else a new one to the caller's
   * Contact. A call that came over TLS never falls back to plain text; sips: or transport=tls asks for TLS.
   */
  private requestDestination(firstRoute: string | undefined): SipDestination {
    const src = this.init.invite.source;
    const transportOf = (uri: { scheme: string; params: ReadonlyMap<string, string | null> }): SipDestination['transport'] => {
      const t = uri.params.get('transport')?.toLowerCase();
      if (src.transport === 'tls' || uri.scheme === 'sips' || t === 'tls') return 'tls';
      return t === 'tcp' ? 'tcp' : t === 'udp' ? 'udp' : src.transport;
    };
    const toUri = (uri: { host: string; port?: number; scheme: string; params: ReadonlyMap<string, string | null> }): SipDestination => {
      const transport = transportOf(uri);
      const dest: SipDestination = { transport, address: uri.host, port: uri.port ?? (transport === 'tls' ? 5061 : 5060) };
      // The connection the INVITE came on is the way back to the same peer (RFC 5923's reasoning).
      if (src.connectionId && transport === src.transport && (uri.host === src.address || !firstRoute)) dest.connectionId = src.connectionId;
      return dest;
    };
    if (firstRoute) {
      const uri = parseNameAddrCached(firstRoute)?.uri ?? parseSipUri(firstRoute);
      if (uri && uri.host) return toUri(uri);
    }
    if (src.transport !== 'udp') {
      const contact = parseNameAddrCached(getHeader(this.init.invite.request, 'Contact') ?? '')?.uri;
      if (contact && contact.host) return toUri(contact);
    }
    return { transport: src.transport, address: src.address, port: src.port, ...(src.connectionId ? { connectionId: src.connectionId } : {}) };
  }
}

export class CallEndedError extends Error {
  constructor(callUuid: string) { super(`call ${callUuid} has ended`); this.name = 'CallEndedError'; }
}

/** Plivo signs the WebSocket upgrade like a GET to the http(s) form of the stream URL. */
function wsSignature(wsUrl: string, token: string): Record<string, string> {
  const httpUrl = wsUrl.replace(/^ws(s?):/i, 'http$1:');
  const h = signedHeaders({ url: httpUrl, method: 'GET', params: {}, authToken: token });
  return { ...h } as unknown as Record<string, string>;
}

export type { NonInviteServerTransaction };
