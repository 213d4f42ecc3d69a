/**
 * The front door of the media pod: every new INVITE is resolved to an application from the
 * Request-URI user part, checked against lockout, IP ACL and digest credentials in that order,
 * and only then gets media and an answer-URL request. Every rejection explains itself in the
 * reason phrase, a Warning header, one structured log line and a metric label. In-dialog
 * requests (ACK, BYE, re-INVITE, CANCEL) are routed to the call that owns them.
 */
import { randomUUID } from 'node:crypto';
import type { Logger } from '@sipflow/operator/log';
import type { RoutingApp, RuntimeConfig } from '@sipflow/operator/contract/types';
import { getHeader, getHeaders, parseAuthHeader, parseNameAddrCached, type SipRequest } from '../sip/message/index.js';
import type { InviteServerTransaction, NonInviteServerTransaction, TransactionLayer } from '../sip/transaction/index.js';
import type { SipSource, SipTransport } from '../sip/transport/index.js';
import { IpAclMatcher, type DigestAuthenticator, type LockoutTable } from '../auth/index.js';
import { answerParams, authTypeParam } from '../callbacks/index.js';
import { buildOffer, createSdpSessionState, negotiateAnswer, type NegotiatedMedia } from '../media/sdp/index.js';
import { RtpSession, RtpBindError, type MediaClock, type RtpPortPool } from '../media/rtp/index.js';
import { parsePlivoXml, type PlivoXmlParseResult } from '../xml/index.js';
import type { ConfigStore } from '../config/store.js';
import { Call, ALLOW, srtpPolicyFor, type CallServices } from './call.js';
import { CallMedia } from './call-media.js';
import { causeFor } from './causes.js';
import { XmlEngine } from './xml-engine.js';
import {
  DEFAULT_SESSION_TIMER_POLICY, decideSessionTimer, SUPPORTED_HEADER, unsupportedRequired, type SessionTimerDecision,
} from './session-timer.js';

/** Why a request was refused; also the `cause` metric label. */
export type RejectionCause =
  | 'unknown_application' | 'source_not_in_acl' | 'bad_credentials' | 'locked_out' | 'malformed'
  | 'draining' | 'not_ready' | 'unsupported_media' | 'no_media_ports' | 'no_dialog' | 'method_not_allowed'
  | 'bad_extension' | 'session_interval_too_small' | 'tls_required';

interface Rejection {
  status: number; reason: string; warning: string; cause: RejectionCause; retryAfter?: number;
  headers?: Array<[string, string]>;
}

/** What a delayed-offer call's media is until the ACK's answer says otherwise (nothing is sent before). */
const PENDING_MEDIA: NegotiatedMedia = {
  codec: 'PCMU', payloadType: 0, telephoneEvent: { payloadType: 101, rate: 8000 }, remote: { address: '0.0.0.0', port: 0 },
  direction: 'sendrecv', ptime: 20, remotePtime: undefined, hold: false, mediaIndex: 0,
};

const KNOWN_UNSUPPORTED = new Set(['REGISTER', 'SUBSCRIBE', 'NOTIFY', 'PUBLISH', 'MESSAGE', 'REFER', 'PRACK']);

export interface IngressOptions extends CallServices {
  config: ConfigStore;
  digest: DigestAuthenticator;
  lockout: LockoutTable;
  rtpPool: RtpPortPool;
  mediaClock: MediaClock;
  /** Local address RTP sockets bind to. */
  rtpListenAddress: string;
  mediaTimeoutMs: number;
  /** On hold, for callers that send RTCP: no RTP or RTCP for this long ends the call (6020). */
  holdTimeoutMs?: number;
  /** With nothing to play, send silence rather than no RTP (RtpSessionOptions.silenceWhenIdle). */
  rtpSendSilence?: boolean;
  logger: Logger;
  /** Seconds suggested to callers in Retry-After while draining. */
  drainRetryAfterSec?: number;
}

export class SipIngress {
  /** Dialogs by Call-ID + remote tag + local tag. */
  private readonly dialogs = new Map<string, Call>();
  /** Calls not yet answered, by INVITE transaction id (for CANCEL). */
  private readonly pending = new Map<string, Call>();
  /** Per-app derived lookups, built once per config generation (a new generation brings new app objects). */
  private readonly aclCache = new WeakMap<RoutingApp, IpAclMatcher>();
  private readonly identityCache = new WeakMap<RoutingApp, ReadonlySet<string>>();
  private draining = false;
  private readonly logger: Logger;
  private readonly transactions: TransactionLayer;
  private readonly transport: SipTransport;

