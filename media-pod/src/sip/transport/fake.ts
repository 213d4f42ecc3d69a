/**
 * An in-memory SipTransport for tests of the layers above: it records what they send and lets a
 * test inject inbound messages, applying the same Via stamping as the real transport.
 */
import { EventEmitter } from 'node:events';
import { parseSipMessage, serializeMessage, type SipMessage, type SipRequest, type SipResponse } from '../message/index.js';
import { responseDestination, stampTopVia } from './routing.js';
import {
  SipTransportError, type AdvertisedAddress, type SipDestination, type SipSource, type SipTransport, type SipTransportEvents,
  type SipTransportProtocol,
} from './types.js';

export interface SentMessage {
  message: SipMessage;
  dest: SipDestination;
}

export class FakeSipTransport extends EventEmitter<SipTransportEvents> implements SipTransport {
  readonly sent: SentMessage[] = [];
  /** When set, the next send rejects with this error (then it is cleared). */
  failNextSend?: Error;

  constructor(readonly advertised: AdvertisedAddress = { host: '192.0.2.1', port: 5060 }, readonly tlsPort = 5061) { super(); }

  advertisedFor(transport: SipTransportProtocol): AdvertisedAddress {
    return transport === 'tls' ? { host: this.advertised.host, port: this.tlsPort } : this.advertised;
  }

  async send(message: SipMessage | Buffer, dest: SipDestination): Promise<void> {
    if (this.failNextSend) {
      const err = this.failNextSend;
      this.failNextSend = undefined;
      throw err;
    }
    // Round-trip through the wire format so tests see exactly what a peer would.
    const bytes = Buffer.isBuffer(message) ? message : serializeMessage(message);
    const r = parseSipMessage(bytes);
    if (!r.ok) throw new SipTransportError(`fake transport: unparseable outbound message: ${r.error.reason}`, dest);
    this.sent.push({ message: r.message, dest });
  }

  sendResponse(res: SipResponse, source?: SipSource): Promise<void> {
    const dest = responseDestination(res, source);
    if (!dest) return Promise.reject(new SipTransportError('response has no usable Via', { transport: 'udp', address: '', port: 0 }));
    return this.send(res, dest);
  }

  /** Parses `text` (CRLF added where a bare LF is used) and delivers it as if received from `source`. */
  inject(text: string | Buffer, source: SipSource): SipMessage {
    const buf = Buffer.isBuffer(text) ? text : Buffer.from(text.replace(/\r?\n/g, '\r\n'));
    const r = parseSipMessage(buf);
    if (!r.ok) {
      this.emit('parseError', r.error, source);
      throw new Error(`FakeSipTransport.inject: ${r.error.reason}`);
    }
    if (r.message.kind === 'request') {
      stampTopVia(r.message.headers, source);
      this.emit('request', r.message as SipRequest, source);
    } else {
      this.emit('response', r.message, source);
    }
    return r.message;
  }

  /** Returns and forgets everything sent so far. */
  take(): SentMessage[] { return this.sent.splice(0, this.sent.length); }
}
