/**
 * Server transactions (RFC 3261 §17.2, with the Accepted state of RFC 6026): they absorb request
 * retransmissions, repeat the last response, retransmit non-2xx finals over UDP until the ACK,
 * and end on the RFC's timers so their memory is always released.
 */
import { EventEmitter } from 'node:events';
import type { Clock, TimerHandle } from '../../clock.js';
import {
  createResponse, generateTag, getHeader, parseCSeq, parseSipUri, type ResponseOptions, type SipRequest, type SipResponse,
} from '../message/index.js';
import { isReliableTransport, type SipSource, type SipTransport } from '../transport/index.js';
import { Reliable2xx, type AckOutcome } from './reliable-2xx.js';
import { defaultReason, type TransactionTimers } from './timers.js';

export type ServerTransactionEvents = {
  /** The transaction ended and was removed from the layer. */
  terminated: [];
  /** INVITE: Timer H (no ACK for a non-2xx final); non-INVITE/INVITE: the TU never answered in time. */
  timeout: [];
  /** A response could not be sent. The transaction is terminated. */
  transportError: [err: Error];
  /** INVITE: a CANCEL for this transaction arrived while it was still proceeding. */
  cancelled: [];
  /** INVITE: the 2xx was never ACKed within 64*T1 (RFC 3261 §13.3.1.4) — tear the call down. */
  ackTimeout: [];
};

export interface ServerTransactionContext {
  clock: Clock;
  timers: TransactionTimers;
  transport: SipTransport;
  onError: (msg: string, fields: Record<string, unknown>) => void;
}

/** Headers a transaction still needs once its user is done with the request (matching, 3xx-6xx retransmits, logs). */
const KEPT_HEADERS = new Set(['via', 'from', 'to', 'call-id', 'cseq']);
const NO_BODY = Buffer.alloc(0);

/**
 * A flat copy of `s` that shares no memory with the message it was cut from: V8 keeps substrings
 * as views of their parent, so one kept header value would keep the whole received message. The
 * values come from decoded input, so the UTF-8 round trip is exact.
 */
export function detached(s: string): string {
  return Buffer.from(s, 'utf8').toString('utf8');
}

abstract class ServerTransactionBase extends EventEmitter<ServerTransactionEvents> {
  /** Tag this transaction puts on To when the request has none (all responses share it). */
  readonly toTag = generateTag();
  readonly reliable: boolean;
  lastResponse?: SipResponse;
  protected readonly timersHeld = new Set<TimerHandle>();
  private req: SipRequest;
  abstract get state(): string;

  constructor(readonly id: string, request: SipRequest, readonly source: SipSource, protected readonly ctx: ServerTransactionContext) {
    super();
    this.req = request;
    this.reliable = isReliableTransport(source.transport);
  }

  /** The request; after release() only its method, URI and the headers that identify it. */
  get request(): SipRequest { return this.req; }
  get method(): string { return this.req.method; }
  get callId(): string { return getHeader(this.req, 'Call-ID') ?? ''; }

  /**
   * The transaction user is done with this transaction (its call ended), but the transaction
   * lives on to absorb retransmissions (Timer L, H or J). It keeps only what that needs: the
   * identifying headers of the request, and the last response only while it may still be
   * retransmitted.
   */
  release(): void {
    const r = this.req;
    const uri = detached(r.uri);
    this.req = {
      kind: 'request', version: r.version, method: r.method, uri, parsedUri: parseSipUri(uri) ?? r.parsedUri,
      headers: r.headers.filter((h) => KEPT_HEADERS.has(h.name.toLowerCase())).map((h) => ({ name: h.name, value: detached(h.value) })),
      body: NO_BODY,
    };
    const last = this.lastResponse;
    if (!last || !this.responseStillSent()) this.lastResponse = undefined;
    else this.lastResponse = { ...last, headers: last.headers.map((h) => ({ name: h.name, value: detached(h.value) })) };
  }

  /** Whether lastResponse may still go out again (a retransmitted request, or a timer). */
  protected abstract responseStillSent(): boolean;

  /**
   * Builds a response with the RFC headers copied (and this transaction's To tag) and sends it.
   * Returns the response, or undefined when the transaction no longer accepts one.
   */
  respond(status: number, reason?: string, opts: ResponseOptions = {}): SipResponse | undefined {
    const res = createResponse(this.request, status, reason ?? defaultReason(status), { toTag: this.toTag, ...opts });
    return this.respondWith(res) ? res : undefined;
  }