  constructor(private readonly o: IngressOptions) {
    this.logger = o.logger;
    this.transactions = o.transactions;
    this.transport = o.transport;
    this.transactions.on('invite', (tx) => this.onInvite(tx));
    this.transactions.on('request', (tx) => this.onRequest(tx));
    this.transactions.on('ack', (req) => this.onAck(req));
    this.transactions.on('cancel', (inviteTx) => this.onCancel(inviteTx));
    this.transport.on('parseError', (err, source) => {
      this.o.metrics.rejections.inc({ cause: 'malformed' });
      this.logger.warn('malformed SIP message', { cause: 'malformed', source: `${source.address}:${source.port}`, transport: source.transport, reason: err.reason, callId: err.partial?.callId });
    });
    this.transport.on('request', (req, source) => this.o.metrics.sipMessages.inc({ transport: source.transport, kind: req.method.length <= 10 ? req.method : 'other' }));
    this.transport.on('connectionClosed', (_id, reason, source) => this.o.metrics.sipConnectionsClosed.inc({ transport: source.transport, reason }));
  }

  /** Every call, answered or not, is in `dialogs` (its To tag is ours from the first response). */
  get activeCalls(): number { return this.dialogs.size; }
  get isDraining(): boolean { return this.draining; }
  calls(): Call[] { return [...this.dialogs.values()]; }

  /** From now on new INVITEs get 503 + Retry-After; calls in progress continue. */
  startDraining(): void {
    this.draining = true;
    this.o.metrics.draining.set(1);
    this.logger.info('draining: refusing new calls', { activeCalls: this.activeCalls });
  }

  /** Ends every call (grace period over, or shutdown). */
  endAll(code: number, detail: string): void {
    for (const call of this.calls()) call.end(causeFor(code, 'Plivo', detail));
  }

  private reject(tx: InviteServerTransaction | NonInviteServerTransaction, r: Rejection, fields: Record<string, unknown> = {}): void {
    const headers: Array<[string, string]> = [['Warning', `399 sipflow "${r.warning.replace(/["\\]/g, "'")}"`]];
    if (r.retryAfter !== undefined) headers.push(['Retry-After', String(r.retryAfter)]);
    if (r.status === 405) headers.push(['Allow', ALLOW]);
    if (r.headers) headers.push(...r.headers);
    tx.respond(r.status, r.reason, { headers });
    this.o.metrics.rejections.inc({ cause: r.cause });
    if (tx.method === 'INVITE') this.o.metrics.invites.inc({ outcome: 'rejected' });
    this.logger.warn('request rejected', {
      callId: tx.callId, method: tx.method, source: `${tx.source.address}:${tx.source.port}`, transport: tx.source.transport,
      status: r.status, cause: r.cause, reason: r.warning, ...fields,
    });
  }

  private dialogKey(callId: string, remoteTag: string, localTag: string): string { return `${callId}\u0000${remoteTag}\u0000${localTag}`; }

  private findDialog(req: SipRequest): Call | undefined {
    const callId = getHeader(req, 'Call-ID') ?? '';
    const fromTag = parseNameAddrCached(getHeader(req, 'From') ?? '')?.params.get('tag') ?? '';
    const toTag = parseNameAddrCached(getHeader(req, 'To') ?? '')?.params.get('tag') ?? '';
    return this.dialogs.get(this.dialogKey(callId, fromTag, toTag));
  }

  private onInvite(tx: InviteServerTransaction): void {
    const toTag = parseNameAddrCached(getHeader(tx.request, 'To') ?? '')?.params.get('tag');
    if (toTag) {
      const call = this.findDialog(tx.request);
      if (!call) { this.reject(tx, { status: 481, reason: 'Call/Transaction Does Not Exist', warning: 'no dialog matches this re-INVITE', cause: 'no_dialog' }); return; }
      if (this.rejectUnsupportedExtensions(tx)) return;
      call.handleReInvite(tx);
      return;
    }
    void this.onInitialInvite(tx).catch((err: unknown) => {
      this.logger.error('INVITE handling failed', { callId: tx.callId, error: err as Error });
      if (tx.state === 'proceeding') tx.respond(500, 'Server Internal Error');
    });
  }

