/**
 * Turns a message back into wire bytes. Content-Length is always recomputed from the body, so
 * a caller can never send a frame that desynchronises a TCP peer.
 */
import type { SipMessage } from './types.js';

const LINE_BREAKS = /[\r\n]+/g;

export function serializeMessage(msg: SipMessage): Buffer {
  let head = msg.kind === 'request'
    ? `${msg.method} ${msg.uri} SIP/2.0`
    : `SIP/2.0 ${msg.status} ${msg.reason}`;
  let wroteLength = false;
  for (const h of msg.headers) {
    const name = h.name;
    if (name === 'Content-Length' || name === 'l' || name.toLowerCase() === 'content-length') {
      if (!wroteLength) { head += `\r\nContent-Length: ${msg.body.length}`; wroteLength = true; }
      continue;
    }
    // A CR or LF inside a value would let a caller inject headers; fold it into a space instead.
    const value = h.value;
    head += `\r\n${name}: ${value.includes('\r') || value.includes('\n') ? value.replace(LINE_BREAKS, ' ') : value}`;
  }
  if (!wroteLength) head += `\r\nContent-Length: ${msg.body.length}`;
  head += '\r\n\r\n';
  const headLen = Buffer.byteLength(head, 'utf8');
  const out = Buffer.allocUnsafe(headLen + msg.body.length);
  out.write(head, 0, 'utf8');
  msg.body.copy(out, headLen);
  return out;
}
