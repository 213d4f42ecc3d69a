/**
 * Contract between the SIP transport layer and the layers above it: where a message came from,
 * where one should go, and the events and methods every transport (real or fake) offers.
 */
import type { EventEmitter } from 'node:events';
import type { SipMessage, SipParseError, SipRequest, SipResponse } from '../message/index.js';

export type SipTransportProtocol = 'udp' | 'tcp' | 'tls';

/** TCP and TLS: no retransmission timers (E, G, 2xx), and Timers J/K are 0 (RFC 3261 §17). */
export function isReliableTransport(t: SipTransportProtocol): boolean { return t !== 'udp'; }

/** The port a URI or Via without one implies (RFC 3261 §19.1.2, §18.2.2): 5061 for TLS, else 5060. */
export function defaultPortFor(t: SipTransportProtocol): number { return t === 'tls' ? 5061 : 5060; }

/** Where an inbound message came from. `connectionId` identifies the TCP/TLS connection. */
export interface SipSource {
  transport: SipTransportProtocol;
  address: string;
  port: number;
  family: 'IPv4' | 'IPv6';
  connectionId?: string;
}

/**
 * Where to send. For TCP/TLS an open `connectionId` of the same transport is reused, else a
 * connection to address:port (for TLS the server certificate is checked against `tlsServerName`,
 * or the address itself).
 */
export interface SipDestination {
  transport: SipTransportProtocol;
  address: string;
  port: number;
  connectionId?: string;
  tlsServerName?: string;
}

/** The address this pod puts in Via/Contact/SDP — distinct from the listen address. */
export interface AdvertisedAddress {
  host: string;
  port: number;
}

/** Why the transport closed a TCP/TLS connection (bounded set, usable as a metric label). */
export type ConnectionCloseReason =
  | 'idle' | 'slow' | 'oversize' | 'framing' | 'limit' | 'peer' | 'error' | 'shutdown' | 'connect_timeout' | 'tls_handshake';

export type SipTransportEvents = {
  request: [req: SipRequest, source: SipSource];
  response: [res: SipResponse, source: SipSource];
  /** A message that did not parse (cause label `malformed`); a respondable request already got its 4xx. */
  parseError: [error: SipParseError, source: SipSource];
  connectionClosed: [connectionId: string, reason: ConnectionCloseReason, source: SipSource];
};

export interface SipTransport extends Pick<EventEmitter<SipTransportEvents>, 'on' | 'off' | 'once' | 'emit'> {
  /** The address for UDP/TCP (one port for both). */
  readonly advertised: AdvertisedAddress;
  /** The address for Contact/Via of messages on `transport` (TLS has its own port); throws when it is not enabled. */
  advertisedFor(transport: SipTransportProtocol): AdvertisedAddress;
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
