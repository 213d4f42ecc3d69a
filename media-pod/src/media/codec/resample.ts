/**
 * Sample-rate conversion for the media path: streaming 8 k ⇄ 16 k half-band filters for L16 16 kHz
 * stream bridges (state carried between 20 ms frames so frame edges cannot click), and a general
 * windowed-sinc converter for whole files such as TTS output or uploaded WAVs.
 */

/** Half-band low-pass, 47 taps (Kaiser β 5.65, ~60 dB stopband, transition ≈ 3.4–4.6 kHz at 16 k). */
const HB_TAPS = 47;
const HB_CENTER = (HB_TAPS - 1) / 2; // 23
/** Non-zero taps of the half-band filter (odd distances from the centre), by even index 2j. */
const HB_EVEN = new Float64Array(HB_CENTER + 1); // 24 taps

function besselI0(x: number): number {
  // Power series; converges fast for the β values used here.
  let sum = 1; let term = 1; const q = (x * x) / 4;
  for (let k = 1; k < 50; k++) {
    term *= q / (k * k);
    sum += term;
    if (term < sum * 1e-12) break;
  }
  return sum;
}

function kaiser(pos: number, halfWidth: number, beta: number): number {
  const r = pos / halfWidth;
  if (r <= -1 || r >= 1) return 0;
  return besselI0(beta * Math.sqrt(1 - r * r)) / besselI0(beta);
}

function sinc(x: number): number {
  if (x === 0) return 1;
  const px = Math.PI * x;
  return Math.sin(px) / px;
}

(() => {
  let sum = 0;
  for (let j = 0; j <= HB_CENTER; j++) {
    const d = 2 * j - HB_CENTER; // odd distances -23..23
    const v = 0.5 * sinc(d / 2) * kaiser(d, HB_CENTER + 1, 5.65);
    HB_EVEN[j] = v;
    sum += v;
  }
  // Scale so that the odd-distance taps sum to exactly 0.5: DC gain is then exactly 1.
  for (let j = 0; j <= HB_CENTER; j++) HB_EVEN[j] = HB_EVEN[j]! * (0.5 / sum);
})();

/** Filter memory carried from one frame to the next. Create one per direction per call. */
export interface ResamplerState {
  readonly kind: 'up8to16' | 'down16to8';
  /** Input history followed by the current frame; grown (rarely) to the largest frame seen. */
  work: Int16Array;
  /** For the decimator: 0 when the next input sample is aligned with an output sample. */
  phase: number;
}

const UP_HIST = HB_CENTER; // 23 input samples at 8 kHz
const DOWN_HIST = 2 * HB_CENTER; // 46 input samples at 16 kHz

export function createUpsampleState(): ResamplerState {
  return { kind: 'up8to16', work: new Int16Array(UP_HIST + 320), phase: 0 };
}

export function createDownsampleState(): ResamplerState {
  return { kind: 'down16to8', work: new Int16Array(DOWN_HIST + 640), phase: 0 };
}

function clamp16(v: number): number {
  const r = Math.round(v);
  return r > 32767 ? 32767 : r < -32768 ? -32768 : r;
}

function loadWork(state: ResamplerState, hist: number, input: Int16Array): Int16Array {
  if (state.work.length < hist + input.length) {
    const bigger = new Int16Array(hist + input.length);
    bigger.set(state.work.subarray(0, hist));
    state.work = bigger;
  }
  state.work.set(input, hist);
  return state.work;
}

function saveHistory(state: ResamplerState, hist: number, inputLen: number): void {
  // The last `hist` samples of history+input become the next call's history.
  state.work.copyWithin(0, inputLen, inputLen + hist);
}

/**
 * 8 kHz → 16 kHz, streaming. Output has twice the input's length and a fixed delay of 23 output
 * samples (1.44 ms). Without `state` the call starts from silence (one-shot use). `out`, if
 * given, must hold at least 2 × input samples.
 */
export function upsample8kTo16k(pcm8: Int16Array, state?: ResamplerState, out?: Int16Array): Int16Array {
  const st = state ?? createUpsampleState();
  if (st.kind !== 'up8to16') throw new TypeError('upsample8kTo16k: state was created for the other direction');
  const n = pcm8.length;
  const o = out ?? new Int16Array(2 * n);
  if (o.length < 2 * n) throw new RangeError(`upsample8kTo16k: output holds ${o.length}, need ${2 * n}`);
  const w = loadWork(st, UP_HIST, pcm8);
  for (let k = 0; k < n; k++) {
    const base = UP_HIST + k;
    let acc = 0;
    for (let j = 0; j <= HB_CENTER; j++) acc += HB_EVEN[j]! * w[base - j]!;
    o[2 * k] = clamp16(2 * acc);
    // The other polyphase branch is the centre tap alone: a pure delay.
    o[2 * k + 1] = w[base - (HB_CENTER - 1) / 2]!;
  }
  saveHistory(st, UP_HIST, n);
  return o.length === 2 * n ? o : o.subarray(0, 2 * n);
}