  /** Resolution from the Request-URI user part only: never To, so a number cannot bypass auth. */
  private resolveApp(config: RuntimeConfig, req: SipRequest): RoutingApp | undefined {
    const user = req.parsedUri.user;
    if (!user) return undefined;
    return config.appsById.get(user) ?? config.appsByNumber.get(user.replace(/^\+/, ''));
  }

  private identitiesFor(app: RoutingApp): ReadonlySet<string> {
    let ids = this.identityCache.get(app);
    if (!ids) { ids = new Set(app.auth.identities); this.identityCache.set(app, ids); }
    return ids;
  }

  private aclFor(app: RoutingApp): IpAclMatcher {
    let m = this.aclCache.get(app);
    if (!m) { m = new IpAclMatcher(app.auth.acl); this.aclCache.set(app, m); }
    return m;
  }

  private async onInitialInvite(tx: InviteServerTransaction): Promise<void> {
    const req = tx.request;
    const ip = tx.source.address;
    if (this.draining) {
      this.reject(tx, { status: 503, reason: 'Service Unavailable - Draining', warning: 'this media pod is draining; retry on another', cause: 'draining', retryAfter: this.o.drainRetryAfterSec ?? 30 });
      return;
    }
    const config = this.o.config.current();
    if (!config) { this.reject(tx, { status: 503, reason: 'Service Unavailable - No Config', warning: 'no configuration loaded yet', cause: 'not_ready', retryAfter: 5 }); return; }
    const app = this.resolveApp(config, req);
    const userPart = req.parsedUri.user ?? '';
    if (!app) {
      this.reject(tx, { status: 404, reason: 'Not Found - Unknown Application', warning: `no application with appId or number '${userPart.slice(0, 64)}' in the Request-URI`, cause: 'unknown_application' }, { requestUser: userPart.slice(0, 64) });
      return;
    }
    const appFields = { appId: app.appId, app: `${app.namespace}/${app.name}` };
    if (this.o.lockout.isLockedOut(ip)) {
      const secs = Math.ceil(this.o.lockout.remainingMs(ip) / 1000);
      this.reject(tx, { status: 403, reason: 'Forbidden - Locked Out', warning: `source ${ip} is locked out after repeated authentication failures (${secs}s left)`, cause: 'locked_out', retryAfter: secs }, appFields);
      return;
    }
    if (app.security?.requireTls && tx.source.transport !== 'tls') {
      // Before any challenge: nothing of this application is negotiated over a clear transport.
      this.reject(tx, { status: 403, reason: 'Forbidden - TLS Required', warning: `application '${app.appId}' accepts calls over SIP over TLS only`, cause: 'tls_required' }, { ...appFields, transport: tx.source.transport });
      return;
    }
    const type = app.auth.type;
    if (type === 'IpAcl' || type === 'IpAclAndCredential') {
      if (!this.aclFor(app).matches(ip)) {
        this.countFailure(ip, 'source_not_in_acl');
        this.reject(tx, { status: 403, reason: 'Forbidden - Source Not In ACL', warning: `source ${ip} is not in the IP ACL of application '${app.appId}'`, cause: 'source_not_in_acl' }, appFields);
        return;
      }
    }
    let authUser: string | undefined;
    if (type === 'Credential' || type === 'IpAclAndCredential') {
      const realm = app.auth.realm ?? config.sipDomain;
      const params = this.proxyAuthParams(req, realm);
      if (!params) {
        tx.respond(407, 'Proxy Authentication Required', { headers: this.o.digest.challenge({ realm, sourceIp: ip }).map((v): [string, string] => ['Proxy-Authenticate', v]) });
        this.logger.info('challenge sent', { callId: tx.callId, source: `${ip}:${tx.source.port}`, ...appFields });
        return;
      }
      const result = this.o.digest.verify({
        params, method: req.method, sourceIp: ip, realm,
        lookup: (id) => config.credentials.get(id),
        allowedIdentities: this.identitiesFor(app),
        requestUri: req.uri,
      });
      if (!result.ok) {
        if (result.stale) {
          tx.respond(407, 'Proxy Authentication Required', { headers: this.o.digest.challenge({ realm, sourceIp: ip, stale: true }).map((v): [string, string] => ['Proxy-Authenticate', v]) });
          this.logger.info('stale nonce, challenged again', { callId: tx.callId, source: `${ip}:${tx.source.port}`, detail: result.detail, ...appFields });
          return;
        }
        this.o.metrics.authFailures.inc({ cause: result.cause });
        const locked = this.countFailure(ip, 'bad_credentials');
        if (locked) {
          this.reject(tx, { status: 403, reason: 'Forbidden - Locked Out', warning: `source ${ip} is now locked out after repeated authentication failures`, cause: 'locked_out' }, { ...appFields, user: result.username });
        } else {
          this.reject(tx, { status: 403, reason: 'Forbidden - Bad Credentials', warning: 'digest credentials were not accepted for this application', cause: 'bad_credentials' }, { ...appFields, user: result.username, detail: result.detail });
        }
        return;
      }
      authUser = result.username;
    }
    if (this.rejectUnsupportedExtensions(tx, appFields)) return;
    const sessionTimer = decideSessionTimer(req, this.o.sessionTimerPolicy ?? DEFAULT_SESSION_TIMER_POLICY);
    if (sessionTimer.kind === 'too-small') {
      this.reject(tx, {
        status: 422, reason: 'Session Interval Too Small', cause: 'session_interval_too_small',
        warning: `Session-Expires ${sessionTimer.asked} is below this server's minimum of ${sessionTimer.minSeSec} s`,
        headers: [['Min-SE', String(sessionTimer.minSeSec)]],
      }, appFields);
      return;
    }
    if (type === 'None') {
      this.o.metrics.unauthenticatedCalls.inc();
      this.logger.warn('unauthenticated call accepted (sipAuth.type None)', { callId: tx.callId, source: ip, ...appFields });
    }
    await this.startCall(tx, app, config, authUser, sessionTimer);
  }

