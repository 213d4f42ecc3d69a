/**
 * Contract between the SIP transport layer and the layers above it: where a message came from,
 * where one should go, and the events and methods every transport (real or fake) offers.
 */
import type { EventEmitter } from 'node:events';
import type { SipMessage, SipParseError, SipRequest, SipResponse } from '../message/index.js';

export type SipTransportProtocol = 'udp' | 'tcp';

/** Where an inbound message came from. `connectionId` identifies the TCP connection. */
export interface SipSource {
  transport: SipTransportProtocol;
  address: string;
  port: number;
  family: 'IPv4' | 'IPv6';
  connectionId?: string;
}

/** Where to send. For TCP an open `connectionId` is reused, else a connection to address:port. */
export interface SipDestination {
  transport: SipTransportProtocol;
  address: string;
  port: number;
  connectionId?: string;
}

/** The address this pod puts in Via/Contact/SDP — distinct from the listen address. */
export interface AdvertisedAddress {
  host: string;
  port: number;
}

/** Why the transport closed a TCP connection (bounded set, usable as a metric label). */
export type ConnectionCloseReason = 'idle' | 'slow' | 'oversize' | 'framing' | 'limit' | 'peer' | 'error' | 'shutdown' | 'connect_timeout';

export type SipTransportEvents = {
  request: [req: SipRequest, source: SipSource];
  response: [res: SipResponse, source: SipSource];
  /** A message that did not parse (cause label `malformed`); a respondable request already got its 4xx. */
  parseError: [error: SipParseError, source: SipSource];
  connectionClosed: [connectionId: string, reason: ConnectionCloseReason, source: SipSource];
};

export interface SipTransport extends Pick<EventEmitter<SipTransportEvents>, 'on' | 'off' | 'once' | 'emit'> {
  readonly advertised: AdvertisedAddress;
  /** Sends a message (serialised with a fresh Content-Length) or raw bytes. */
  send(message: SipMessage | Buffer, dest: SipDestination): Promise<void>;
  /** Sends a response where RFC 3261 §18.2.2 / RFC 3581 say it goes (see responseDestination). */
  sendResponse(res: SipResponse, source?: SipSource): Promise<void>;
}

/** A send that failed: unreachable peer, closed connection, transport not enabled. */
export class SipTransportError extends Error {
  override readonly name = 'SipTransportError';
  constructor(message: string, readonly dest: SipDestination, options?: { cause?: unknown }) {
    super(message, options);
  }
}
