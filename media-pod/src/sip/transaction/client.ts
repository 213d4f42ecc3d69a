/**
 * Client non-INVITE transaction (RFC 3261 §17.1.2) for requests this pod originates (BYE,
 * OPTIONS, INFO): retransmits over UDP (not TCP/TLS) on Timer E, gives up on Timer F, absorbs response
 * retransmissions on Timer K.
 */
import type { Clock, TimerHandle } from '../../clock.js';
import { serializeMessage, type SipRequest, type SipResponse } from '../message/index.js';
import { isReliableTransport, type SipDestination, type SipTransport } from '../transport/index.js';
import { SipTransactionTimeoutError } from './errors.js';
import type { TransactionTimers } from './timers.js';

export type NonInviteClientState = 'trying' | 'proceeding' | 'completed' | 'terminated';

export class NonInviteClientTransaction {
  readonly response: Promise<SipResponse>;
  private resolve!: (r: SipResponse) => void;
  private reject!: (e: Error) => void;
  private st: NonInviteClientState = 'trying';
  private timerE?: TimerHandle;
  private timerF?: TimerHandle;
  private timerK?: TimerHandle;
  private interval: number;
  private readonly bytes: Buffer;

  constructor(readonly id: string, readonly request: SipRequest, readonly dest: SipDestination,
    private readonly ctx: { clock: Clock; timers: TransactionTimers; transport: SipTransport },
    private readonly hooks: { onTerminated: () => void; onProvisional?: (res: SipResponse) => void }) {
    this.response = new Promise((res, rej) => { this.resolve = res; this.reject = rej; });
    // Callers that only fire-and-forget must not see an unhandled rejection.
    this.response.catch(() => undefined);
    this.interval = ctx.timers.T1;
    this.bytes = serializeMessage(request);
  }

  get state(): NonInviteClientState { return this.st; }

  start(): void {
    this.transmit();
    if (!isReliableTransport(this.dest.transport)) this.scheduleE();
    const f = 64 * this.ctx.timers.T1;
    this.timerF = this.ctx.clock.setTimeout(() => {
      if (this.st !== 'trying' && this.st !== 'proceeding') return;
      this.fail(new SipTransactionTimeoutError(this.request.method, this.dest, f));
    }, f);
  }

  private transmit(): void {
    this.ctx.transport.send(this.bytes, this.dest).catch((err: unknown) => {
      if (this.st === 'trying' || this.st === 'proceeding') this.fail(err instanceof Error ? err : new Error(String(err)));
    });
  }

  private scheduleE(): void {
    this.timerE = this.ctx.clock.setTimeout(() => {
      if (this.st !== 'trying' && this.st !== 'proceeding') return;
      this.transmit();
      this.interval = this.st === 'proceeding' ? this.ctx.timers.T2 : Math.min(this.interval * 2, this.ctx.timers.T2);
      this.scheduleE();
    }, this.interval);
  }

  onResponse(res: SipResponse): void {
    if (this.st !== 'trying' && this.st !== 'proceeding') return;
    if (res.status < 200) {
      this.st = 'proceeding';
      this.hooks.onProvisional?.(res);
      return;
    }
    this.st = 'completed';
    this.ctx.clock.clearTimeout(this.timerE);
    this.ctx.clock.clearTimeout(this.timerF);
    this.resolve(res);
    this.timerK = this.ctx.clock.setTimeout(() => this.terminate(), isReliableTransport(this.dest.transport) ? 0 : this.ctx.timers.T4);
  }

  private fail(err: Error): void {
    this.reject(err);
    this.terminate();
  }

  terminate(): void {
    if (this.st === 'terminated') return;
    this.st = 'terminated';
    this.ctx.clock.clearTimeout(this.timerE);
    this.ctx.clock.clearTimeout(this.timerF);
    this.ctx.clock.clearTimeout(this.timerK);
    this.reject(new Error('transaction terminated'));
    this.hooks.onTerminated();
  }
}