  /** RFC 3261 §8.2.2.3: a request that requires an extension we lack gets 420 naming it. */
  private rejectUnsupportedExtensions(tx: InviteServerTransaction | NonInviteServerTransaction, fields: Record<string, unknown> = {}): boolean {
    const missing = unsupportedRequired(tx.request);
    if (missing.length === 0) return false;
    this.reject(tx, {
      status: 420, reason: 'Bad Extension', cause: 'bad_extension',
      warning: `required extension${missing.length > 1 ? 's' : ''} not supported: ${missing.join(', ')} (supported: ${SUPPORTED_HEADER})`,
      headers: [['Unsupported', missing.join(', ')]],
    }, fields);
    return true;
  }

  /** Counts a failed attempt; true when it started a lockout. */
  private countFailure(ip: string, cause: string): boolean {
    if (cause !== 'bad_credentials') this.o.metrics.authFailures.inc({ cause });
    const locked = this.o.lockout.recordFailure(ip);
    if (locked) {
      this.o.metrics.lockouts.inc();
      this.logger.warn('source locked out', { source: ip, cause });
    }
    this.o.metrics.lockedSources.set(this.o.lockout.stats().locked);
    return locked;
  }

  private proxyAuthParams(req: SipRequest, realm: string): Record<string, string> | undefined {
    let fallback: Record<string, string> | undefined;
    for (const value of getHeaders(req, 'Proxy-Authorization')) {
      const h = parseAuthHeader(value);
      if (!h || h.scheme.toLowerCase() !== 'digest') continue;
      const params = Object.fromEntries(h.params);
      if (params.realm === realm) return params;
      fallback ??= params;
    }
    return fallback;
  }

