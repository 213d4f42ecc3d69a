/**
 * The allocation-free road for the message an agent sends 50 times a second per call: a
 * `playAudio` read straight from the WebSocket frame's bytes and its base64 payload decoded into
 * a reused buffer, with no string, no JSON object tree and no views. It accepts only the plain
 * shape (the three `media` fields, optional `streamId`, no escapes, strict base64); anything else
 * returns undefined and takes `parseAgentMessage`, so both roads agree on every message.
 */

export interface PlayAudioScan {
  encoding: 'audio/x-mulaw' | 'audio/x-l16';
  sampleRate: 8000 | 16000;
  /** Byte offsets of the base64 text inside the frame. */
  payloadStart: number;
  payloadEnd: number;
}

const QUOTE = 0x22;
const BACKSLASH = 0x5c;

function isSpace(c: number): boolean { return c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09; }

/** Reused result: the caller reads it before scanning the next frame. */
const result: PlayAudioScan = { encoding: 'audio/x-mulaw', sampleRate: 8000, payloadStart: 0, payloadEnd: 0 };

/** Compares b[start, end) with an ASCII literal. */
function bytesEqual(b: Uint8Array, start: number, end: number, lit: string): boolean {
  if (end - start !== lit.length) return false;
  for (let i = 0; i < lit.length; i++) if (b[start + i] !== lit.charCodeAt(i)) return false;
  return true;
}

/**
 * Scanner state in module variables rather than an object per call; the scan is synchronous and
 * not re-entrant, so they never interleave.
 */
let pos = 0;
let strStart = 0;
let strEnd = 0;

function skip(b: Uint8Array, n: number): void { while (pos < n && isSpace(b[pos]!)) pos++; }

/** Reads a string without escapes at `pos` into strStart/strEnd; false on escapes or no string. */
function readString(b: Uint8Array, n: number): boolean {
  if (b[pos] !== QUOTE) return false;
  const start = ++pos;
  while (pos < n) {
    const c = b[pos]!;
    if (c === QUOTE) { strStart = start; strEnd = pos; pos++; return true; }
    if (c === BACKSLASH || c < 0x20) return false;
    pos++;
  }
  return false;
}

/**
 * The payload string, its closing quote found with indexOf rather than byte by byte. An escape or
 * a control character inside is not looked for here: the range then holds a backslash or a byte
 * below 0x20, which the strict base64 decode refuses, so such a message still takes the full parser.
 */
function readPayloadString(b: Uint8Array, n: number): boolean {
  if (b[pos] !== QUOTE) return false;
  const start = pos + 1;
  const end = b.indexOf(QUOTE, start);
  if (end < 0 || end >= n) return false;
  strStart = start; strEnd = end; pos = end + 1;
  return true;
}

/** `"key":` with whitespace around: the key's bytes into strStart/strEnd, pos at the value. */
function readKey(b: Uint8Array, n: number): boolean {
  skip(b, n);
  if (!readString(b, n)) return false;
  skip(b, n);
  if (b[pos] !== 0x3a) return false;
  pos++;
  skip(b, n);
  return true;
}

/** After a member's value: 1 for `,` (another member), 0 for `}` (object closed), -1 otherwise. */
function afterMember(b: Uint8Array, n: number): number {
  skip(b, n);
  const c = b[pos];
  pos++;
  return c === 0x2c ? 1 : c === 0x7d ? 0 : -1;
}

/** A sampleRate given as a JSON number or as a string of digits, as parseAgentMessage accepts; NaN otherwise. */
function readRate(b: Uint8Array, n: number): number {
  let start: number; let end: number;
  if (b[pos] === QUOTE) {
    if (!readString(b, n)) return NaN;
    start = strStart; end = strEnd;
  } else {
    start = pos;
    while (pos < n && b[pos]! >= 0x30 && b[pos]! <= 0x39) pos++;
    end = pos;
    // Anything numeric beyond plain digits (8000.0, 8e3, -1) is the full parser's business.
    if (pos < n && (b[pos] === 0x2e || b[pos] === 0x65 || b[pos] === 0x45)) return NaN;
  }
  if (end - start === 4 && bytesEqual(b, start, end, '8000')) return 8000;
  if (end - start === 5 && bytesEqual(b, start, end, '16000')) return 16000;
  return NaN;
}

/**
 * Reads `{"event":"playAudio","media":{"contentType":…,"sampleRate":…,"payload":"…"}}` (any key
 * order, any whitespace, an optional string `streamId`). Undefined for any other message.
 */
