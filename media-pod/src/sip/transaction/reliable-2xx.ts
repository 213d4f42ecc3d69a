/**
 * RFC 3261 §13.3.1.4: the UAS core, not the transaction, keeps a 2xx to INVITE alive until the
 * ACK arrives — retransmitting over UDP from T1 doubling to T2, and giving up after 64*T1 so the
 * call can be torn down.
 */
import type { Clock, TimerHandle } from '../../clock.js';
import type { TransactionTimers } from './timers.js';

export type AckOutcome = 'acked' | 'timeout' | 'stopped';

export interface Reliable2xxOptions {
  clock: Clock;
  timers: TransactionTimers;
  /** Sends the 2xx again. */
  retransmit: () => void;
  /** TCP: no retransmissions, but the 64*T1 wait for the ACK still applies. */
  reliableTransport: boolean;
}

export class Reliable2xx {
  readonly outcome: Promise<AckOutcome>;
  private settle!: (o: AckOutcome) => void;
  private retransmitTimer?: TimerHandle;
  private deadline?: TimerHandle;
  private interval: number;
  private done = false;
  /** Retransmissions sent so far (the first transmission is not counted). */
  retransmissions = 0;

  constructor(private readonly opts: Reliable2xxOptions) {
    this.outcome = new Promise((resolve) => { this.settle = resolve; });
    this.interval = opts.timers.T1;
  }

  get pending(): boolean { return !this.done; }

  start(): void {
    if (this.done || this.deadline) return;
    this.deadline = this.opts.clock.setTimeout(() => this.finish('timeout'), 64 * this.opts.timers.T1);
    if (!this.opts.reliableTransport) this.schedule();
  }

  private schedule(): void {
    this.retransmitTimer = this.opts.clock.setTimeout(() => {
      if (this.done) return;
      this.retransmissions++;
      this.opts.retransmit();
      this.interval = Math.min(this.interval * 2, this.opts.timers.T2);
      this.schedule();
    }, this.interval);
  }

  /** The matching ACK arrived. Returns false if this 2xx was no longer waiting. */
  ackReceived(): boolean {
    if (this.done) return false;
    this.finish('acked');
    return true;
  }

  stop(): void { if (!this.done) this.finish('stopped'); }

  private finish(o: AckOutcome): void {
    this.done = true;
    this.opts.clock.clearTimeout(this.retransmitTimer);
    this.opts.clock.clearTimeout(this.deadline);
    this.settle(o);
  }
}