  private async startCall(
    tx: InviteServerTransaction, app: RoutingApp, config: RuntimeConfig, authUser: string | undefined, sessionTimer: SessionTimerDecision,
  ): Promise<void> {
    const req = tx.request;
    const offer = req.body.toString('utf8');
    // No SDP (delayed offer, as some PBXs and SBCs send): our offer goes in the 200 OK and the
    // caller's answer comes in the ACK.
    const delayedOffer = offer.trim() === '';
    let rtp: RtpSession;
    try {
      rtp = await RtpSession.open({
        listenAddress: this.o.rtpListenAddress, pool: this.o.rtpPool, mediaClock: this.o.mediaClock, clock: this.o.clock,
        mediaTimeoutMs: this.o.mediaTimeoutMs, logger: this.logger.child({ callId: tx.callId }), signallingAddress: tx.source.address,
        ...(this.o.holdTimeoutMs !== undefined ? { holdTimeoutMs: this.o.holdTimeoutMs } : {}),
        silenceWhenIdle: this.o.rtpSendSilence !== false,
      });
    } catch (err) {
      const msg = err instanceof RtpBindError ? err.message : String(err);
      this.reject(tx, { status: 503, reason: 'Service Unavailable - No Media Ports', warning: msg, cause: 'no_media_ports', retryAfter: 5 }, { appId: app.appId });
      return;
    }
    const sdp = createSdpSessionState();
    const srtpPolicy = srtpPolicyFor(app, this.o.srtpPolicy);
    const neg = delayedOffer
      ? { ok: true as const, ...PENDING_MEDIA, answerSdp: buildOffer(sdp, { localAddress: this.o.advertiseHost, localPort: rtp.localPort, srtp: srtpPolicy }) }
      : negotiateAnswer(offer, { localAddress: this.o.advertiseHost, localPort: rtp.localPort, session: sdp, srtp: srtpPolicy });
    if (!neg.ok) {
      rtp.close();
      this.reject(tx, { status: 488, reason: 'Not Acceptable Here', warning: neg.reason, cause: 'unsupported_media' }, { appId: app.appId, sdpProblem: neg.code });
      return;
    }
    if (tx.state !== 'proceeding') { rtp.close(); return; } // cancelled while we bound the port

    const callUuid = randomUUID();
    const logger = this.logger.child({ callId: tx.callId, callUuid, appId: app.appId });
    const from = parseNameAddrCached(getHeader(req, 'From') ?? '');
    const params = answerParams({
      callUuid,
      from: from?.uriText ?? '',
      to: req.uri,
      callerName: from?.displayName ?? '',
      sipHeaders: req.headers.map((h): [string, string] => [h.name, h.value]),
      sipToHeader: getHeader(req, 'To') ?? '',
      authType: authTypeParam(app.auth.type),
      ...(authUser ? { authUser } : {}),
      sourceIp: tx.source.address,
    });
    const authToken = config.appTokens.get(app.appId);
    const media = new CallMedia(rtp, this.o.clock, logger);
    const call = new Call(this.o, {
      callUuid, app, invite: tx, rtpMedia: media, sdp, negotiated: neg, answerParams: params, logger, delayedOffer, sessionTimer,
      ...(authToken ? { authToken } : {}),
    }, (c) => this.forget(c));
    this.pending.set(tx.id, call);
    this.dialogs.set(this.dialogKey(call.callId, call.remoteTag, call.localTag), call);
    this.o.metrics.activeCalls.set(this.activeCalls);
    tx.once('ackTimeout', () => call.end(causeFor(9040, 'Error', 'no ACK for 200 OK')));
    logger.info('call accepted', { source: `${tx.source.address}:${tx.source.port}`, transport: tx.source.transport, authType: app.auth.type, user: authUser, ...(delayedOffer ? { sdp: 'none in INVITE (we offer)' } : { codec: neg.codec }),
      // SDES keys sent over clear-text SIP protect the media only from those who cannot see the signalling (RFC 4568 §8.3).
      ...(neg.srtp ? { srtp: neg.srtp.suite, sdesKeysInClearSignalling: tx.source.transport !== 'tls' } : {}) });

    tx.respond(180, 'Ringing', { headers: [['Contact', call.contactHeader()]] });
    const started = performance.now();
    // The engine runs the document the validator parsed (a fallback answer replaces it).
    let validated: { xml: string; parsed: PlivoXmlParseResult } | undefined;
    const answer = await this.o.answerClient.fetchAnswer(app, params, {
      callUuid, ...(authToken ? { authToken } : {}),
      validateXml: (xml) => {
        const p = parsePlivoXml(xml);
        validated = { xml, parsed: p };
        return p.ok ? undefined : `line ${p.error.line}: ${p.error.message}`;
      },
    });
    this.o.metrics.answerUrlLatency.observe({ purpose: 'answer', result: answer.ok ? 'ok' : answer.cause }, (performance.now() - started) / 1000);
    if (call.isEnded) return;
    if (!answer.ok) {
      logger.warn('answer URL failed', { cause: answer.cause, detail: answer.detail, hangupCauseCode: answer.hangupCauseCode });
      call.end(causeFor(answer.hangupCauseCode, 'Error', `${answer.cause}: ${answer.detail}`));
      return;
    }
    if (answer.source === 'fallback') logger.warn('answer URL failed; using fallbackAnswerUrl', { cause: answer.primaryFailure?.cause });
    const parsed = validated !== undefined && validated.xml === answer.xml ? validated.parsed : undefined;
    await new XmlEngine(call, logger, this.o.clock).run(answer.xml, parsed);
  }

