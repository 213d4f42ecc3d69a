/**
 * The transaction layer (RFC 3261 §17) between the transport and the transaction user (the call
 * layer): matches requests and responses to transactions, handles CANCEL and ACK, keeps 2xx
 * responses alive until ACKed, and bounds how many transactions may be alive at once.
 */
import { EventEmitter } from 'node:events';
import { createLogger, type Logger } from '@sipflow/operator/log';
import { systemClock, type Clock } from '../../clock.js';
import {
  BRANCH_MAGIC, addHeader, createResponse, formatHost, generateBranch, generateTag, getHeader, formatVia,
  parseCSeq, parseNameAddrCached, parseVia, parseViaCached, type SipRequest, type SipResponse,
} from '../message/index.js';
import { SipTransportError, type AdvertisedAddress, type SipDestination, type SipSource, type SipTransport } from '../transport/index.js';
import { NonInviteClientTransaction } from './client.js';
import { TransactionLimitError } from './errors.js';
import { Reliable2xx } from './reliable-2xx.js';
import {
  InviteServerTransaction, NonInviteServerTransaction, detached, type ServerTransaction, type ServerTransactionContext,
} from './server.js';
import { DEFAULT_TIMERS, type TransactionTimers } from './timers.js';

export interface TransactionLayerOptions {
  clock?: Clock;
  timers?: Partial<TransactionTimers>;
  /** Live server plus client transactions. Beyond it new requests get a stateless 503. Default 10000. */
  maxTransactions?: number;
  /** Send 100 Trying as soon as an INVITE transaction is created (RFC 3261 §17.2.1). Default true. */
  autoTrying?: boolean;
  /** An INVITE still unanswered after this long gets 408 and is dropped. Default 300 s. */
  inviteProceedingTimeoutMs?: number;
  /** Retry-After seconds on the overload 503. Default 5. */
  overloadRetryAfterS?: number;
  logger?: Logger;
}

export type TransactionLayerEvents = {
  /** A new INVITE server transaction (100 Trying already sent unless autoTrying is off). */
  invite: [tx: InviteServerTransaction];
  /** A new non-INVITE server transaction (BYE, OPTIONS, INFO, ...; never CANCEL or ACK). */
  request: [tx: NonInviteServerTransaction];
  /** An ACK that is not part of a server transaction, i.e. the ACK for a 2xx (a dialog matter). */
  ack: [req: SipRequest, source: SipSource];
  /** A CANCEL matched a proceeding INVITE; 200 to the CANCEL is already sent, the TU answers 487. */
  cancel: [inviteTx: InviteServerTransaction, cancelTx: NonInviteServerTransaction];
  /** A response that matches no client transaction. */
  strayResponse: [res: SipResponse, source: SipSource];
  /** A request refused with 503 because maxTransactions was reached. */
  overload: [req: SipRequest, source: SipSource];
};

export interface SendRequestOptions {
  onProvisional?: (res: SipResponse) => void;
}

/** Transaction key of a request (RFC 3261 §17.2.3); ACK is keyed like the INVITE it acknowledges. */
export function serverTransactionKey(req: SipRequest, method = req.method): string | undefined {
  const top = getHeader(req, 'Via');
  const via = top ? parseViaCached(top) : undefined;
  if (!via) return undefined;
  const m = method === 'ACK' ? 'INVITE' : method;
  const sentBy = `${formatHost(via.host, via.hostType, via.port)}`;
  if (via.branch?.startsWith(BRANCH_MAGIC)) return `${via.branch}|${sentBy}|${m}`;
  // RFC 2543 peers: no unique branch, so fall back to the dialog-ish identifiers.
  const cseq = parseCSeq(getHeader(req, 'CSeq') ?? '');
  const fromTag = parseNameAddrCached(getHeader(req, 'From') ?? '')?.params.get('tag') ?? '';
  return `legacy|${getHeader(req, 'Call-ID') ?? ''}|${cseq?.seq ?? ''}|${fromTag}|${sentBy}|${req.uri}|${m}`;
}

function clientKey(branch: string, method: string): string { return `${branch}|${method}`; }