  /** Sends a response the TU built. Returns false (and sends nothing) once a final response was sent. */
  abstract respondWith(res: SipResponse): boolean;

  protected send(res: SipResponse): void {
    this.ctx.transport.sendResponse(res, this.source).catch((err: unknown) => {
      const e = err instanceof Error ? err : new Error(String(err));
      this.ctx.onError('could not send response', { callId: this.callId, status: res.status, err: e });
      if (this.state !== 'terminated') {
        this.emit('transportError', e);
        this.terminate();
      }
    });
  }

  protected timer(ms: number, fn: () => void): TimerHandle {
    const h = this.ctx.clock.setTimeout(() => { this.timersHeld.delete(h); fn(); }, ms);
    this.timersHeld.add(h);
    return h;
  }

  protected clearTimer(h: TimerHandle | undefined): void {
    if (!h) return;
    this.ctx.clock.clearTimeout(h);
    this.timersHeld.delete(h);
  }

  protected clearAllTimers(): void {
    for (const h of this.timersHeld) this.ctx.clock.clearTimeout(h);
    this.timersHeld.clear();
  }

  /** Called by the layer when the same request arrives again. */
  abstract onRetransmission(): void;
  abstract terminate(): void;
}

export type InviteServerState = 'proceeding' | 'accepted' | 'completed' | 'confirmed' | 'terminated';

export class InviteServerTransaction extends ServerTransactionBase {
  private st: InviteServerState = 'proceeding';
  private timerG?: TimerHandle;
  /** The TU's deadline for a final response; pointless once one is sent. */
  private proceedingTimer?: TimerHandle;
  private gInterval: number;
  private reliable2xx?: Reliable2xx;
  /** True once a CANCEL matched while proceeding; the TU should answer 487. */
  cancelled = false;

  constructor(id: string, request: SipRequest, source: SipSource, ctx: ServerTransactionContext,
    private readonly hooks: { onAccepted: (tx: InviteServerTransaction, r: Reliable2xx) => void; proceedingTimeoutMs: number; autoTrying: boolean }) {
    super(id, request, source, ctx);
    this.gInterval = ctx.timers.T1;
    if (hooks.autoTrying) this.respond(100, 'Trying');
    // A TU that never answers must not pin this transaction forever.
    this.proceedingTimer = this.timer(hooks.proceedingTimeoutMs, () => {
      if (this.st !== 'proceeding') return;
      ctx.onError('INVITE transaction unanswered, sending 408', { callId: this.callId });
      this.emit('timeout');
      this.respond(408, 'Request Timeout');
    });
  }

  get state(): InviteServerState { return this.st; }

  /** A non-2xx final until its ACK (Timer G); a 2xx until it is ACKed (RFC 6026 Accepted). */
  protected responseStillSent(): boolean {
    if (this.st === 'proceeding' || this.st === 'completed') return true;
    return this.st === 'accepted' && this.reliable2xx?.pending === true;
  }

  override release(): void {
    super.release();
    // A 2xx no longer waiting for its ACK is held by its retransmitter too.
    if (this.reliable2xx?.pending !== true) this.reliable2xx = undefined;
  }

  /** CSeq number of the INVITE (for matching the ACK to a 2xx). */
  get cseq(): number { return parseCSeq(getHeader(this.request, 'CSeq') ?? '')?.seq ?? -1; }

  respondWith(res: SipResponse): boolean {
    if (this.st !== 'proceeding') return false;
    this.lastResponse = res;
    this.send(res);
    if (res.status < 200) return true;
    this.clearTimer(this.proceedingTimer);
    this.proceedingTimer = undefined;
    if (res.status < 300) {
      // RFC 6026 Accepted: retransmitted INVITEs are absorbed, ACKs go to the TU; Timer L ends it.
      this.st = 'accepted';
      this.startReliable2xx(res);
      this.timer(64 * this.ctx.timers.T1, () => this.terminate());
      return true;
    }
    this.st = 'completed';
    if (!this.reliable) this.scheduleG(res);
    this.timer(64 * this.ctx.timers.T1, () => { // Timer H
      if (this.st !== 'completed') return;
      this.emit('timeout');
      this.terminate();
    });
    return true;
  }