  private forget(call: Call): void {
    this.pending.delete(call.inviteTx.id);
    // The INVITE transaction outlives the call by Timer L (32 s) to absorb retransmissions; its
    // ackTimeout listener is the only thing of the call it holds, and it would keep the whole call
    // (RTP session, stream bridge, buffers) alive that long.
    call.inviteTx.removeAllListeners('ackTimeout');
    // Nor does it need the INVITE's body and the rest of its headers, or a 2xx already ACKed.
    call.inviteTx.release();
    this.dialogs.delete(this.dialogKey(call.callId, call.remoteTag, call.localTag));
    this.o.metrics.activeCalls.set(this.activeCalls);
  }

  private onAck(req: SipRequest): void {
    // The transaction layer has stopped the 2xx retransmissions; the call may need the ACK's SDP.
    this.findDialog(req)?.ackReceived(req);
  }

  private onCancel(inviteTx: InviteServerTransaction): void {
    const call = this.pending.get(inviteTx.id);
    if (call) { call.cancelled(); return; }
    if (inviteTx.state === 'proceeding') inviteTx.respond(487, 'Request Terminated');
  }

  private onRequest(tx: NonInviteServerTransaction): void {
    switch (tx.method) {
      case 'OPTIONS': {
        if (this.draining) {
          // Load balancers and carriers that probe with OPTIONS take this pod out of rotation.
          this.reject(tx, { status: 503, reason: 'Service Unavailable - Draining', warning: 'this media pod is draining', cause: 'draining', retryAfter: this.o.drainRetryAfterSec ?? 30 });
          return;
        }
        tx.respond(200, 'OK', { headers: [['Allow', ALLOW], ['Accept', 'application/sdp'], ['Supported', SUPPORTED_HEADER]] });
        return;
      }
      case 'BYE': {
        const call = this.findDialog(tx.request);
        if (!call) { this.reject(tx, { status: 481, reason: 'Call/Transaction Does Not Exist', warning: 'no dialog matches this BYE', cause: 'no_dialog' }); return; }
        tx.respond(200, 'OK');
        call.remoteBye();
        tx.release(); // it lives on for Timer J only to answer retransmitted BYEs
        return;
      }
      case 'UPDATE': {
        const call = this.findDialog(tx.request);
        if (!call) { this.reject(tx, { status: 481, reason: 'Call/Transaction Does Not Exist', warning: 'no dialog matches this UPDATE', cause: 'no_dialog' }); return; }
        if (this.rejectUnsupportedExtensions(tx)) return;
        call.handleUpdate(tx);
        return;
      }
      case 'INFO': {
        const call = this.findDialog(tx.request);
        if (!call) { this.reject(tx, { status: 481, reason: 'Call/Transaction Does Not Exist', warning: 'no dialog matches this INFO', cause: 'no_dialog' }); return; }
        tx.respond(200, 'OK');
        // Key presses as SIP INFO (some PBXs send them this way instead of RFC 4733); other
        // INFO packages are acknowledged and ignored.
        const digit = dtmfFromInfo(getHeader(tx.request, 'Content-Type') ?? '', tx.request.body);
        if (digit) call.infoDtmf(digit);
        tx.release();
        return;
      }
      default: {
        if (KNOWN_UNSUPPORTED.has(tx.method)) {
          this.reject(tx, { status: 405, reason: 'Method Not Allowed', warning: `${tx.method} is not supported by this SIP ingress`, cause: 'method_not_allowed' });
        } else {
          tx.respond(501, 'Not Implemented', { headers: [['Allow', ALLOW]] });
          this.o.metrics.rejections.inc({ cause: 'method_not_allowed' });
        }
      }
    }
  }
}

/**
 * The key in a SIP INFO body: `application/dtmf-relay` (`Signal=5` lines, the de-facto format) or
 * `application/dtmf` (the bare key). Anything else, or a key outside 0-9 * # A-D, gives undefined.
 */
export function dtmfFromInfo(contentType: string, body: Buffer): string | undefined {
  const type = contentType.split(';')[0]!.trim().toLowerCase();
  if (body.length === 0 || body.length > 512) return undefined;
  const text = body.toString('utf8');
  let key: string | undefined;
  if (type === 'application/dtmf-relay') key = /^\s*signal\s*=\s*(\S+)\s*$/im.exec(text)?.[1];
  else if (type === 'application/dtmf') key = text.trim();
  if (key === undefined) return undefined;
  if (key === '10') key = '*'; // some gateways send the RFC 4733 event code
  else if (key === '11') key = '#';
  key = key.toUpperCase();
  return /^[0-9*#A-D]$/.test(key) ? key : undefined;
}


export type { SipSource };