export class TransactionLayer extends EventEmitter<TransactionLayerEvents> {
  readonly timers: TransactionTimers;
  private readonly clock: Clock;
  private readonly log: Logger;
  private readonly max: number;
  private readonly server = new Map<string, ServerTransaction>();
  private readonly client = new Map<string, NonInviteClientTransaction>();
  /** 2xx responses waiting for their ACK, by Call-ID and CSeq number. */
  private readonly awaitingAck = new Map<string, Reliable2xx>();
  private readonly ctx: ServerTransactionContext;
  private readonly onReq = (req: SipRequest, src: SipSource): void => this.handleRequest(req, src);
  private readonly onRes = (res: SipResponse, src: SipSource): void => this.handleResponse(res, src);

  constructor(readonly transport: SipTransport, private readonly opts: TransactionLayerOptions = {}) {
    super();
    this.timers = { ...DEFAULT_TIMERS, ...(opts.timers ?? {}) };
    this.clock = opts.clock ?? systemClock;
    this.log = opts.logger ?? createLogger('sip.transaction');
    this.max = opts.maxTransactions ?? 10_000;
    this.ctx = {
      clock: this.clock, timers: this.timers, transport,
      onError: (msg, fields) => this.log.warn(msg, fields),
    };
    transport.on('request', this.onReq);
    transport.on('response', this.onRes);
  }

  /** Live transactions (server + client). */
  get size(): number { return this.server.size + this.client.size; }

  private handleRequest(req: SipRequest, source: SipSource): void {
    const key = serverTransactionKey(req);
    if (!key) return; // the parser guarantees a Via, so this is unreachable in practice
    if (req.method === 'ACK') return this.handleAck(req, source, key);
    const existing = this.server.get(key);
    if (existing) { existing.onRetransmission(); return; }
    if (this.size >= this.max) {
      this.emit('overload', req, source);
      const res = createResponse(req, 503, 'Service Unavailable', { toTag: generateTag(), headers: [['Retry-After', String(this.opts.overloadRetryAfterS ?? 5)]] });
      this.transport.sendResponse(res, source).catch(() => undefined);
      return;
    }
    // The key is built from pieces of the received message; a flat copy of it lets that message go.
    const id = detached(key);
    if (req.method === 'INVITE') {
      const tx = new InviteServerTransaction(id, req, source, this.ctx, {
        autoTrying: this.opts.autoTrying ?? true,
        proceedingTimeoutMs: this.opts.inviteProceedingTimeoutMs ?? 300_000,
        onAccepted: (t, r) => this.trackAck(t, r),
      });
      this.register(tx);
      if (this.listenerCount('invite') === 0) tx.respond(501, 'Not Implemented');
      else this.emit('invite', tx);
      return;
    }
    const tx = new NonInviteServerTransaction(id, req, source, this.ctx);
    this.register(tx);
    if (req.method === 'CANCEL') return this.handleCancel(req, tx);
    if (this.listenerCount('request') === 0) tx.respond(501, 'Not Implemented');
    else this.emit('request', tx);
  }

  private register(tx: ServerTransaction): void {
    this.server.set(tx.id, tx);
    tx.once('terminated', () => { if (this.server.get(tx.id) === tx) this.server.delete(tx.id); });
  }

  private handleAck(req: SipRequest, source: SipSource, key: string): void {
    const tx = this.server.get(key);
    if (tx instanceof InviteServerTransaction && (tx.state === 'completed' || tx.state === 'confirmed')) {
      tx.onAck(); // ACK for a non-2xx final: part of the INVITE transaction, absorbed here
      return;
    }
    const cseq = parseCSeq(getHeader(req, 'CSeq') ?? '');
    const ackKey = `${getHeader(req, 'Call-ID') ?? ''}|${cseq?.seq ?? ''}`;
    this.awaitingAck.get(ackKey)?.ackReceived();
    this.emit('ack', req, source);
  }

  private trackAck(tx: InviteServerTransaction, r: Reliable2xx): void {
    const key = `${tx.callId}|${tx.cseq}`;
    this.awaitingAck.get(key)?.stop();
    this.awaitingAck.set(key, r);
    void r.outcome.then(() => { if (this.awaitingAck.get(key) === r) this.awaitingAck.delete(key); });
  }

