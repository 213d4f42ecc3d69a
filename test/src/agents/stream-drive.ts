/**
 * Drives a StreamBridge the way the media pacer will: one caller frame in and one agent frame
 * out every 20 ms, plus the tone and spectrum helpers the agent tests use to recognise their
 * own audio after it has been through a third-party agent.
 */

import type { StreamBridge } from '@sipflow/media-pod/stream/index';

export const FRAME_SAMPLES = 160;
export const RATE = 8000;

/** `frames` 20 ms frames of a continuous sine at `freqHz`, 8 kHz. */
export function toneFrames(freqHz: number, frames: number, amplitude = 8000): Int16Array[] {
  const out: Int16Array[] = [];
  for (let f = 0; f < frames; f++) {
    const frame = new Int16Array(FRAME_SAMPLES);
    for (let i = 0; i < FRAME_SAMPLES; i++) {
      const n = f * FRAME_SAMPLES + i;
      frame[i] = Math.round(amplitude * Math.sin(2 * Math.PI * freqHz * n / RATE));
    }
    out.push(frame);
  }
  return out;
}

/** Power of `freqHz` in `x` (Goertzel), normalised so a full-length sine of amplitude A gives A²/4. */
export function tonePower(x: Int16Array, freqHz: number): number {
  const w = 2 * Math.PI * freqHz / RATE;
  const c = 2 * Math.cos(w);
  let s1 = 0;
  let s2 = 0;
  for (const v of x) {
    const s0 = v + c * s1 - s2;
    s2 = s1;
    s1 = s0;
  }
  const p = s1 * s1 + s2 * s2 - c * s1 * s2;
  return p / (x.length * x.length);
}

/** Mean square of `x`. */
export function meanSquare(x: Int16Array): number {
  let e = 0;
  for (const v of x) e += v * v;
  return x.length === 0 ? 0 : e / x.length;
}

/** Share of the signal's energy at `freqHz` (1 for a pure tone, near 0 for noise or another tone). */
export function toneShare(x: Int16Array, freqHz: number): number {
  const ms = meanSquare(x);
  return ms === 0 ? 0 : (2 * tonePower(x, freqHz)) / ms;
}

export function concat(frames: readonly Int16Array[]): Int16Array {
  const out = new Int16Array(frames.reduce((n, f) => n + f.length, 0));
  let k = 0;
  for (const f of frames) { out.set(f, k); k += f.length; }
  return out;
}

export interface DriveOptions {
  /** Called on tick i (0-based) while i < inputFrames: push frame i into the bridge. */
  readonly push: (i: number) => void;
  readonly inputFrames: number;
  /** After all input is pushed, keep ticking (pulling) until this returns true... */
  readonly until: () => boolean;
  /** ...or until this many extra ticks have passed. */
  readonly maxExtraTicks: number;
}

export interface DriveResult {
  /** Non-silent frames pulled, copied (pullFrame reuses its buffer), in order. */
  readonly pulled: Int16Array[];
  /** Ticks with no agent audio to play. */
  readonly silentTicks: number;
  /** Whether `until` became true (false: stopped by maxExtraTicks). */
  readonly satisfied: boolean;
}

/** A bounded 20 ms cadence: push then pull on every tick. */
export function driveAtCadence(bridge: StreamBridge, opts: DriveOptions): Promise<DriveResult> {
  const pulled: Int16Array[] = [];
  let silentTicks = 0;
  let tick = 0;
  const maxTicks = opts.inputFrames + opts.maxExtraTicks;
  return new Promise((resolve) => {
    const timer = setInterval(() => {
      if (tick < opts.inputFrames) opts.push(tick);
      const f = bridge.pullFrame();
      if (f) pulled.push(Int16Array.from(f)); else silentTicks++;
      tick++;
      const satisfied = tick >= opts.inputFrames && opts.until();
      if (satisfied || tick >= maxTicks || !bridge.isOpen) {
        clearInterval(timer);
        resolve({ pulled, silentTicks, satisfied });
      }
    }, 20);
  });
}

/** Polls `cond` every 20 ms; false if it did not hold within `timeoutMs`. */
export function waitUntil(cond: () => boolean, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    if (cond()) { resolve(true); return; }
    const started = Date.now();
    const timer = setInterval(() => {
      const ok = cond();
      if (ok || Date.now() - started >= timeoutMs) { clearInterval(timer); resolve(ok); }
    }, 20);
  });
}
