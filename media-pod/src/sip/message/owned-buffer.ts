/**
 * Buffers for what a message keeps. Buffer.from() cuts small buffers out of Node's shared 8 KB
 * pool, and one live slice keeps the whole slab alive. A message lives as long as its transaction
 * (up to 32 s after the call has ended), so a 300-byte SDP body would hold 8 KB per call that long.
 */

/** `text` as UTF-8 in a buffer of its own. */
export function ownedText(text: string): Buffer {
  const out = Buffer.allocUnsafeSlow(Buffer.byteLength(text, 'utf8'));
  out.write(text, 0, 'utf8');
  return out;
}

/** A copy of `bytes` in a buffer of its own. */
export function ownedCopy(bytes: Uint8Array): Buffer {
  const out = Buffer.allocUnsafeSlow(bytes.length);
  out.set(bytes);
  return out;
}
