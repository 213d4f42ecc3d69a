/**
 * The media pod's RTP port range. Ports are handed out least-recently-used first and a
 * released port sits in quarantine for a quiet period, so a new call never receives the tail of
 * an old call's stream (a late BYE, a peer that keeps sending for a few seconds).
 */
import { systemClock, type Clock } from '../../clock.js';

export interface RtpPortPoolOptions {
  /** How long a released port stays unused. Default 10 s. */
  quarantineMs?: number;
  clock?: Clock;
}

export interface RtpPortAllocation {
  rtpPort: number;
  /** rtpPort + 1: reserved with it (RFC 3550 convention) though the pod does not bind it. */
  rtcpPort: number;
}

/** Thrown for misuse (bad range, double release); allocation failure is a `null`, not an error. */
export class RtpPortPoolError extends Error {
  constructor(message: string) { super(message); this.name = 'RtpPortPoolError'; }
}

export class RtpPortPool {
  private readonly quarantineMs: number;
  private readonly clock: Clock;
  /** Ring of free even ports, oldest-released first. */
  private readonly free: Int32Array;
  private freeHead = 0;
  private freeCount = 0;
  /** Ring of quarantined ports with their release-until times (FIFO = sorted by time). */
  private readonly qPorts: Int32Array;
  private readonly qUntil: Float64Array;
  private qHead = 0;
  private qCount = 0;
  /** 0 free, 1 in use, 2 quarantined — indexed by (port - lo) / 2. */
  private readonly state: Uint8Array;

  constructor(readonly lo: number, readonly hi: number, opts: RtpPortPoolOptions = {}) {
    if (!Number.isInteger(lo) || !Number.isInteger(hi) || lo < 1024 || hi > 65535 || hi <= lo) {
      throw new RtpPortPoolError(`RTP port range ${lo}-${hi} is not usable (need 1024 ≤ lo < hi ≤ 65535)`);
    }
    this.quarantineMs = opts.quarantineMs ?? 10_000;
    this.clock = opts.clock ?? systemClock;
    const first = lo % 2 === 0 ? lo : lo + 1;
    const ports: number[] = [];
    for (let p = first; p + 1 <= hi; p += 2) ports.push(p);
    if (ports.length === 0) throw new RtpPortPoolError(`RTP port range ${lo}-${hi} holds no even/odd port pair`);
    this.free = Int32Array.from(ports);
    this.freeCount = ports.length;
    this.qPorts = new Int32Array(ports.length);
    this.qUntil = new Float64Array(ports.length);
    this.state = new Uint8Array(ports.length);
  }

  /** Number of port pairs in the range. */
  get capacity(): number { return this.free.length; }
  get inUse(): number { return this.capacity - this.freeCount - this.qCount; }
  get quarantined(): number { this.expire(); return this.qCount; }
  get available(): number { this.expire(); return this.freeCount; }

  private index(port: number): number {
    const first = this.lo % 2 === 0 ? this.lo : this.lo + 1;
    const i = (port - first) / 2;
    return Number.isInteger(i) && i >= 0 && i < this.state.length ? i : -1;
  }

  private expire(): void {
    const now = this.clock.now();
    while (this.qCount > 0 && this.qUntil[this.qHead]! <= now) {
      const port = this.qPorts[this.qHead]!;
      this.qHead = (this.qHead + 1) % this.qPorts.length;
      this.qCount--;
      this.pushFree(port);
    }
  }

  private pushFree(port: number): void {
    this.free[(this.freeHead + this.freeCount) % this.free.length] = port;
    this.freeCount++;
    this.state[this.index(port)] = 0;
  }

  /** The least recently used free even port, or null when every port is busy or quarantined. */
  allocate(): RtpPortAllocation | null {
    this.expire();
    if (this.freeCount === 0) return null;
    const port = this.free[this.freeHead]!;
    this.freeHead = (this.freeHead + 1) % this.free.length;
    this.freeCount--;
    this.state[this.index(port)] = 1;
    return { rtpPort: port, rtcpPort: port + 1 };
  }

  /** Returns a port; it becomes allocatable again after the quarantine period. */
  release(port: number): void {
    const i = this.index(port);
    if (i < 0) throw new RtpPortPoolError(`port ${port} is not an RTP port of range ${this.lo}-${this.hi}`);
    if (this.state[i] !== 1) throw new RtpPortPoolError(`port ${port} released but not allocated`);
    this.state[i] = 2;
    const tail = (this.qHead + this.qCount) % this.qPorts.length;
    this.qPorts[tail] = port;
    this.qUntil[tail] = this.clock.now() + this.quarantineMs;
    this.qCount++;
  }

  isAllocated(port: number): boolean {
    const i = this.index(port);
    return i >= 0 && this.state[i] === 1;
  }
}