export function scanPlayAudio(b: Uint8Array, n = b.length): PlayAudioScan | undefined {
  pos = 0;
  skip(b, n);
  if (b[pos] !== 0x7b) return undefined;
  pos++;
  let sawEvent = false; let sawMedia = false; let sawStreamId = false;
  let encoding: PlayAudioScan['encoding'] | undefined;
  let rate = NaN;
  let pStart = -1; let pEnd = -1;
  for (;;) {
    if (!readKey(b, n)) return undefined;
    const kS = strStart; const kE = strEnd;
    if (bytesEqual(b, kS, kE, 'event')) {
      if (sawEvent || !readString(b, n) || !bytesEqual(b, strStart, strEnd, 'playAudio')) return undefined;
      sawEvent = true;
    } else if (bytesEqual(b, kS, kE, 'streamId')) {
      if (sawStreamId || !readString(b, n)) return undefined;
      sawStreamId = true;
    } else if (bytesEqual(b, kS, kE, 'media')) {
      if (sawMedia || b[pos] !== 0x7b) return undefined;
      sawMedia = true;
      pos++;
      for (;;) {
        if (!readKey(b, n)) return undefined;
        const mS = strStart; const mE = strEnd;
        if (bytesEqual(b, mS, mE, 'contentType')) {
          if (encoding !== undefined || !readString(b, n)) return undefined;
          if (bytesEqual(b, strStart, strEnd, 'audio/x-mulaw')) encoding = 'audio/x-mulaw';
          else if (bytesEqual(b, strStart, strEnd, 'audio/x-l16')) encoding = 'audio/x-l16';
          else return undefined;
        } else if (bytesEqual(b, mS, mE, 'sampleRate')) {
          if (!Number.isNaN(rate)) return undefined;
          rate = readRate(b, n);
          if (Number.isNaN(rate)) return undefined;
        } else if (bytesEqual(b, mS, mE, 'payload')) {
          if (pStart >= 0 || !readPayloadString(b, n)) return undefined;
          pStart = strStart; pEnd = strEnd;
        } else {
          return undefined;
        }
        const next = afterMember(b, n);
        if (next < 0) return undefined;
        if (next === 0) break;
      }
    } else {
      return undefined;
    }
    const next = afterMember(b, n);
    if (next < 0) return undefined;
    if (next === 0) break;
  }
  skip(b, n);
  if (pos !== n || !sawEvent || !sawMedia || encoding === undefined || pStart < 0) return undefined;
  if (rate !== 8000 && rate !== 16000) return undefined;
  if (encoding === 'audio/x-mulaw' && rate !== 8000) return undefined;
  result.encoding = encoding;
  result.sampleRate = rate;
  result.payloadStart = pStart;
  result.payloadEnd = pEnd;
  return result;
}

/** Longest prefix plus suffix a PlayAudioReader keeps (real agents' are under 150 bytes). */
const MAX_SHAPE_BYTES = 512;

/**
 * scanPlayAudio with a memory of the last message's shape, per stream. An agent sends the same
 * bytes around every payload (same keys, order, spacing, format), so once a message has been
 * scanned, the next one that starts with the same bytes up to the payload's opening quote and
 * ends with the same bytes from its closing quote is that shape again: two native compares instead
 * of a byte-by-byte scan. The range between them is only accepted by the strict base64 decode,
 * which refuses quotes and backslashes, so a message that matches both ends but is not the same
 * shape never decodes on this road and takes the full parser, as with scanPlayAudio.
 */
export class PlayAudioReader {
  private prefix: Buffer | undefined;
  private suffix: Buffer | undefined;
  private readonly known: PlayAudioScan = { encoding: 'audio/x-mulaw', sampleRate: 8000, payloadStart: 0, payloadEnd: 0 };
  /** Messages read by their remembered shape (for tests and curiosity). */
  shapeHits = 0;

  read(b: Buffer): PlayAudioScan | undefined {
    const n = b.length;
    const p = this.prefix; const s = this.suffix;
    if (p !== undefined && s !== undefined && n >= p.length + s.length
      && b.compare(p, 0, p.length, 0, p.length) === 0 && b.compare(s, 0, s.length, n - s.length, n) === 0) {
      this.shapeHits++;
      this.known.payloadStart = p.length;
      this.known.payloadEnd = n - s.length;
      return this.known;
    }
    const r = scanPlayAudio(b, n);
    if (r && r.payloadStart + (n - r.payloadEnd) <= MAX_SHAPE_BYTES) {
      this.prefix = Buffer.from(b.subarray(0, r.payloadStart));
      this.suffix = Buffer.from(b.subarray(r.payloadEnd, n));
      this.known.encoding = r.encoding;
      this.known.sampleRate = r.sampleRate;
    }
    return r;
  }
}

const B64 = new Int8Array(256).fill(-1);
for (let i = 0; i < 64; i++) B64['ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/'.charCodeAt(i)] = i;

/**
 * Decodes standard base64 in src[start, end) into dst; returns the byte count, or -1 for anything
 * but the plain alphabet with optional `=` padding (the lenient decoder handles the rest).
 * `dst` must hold (end - start) * 3 / 4 bytes.
 */
export function decodeBase64Into(src: Uint8Array, start: number, end: number, dst: Uint8Array): number {
  let e = end;
  if (e > start && src[e - 1] === 0x3d) { e--; if (e > start && src[e - 1] === 0x3d) e--; }
  const len = e - start;
  if (len % 4 === 1) return -1;
  if (e !== end && (end - start) % 4 !== 0) return -1; // padding only on a whole quantum
  let o = 0;
  let i = start;
  const whole = start + len - (len % 4);
  for (; i < whole; i += 4) {
    const a = B64[src[i]!]!; const b = B64[src[i + 1]!]!; const c = B64[src[i + 2]!]!; const d = B64[src[i + 3]!]!;
    if ((a | b | c | d) < 0) return -1;
    const v = (a << 18) | (b << 12) | (c << 6) | d;
    dst[o++] = v >> 16; dst[o++] = (v >> 8) & 0xff; dst[o++] = v & 0xff;
  }
  const rest = len % 4;
  if (rest >= 2) {
    const a = B64[src[i]!]!; const b = B64[src[i + 1]!]!;
    const c = rest === 3 ? B64[src[i + 2]!]! : 0;
    if ((a | b | c) < 0) return -1;
    const v = (a << 18) | (b << 12) | (c << 6);
    dst[o++] = v >> 16;
    if (rest === 3) dst[o++] = (v >> 8) & 0xff;
  }
  return o;
}