  private handleCancel(req: SipRequest, cancelTx: NonInviteServerTransaction): void {
    const inviteKey = serverTransactionKey(req, 'INVITE');
    const invite = inviteKey ? this.server.get(inviteKey) : undefined;
    if (!(invite instanceof InviteServerTransaction)) {
      cancelTx.respond(481, 'Call/Transaction Does Not Exist');
      return;
    }
    // RFC 3261 §9.2: the CANCEL itself is answered 200 whatever state the INVITE is in.
    cancelTx.respond(200, 'OK', { toTag: invite.toTag });
    if (invite.markCancelled()) this.emit('cancel', invite, cancelTx);
  }

  private handleResponse(res: SipResponse, source: SipSource): void {
    const top = getHeader(res, 'Via');
    const via = top ? parseViaCached(top) : undefined;
    const cseq = parseCSeq(getHeader(res, 'CSeq') ?? '');
    const tx = via?.branch && cseq ? this.client.get(clientKey(via.branch, cseq.method)) : undefined;
    if (tx) tx.onResponse(res);
    else this.emit('strayResponse', res, source);
  }

  /**
   * Sends a non-INVITE request (BYE, OPTIONS, INFO, ...) in a client transaction and resolves with
   * the final response. Adds a top Via (advertised address, fresh branch, rport) and Max-Forwards
   * when missing. Rejects with SipTransactionTimeoutError (Timer F), SipTransportError, or
   * TransactionLimitError.
   */
  sendRequest(req: SipRequest, dest: SipDestination, opts: SendRequestOptions = {}): Promise<SipResponse> {
    if (req.method === 'INVITE' || req.method === 'ACK') {
      return Promise.reject(new TypeError(`sendRequest: ${req.method} is not sent in a non-INVITE client transaction`));
    }
    if (this.size >= this.max) return Promise.reject(new TransactionLimitError(this.max));
    let branch: string;
    const viaIdx = req.headers.findIndex((h) => h.name === 'Via');
    const existing = viaIdx >= 0 ? parseVia(req.headers[viaIdx]!.value) : undefined;
    if (existing) {
      if (!existing.branch) {
        existing.params.set('branch', generateBranch());
        req.headers[viaIdx] = { name: 'Via', value: formatVia(existing) };
      }
      branch = existing.params.get('branch')!;
    } else {
      branch = generateBranch();
      // TLS listens on its own port; the Via names the one a new connection back would reach.
      let adv: AdvertisedAddress;
      try {
        adv = this.transport.advertisedFor(dest.transport);
      } catch (err) {
        return Promise.reject(new SipTransportError(`cannot send ${req.method} over ${dest.transport}: ${(err as Error).message}`, dest, { cause: err }));
      }
      const host = adv.host.includes(':') ? `[${adv.host}]` : adv.host;
      addHeader(req, 'Via', `SIP/2.0/${dest.transport.toUpperCase()} ${host}:${adv.port};branch=${branch};rport`, true);
    }
    if (getHeader(req, 'Max-Forwards') === undefined) addHeader(req, 'Max-Forwards', '70');
    const key = clientKey(branch, req.method);
    if (this.client.has(key)) return Promise.reject(new Error(`sendRequest: a transaction with branch ${branch} is already running`));
    const tx: NonInviteClientTransaction = new NonInviteClientTransaction(key, req, dest, this.ctx, {
      onTerminated: () => { if (this.client.get(key) === tx) this.client.delete(key); },
      ...(opts.onProvisional ? { onProvisional: opts.onProvisional } : {}),
    });
    this.client.set(key, tx);
    tx.start();
    return tx.response;
  }

  /** Detaches from the transport and ends every transaction and pending 2xx retransmission. */
  close(): void {
    this.transport.off('request', this.onReq);
    this.transport.off('response', this.onRes);
    for (const r of this.awaitingAck.values()) r.stop();
    this.awaitingAck.clear();
    for (const tx of [...this.server.values()]) tx.terminate();
    for (const tx of [...this.client.values()]) tx.terminate();
  }
}
