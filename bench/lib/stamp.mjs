// The measurement stamp the media benchmark carries inside each 160-byte μ-law frame: call
// index, frame sequence, measurement window and send time (µs of CLOCK_MONOTONIC, which every
// process on the machine shares). Each nibble is written as byte 0x80+nibble, because μ-law
// 0x7f is the one byte that does not survive the pod's decode/encode round trip on the way back.
// The rest of the frame is 0xff (μ-law silence).

export const FRAME_BYTES = 160;
export const STAMP_BYTES = 34;
const BASE = 0x80;

/** Microseconds on CLOCK_MONOTONIC (process.hrtime), comparable across processes. */
export function monoUs() {
  const [s, ns] = process.hrtime();
  return s * 1e6 + ns / 1e3;
}

function writeNibbles(buf, off, value, count) {
  // Most significant nibble first; value may exceed 32 bits (send time), so no bitwise ops on it.
  let v = Math.floor(value);
  for (let i = count - 1; i >= 0; i--) {
    buf[off + i] = BASE + (v % 16);
    v = Math.floor(v / 16);
  }
}

function readNibbles(buf, off, count) {
  let v = 0;
  for (let i = 0; i < count; i++) v = v * 16 + ((buf[off + i] - BASE) & 0x0f);
  return v;
}

/** A frame buffer with silence after the stamp area. */
export function makeFrame() {
  return Buffer.alloc(FRAME_BYTES, 0xff);
}

export function writeStamp(buf, off, call, seq, window, sendUs) {
  writeNibbles(buf, off, call, 8);
  writeNibbles(buf, off + 8, seq, 8);
  writeNibbles(buf, off + 16, window, 4);
  writeNibbles(buf, off + 20, sendUs, 14);
}

/** Reads a stamp into `out` (reused); false when the bytes are not a stamp. */
export function readStamp(buf, off, out) {
  if (buf.length < off + STAMP_BYTES) return false;
  for (let i = 0; i < STAMP_BYTES; i++) if ((buf[off + i] & 0xf0) !== BASE) return false;
  out.call = readNibbles(buf, off, 8);
  out.seq = readNibbles(buf, off + 8, 8);
  out.window = readNibbles(buf, off + 16, 4);
  out.sendUs = readNibbles(buf, off + 20, 14);
  return true;
}
