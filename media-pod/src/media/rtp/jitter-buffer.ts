/**
 * A small reorder buffer for inbound RTP: packets that arrive in order pass straight through
 * (no added delay); after a gap, later packets wait until the missing one arrives, the buffer
 * holds `depth` packets, or the oldest has waited `maxWaitMs` — then the gap is declared lost.
 * Fixed-size arrays, no timers: the session's 20 ms tick calls `flush`.
 */
import { seqDelta } from './packet.js';

export type JitterDeliver = (seq: number, timestamp: number, payload: Uint8Array, arrivalMs: number) => void;

export interface JitterBufferOptions {
  /** Most packets held while waiting for a gap to fill. Default 4 (80 ms of 20 ms frames). */
  depth?: number;
  /** Longest a packet is held. Default 80 ms. */
  maxWaitMs?: number;
}

export interface JitterStats {
  received: number;
  delivered: number;
  /** Sequence numbers given up on (never delivered). */
  lost: number;
  /** Arrived after their slot was given up or already played. */
  late: number;
  duplicate: number;
  /** Delivered after being held for reordering. */
  reordered: number;
  /** Jumps too large to be loss (sender restarted its sequence). */
  resyncs: number;
}

const SLOTS = 16; // power of two, larger than any allowed depth
const MASK = SLOTS - 1;
const RECENT = 64;
/** A forward jump beyond this is a sequence restart, not loss. */
const MAX_FORWARD_GAP = 1000;

export class JitterBuffer {
  private readonly depth: number;
  private readonly maxWaitMs: number;
  private readonly seqs = new Int32Array(SLOTS).fill(-1);
  private readonly stamps = new Float64Array(SLOTS);
  private readonly arrivals = new Float64Array(SLOTS);
  private readonly payloads: (Uint8Array | undefined)[] = new Array<Uint8Array | undefined>(SLOTS).fill(undefined);
  private readonly recent = new Int32Array(RECENT).fill(-1);
  private held = 0;
  private expected = -1;
  readonly stats: JitterStats = { received: 0, delivered: 0, lost: 0, late: 0, duplicate: 0, reordered: 0, resyncs: 0 };

  constructor(private readonly deliver: JitterDeliver, opts: JitterBufferOptions = {}) {
    this.depth = Math.min(SLOTS - 1, Math.max(1, opts.depth ?? 4));
    this.maxWaitMs = opts.maxWaitMs ?? 80;
  }

  /** Packets currently held. */
  get size(): number { return this.held; }

  push(seq: number, timestamp: number, payload: Uint8Array, arrivalMs: number): void {
    this.stats.received++;
    if (this.expected < 0) this.expected = seq;
    const d = seqDelta(this.expected, seq);
    if (d < 0) {
      if (d >= -RECENT) {
        if (this.recent[seq & (RECENT - 1)] === seq) this.stats.duplicate++;
        else this.stats.late++;
        return;
      }
      // Far behind: the sender restarted (or wrapped oddly); start over from this packet.
      this.resync(seq);
    } else if (d > MAX_FORWARD_GAP) {
      this.resync(seq);
    } else if (d >= SLOTS) {
      // Past anything we could hold: release what we have and count the rest of the gap as lost.
      this.release(seq);
    }
    if (seq === this.expected) {
      this.emit(seq, timestamp, payload, arrivalMs, false);
      this.expected = (seq + 1) & 0xffff;
      this.drainInOrder();
      return;
    }
    const slot = seq & MASK;
    if (this.seqs[slot] === seq) { this.stats.duplicate++; return; }
    this.seqs[slot] = seq;
    this.stamps[slot] = timestamp;
    this.arrivals[slot] = arrivalMs;
    this.payloads[slot] = payload;
    this.held++;
    while (this.held > this.depth) this.skipGap();
  }

  /** Gives up on gaps whose successors have waited longer than `maxWaitMs`. */
  flush(nowMs: number): void {
    while (this.held > 0) {
      const oldest = this.oldestArrival();
      if (nowMs - oldest < this.maxWaitMs) return;
      this.skipGap();
    }
  }

  /** Delivers everything held, in order (before an SSRC change or at close). */
  drain(): void {
    while (this.held > 0) this.skipGap();
  }

  /** Forgets the sequence position (after an SSRC change); held packets are dropped. */
  reset(): void {
    this.seqs.fill(-1);
    this.payloads.fill(undefined);
    this.recent.fill(-1);
    this.held = 0;
    this.expected = -1;
  }

  private oldestArrival(): number {
    let oldest = Infinity;
    for (let i = 0; i < SLOTS; i++) if (this.seqs[i]! >= 0 && this.arrivals[i]! < oldest) oldest = this.arrivals[i]!;
    return oldest;
  }

  private emit(seq: number, ts: number, payload: Uint8Array, arrival: number, wasHeld: boolean): void {
    this.recent[seq & (RECENT - 1)] = seq;
    this.stats.delivered++;
    if (wasHeld) this.stats.reordered++;
    this.deliver(seq, ts, payload, arrival);
  }

  private drainInOrder(): void {
    while (this.held > 0) {
      const slot = this.expected & MASK;
      if (this.seqs[slot] !== this.expected) return;
      const payload = this.payloads[slot]!;
      this.seqs[slot] = -1; this.payloads[slot] = undefined; this.held--;
      this.emit(this.expected, this.stamps[slot]!, payload, this.arrivals[slot]!, true);
      this.expected = (this.expected + 1) & 0xffff;
    }
  }

  /** Declares the missing packets before the next held one lost, then delivers what follows. */
  private skipGap(): void {
    if (this.held === 0) return;
    while (this.seqs[this.expected & MASK] !== this.expected) {
      this.stats.lost++;
      this.expected = (this.expected + 1) & 0xffff;
    }
    this.drainInOrder();
  }

  /** Moves `expected` up to `seq`, delivering held packets and counting the holes as lost. */
  private release(seq: number): void {
    while (this.expected !== seq) {
      const slot = this.expected & MASK;
      if (this.seqs[slot] === this.expected) {
        const payload = this.payloads[slot]!;
        this.seqs[slot] = -1; this.payloads[slot] = undefined; this.held--;
        this.emit(this.expected, this.stamps[slot]!, payload, this.arrivals[slot]!, true);
      } else {
        this.stats.lost++;
      }
      this.expected = (this.expected + 1) & 0xffff;
    }
  }

  private resync(seq: number): void {
    this.drain();
    this.stats.resyncs++;
    this.seqs.fill(-1);
    this.payloads.fill(undefined);
    this.held = 0;
    this.expected = seq;
  }
}