/**
 * 16 kHz → 8 kHz, streaming, with anti-alias filtering. Odd-length frames are fine: the
 * decimation phase is carried in `state`. Delay is 23 input samples (1.44 ms).
 */
export function downsample16kTo8k(pcm16: Int16Array, state?: ResamplerState, out?: Int16Array): Int16Array {
  const st = state ?? createDownsampleState();
  if (st.kind !== 'down16to8') throw new TypeError('downsample16kTo8k: state was created for the other direction');
  const n = pcm16.length;
  const count = st.phase === 0 ? (n + 1) >> 1 : n >> 1;
  const o = out ?? new Int16Array(count);
  if (o.length < count) throw new RangeError(`downsample16kTo8k: output holds ${o.length}, need ${count}`);
  const w = loadWork(st, DOWN_HIST, pcm16);
  let oi = 0;
  for (let k = st.phase; k < n; k += 2) {
    const base = DOWN_HIST + k;
    let acc = 0.5 * w[base - HB_CENTER]!;
    for (let j = 0; j <= HB_CENTER; j++) acc += HB_EVEN[j]! * w[base - 2 * j]!;
    o[oi++] = clamp16(acc);
  }
  st.phase = (st.phase + n) & 1;
  saveHistory(st, DOWN_HIST, n);
  return o.length === count ? o : o.subarray(0, count);
}

const GEN_HALF_TAPS = 16; // zero crossings of the sinc on each side, at the lower rate
const GEN_TABLE_RES = 512; // kernel table points per input sample
const GEN_BETA = 7;
const MAX_RATE = 384_000;

/**
 * Converts a whole buffer between any two rates (e.g. 16 k or 22.05 k TTS output, 44.1 k WAV →
 * 8 k). Zero-phase (no delay): output sample i is centred on input time i·from/to. Cut-off is
 * 0.92 × the lower Nyquist frequency, so downsampling does not alias.
 */
export function resample(pcm: Int16Array, fromRate: number, toRate: number): Int16Array {
  for (const [name, r] of [['fromRate', fromRate], ['toRate', toRate]] as const) {
    if (!Number.isFinite(r) || r <= 0 || r > MAX_RATE) throw new RangeError(`resample: ${name} ${r} is not a usable sample rate`);
  }
  if (fromRate === toRate) return pcm.slice();
  const outLen = Math.round((pcm.length * toRate) / fromRate);
  const out = new Int16Array(outLen);
  if (pcm.length === 0) return out;
  const step = fromRate / toRate; // input samples per output sample
  const g = (0.92 * Math.min(fromRate, toRate)) / fromRate; // cut-off as a fraction of input rate ×2
  const halfWidth = Math.ceil(GEN_HALF_TAPS / Math.min(1, g)); // in input samples
  const tableLen = halfWidth * GEN_TABLE_RES + 2;
  const table = new Float64Array(tableLen);
  for (let i = 0; i < tableLen; i++) {
    const d = i / GEN_TABLE_RES;
    table[i] = g * sinc(g * d) * kaiser(d, halfWidth, GEN_BETA);
  }
  const last = pcm.length - 1;
  for (let i = 0; i < outLen; i++) {
    const t = i * step;
    const k0 = Math.max(0, Math.floor(t) - halfWidth + 1);
    const k1 = Math.min(last, Math.floor(t) + halfWidth);
    let acc = 0; let wsum = 0;
    for (let k = k0; k <= k1; k++) {
      const pos = Math.abs(t - k) * GEN_TABLE_RES;
      const idx = pos | 0;
      if (idx + 1 >= tableLen) continue;
      const frac = pos - idx;
      const wgt = table[idx]! + (table[idx + 1]! - table[idx]!) * frac;
      acc += wgt * pcm[k]!;
      wsum += wgt;
    }
    // Renormalising keeps DC gain at 1 even where the kernel is cut off at the buffer edges.
    out[i] = clamp16(wsum > 1e-9 ? acc / wsum : 0);
  }
  return out;
}
