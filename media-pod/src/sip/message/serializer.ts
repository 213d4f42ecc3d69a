/**
 * Turns a message back into wire bytes. Content-Length is always recomputed from the body, so
 * a caller can never send a frame that desynchronises a TCP peer.
 */
import type { SipMessage } from './types.js';

export function serializeMessage(msg: SipMessage): Buffer {
  const startLine = msg.kind === 'request'
    ? `${msg.method} ${msg.uri} SIP/2.0`
    : `SIP/2.0 ${msg.status} ${msg.reason}`;
  const lines = [startLine];
  let wroteLength = false;
  for (const h of msg.headers) {
    if (h.name.toLowerCase() === 'content-length' || h.name === 'l') {
      if (!wroteLength) { lines.push(`Content-Length: ${msg.body.length}`); wroteLength = true; }
      continue;
    }
    // A CR or LF inside a value would let a caller inject headers; fold it into a space instead.
    lines.push(`${h.name}: ${h.value.replace(/[\r\n]+/g, ' ')}`);
  }
  if (!wroteLength) lines.push(`Content-Length: ${msg.body.length}`);
  return Buffer.concat([Buffer.from(lines.join('\r\n') + '\r\n\r\n', 'utf8'), msg.body]);
}