  /**
   * Keeps the 2xx going until its ACK. A function of its own, so that only the retransmitter's
   * closure holds the 2xx: closures created in one call share one context, and Timer L's would
   * otherwise keep the response alive for 32 s after the ACK.
   */
  private startReliable2xx(res: SipResponse): void {
    const r = new Reliable2xx({
      clock: this.ctx.clock, timers: this.ctx.timers, reliableTransport: this.reliable,
      retransmit: () => this.send(res),
    });
    this.reliable2xx = r;
    r.outcome.then((o) => { if (o === 'timeout') this.emit('ackTimeout'); }, () => undefined);
    r.start();
    this.hooks.onAccepted(this, r);
  }

  private scheduleG(res: SipResponse): void {
    this.timerG = this.timer(this.gInterval, () => {
      if (this.st !== 'completed') return;
      this.send(res);
      this.gInterval = Math.min(this.gInterval * 2, this.ctx.timers.T2);
      this.scheduleG(res);
    });
  }

  /** Resolves when the 2xx is ACKed, times out (64*T1) or is stopped; 'stopped' if no 2xx was sent. */
  waitForAck(): Promise<AckOutcome> {
    return this.reliable2xx ? this.reliable2xx.outcome : Promise.resolve('stopped');
  }

  /** The 2xx retransmitter, present after a 2xx was sent. */
  get reliable2xxRetransmitter(): Reliable2xx | undefined { return this.reliable2xx; }

  onRetransmission(): void {
    if ((this.st === 'proceeding' || this.st === 'completed') && this.lastResponse) this.send(this.lastResponse);
  }

  /** ACK for our non-2xx final response (same transaction). */
  onAck(): void {
    if (this.st !== 'completed') return;
    this.st = 'confirmed';
    this.clearTimer(this.timerG);
    this.clearAllTimers();
    this.timer(this.reliable ? 0 : this.ctx.timers.T4, () => this.terminate()); // Timer I
  }

  /** Called by the layer when a CANCEL matches. Returns true if the INVITE was still open. */
  markCancelled(): boolean {
    if (this.st !== 'proceeding' || this.cancelled) return false;
    this.cancelled = true;
    this.emit('cancelled');
    return true;
  }

  terminate(): void {
    if (this.st === 'terminated') return;
    this.st = 'terminated';
    this.clearAllTimers();
    this.emit('terminated');
  }
}

export type NonInviteServerState = 'trying' | 'proceeding' | 'completed' | 'terminated';

export class NonInviteServerTransaction extends ServerTransactionBase {
  private st: NonInviteServerState = 'trying';

  constructor(id: string, request: SipRequest, source: SipSource, ctx: ServerTransactionContext) {
    super(id, request, source, ctx);
    // The client gives up at 64*T1 (Timer F); an unanswered request is pointless after that.
    this.timer(64 * ctx.timers.T1, () => {
      if (this.st === 'trying' || this.st === 'proceeding') {
        ctx.onError('request transaction unanswered by the TU', { callId: this.callId, method: request.method });
        this.emit('timeout');
        this.terminate();
      }
    });
  }

  get state(): NonInviteServerState { return this.st; }

  /** The final response is sent again for every retransmitted request until Timer J. */
  protected responseStillSent(): boolean { return this.st !== 'terminated'; }

  respondWith(res: SipResponse): boolean {
    if (this.st === 'completed' || this.st === 'terminated') return false;
    this.lastResponse = res;
    this.send(res);
    if (res.status < 200) { this.st = 'proceeding'; return true; }
    this.st = 'completed';
    this.clearAllTimers();
    this.timer(this.reliable ? 0 : 64 * this.ctx.timers.T1, () => this.terminate()); // Timer J
    return true;
  }

  onRetransmission(): void {
    if ((this.st === 'proceeding' || this.st === 'completed') && this.lastResponse) this.send(this.lastResponse);
  }

  terminate(): void {
    if (this.st === 'terminated') return;
    this.st = 'terminated';
    this.clearAllTimers();
    this.emit('terminated');
  }
}

export type ServerTransaction = InviteServerTransaction | NonInviteServerTransaction;
