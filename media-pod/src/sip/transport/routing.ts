/**
 * The address rules of RFC 3261 §18.2 and RFC 3581 as pure functions: stamping `received` and
 * `rport` on an inbound request's top Via, and choosing where a response must be sent.
 */
import { isIPv4, isIPv6 } from 'node:net';
import {
  createResponse, formatVia, generateTag, parseViaCached, type PartialHeaders, type SipHeader, type SipRequest,
  type SipResponse,
} from '../message/index.js';
import { defaultPortFor, isReliableTransport, type SipDestination, type SipSource, type SipTransportProtocol } from './types.js';

/** Folds IPv4-mapped IPv6 (`::ffff:1.2.3.4`, seen on dual-stack sockets) back to IPv4. */
export function normalizeAddress(address: string): { address: string; family: 'IPv4' | 'IPv6' } {
  const m = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  if (m && isIPv4(m[1]!)) return { address: m[1]!, family: 'IPv4' };
  return { address: address.toLowerCase(), family: isIPv6(address) ? 'IPv6' : 'IPv4' };
}

function sameAddress(a: string, b: string): boolean {
  if (isIPv6(a) && isIPv6(b)) return expandV6(a) === expandV6(b);
  return a.toLowerCase() === b.toLowerCase();
}

function expandV6(a: string): string {
  const [head, tail] = a.toLowerCase().split('::') as [string, string | undefined];
  const h = head ? head.split(':') : [];
  const t = tail ? tail.split(':') : [];
  const fill = tail === undefined ? [] : Array(8 - h.length - t.length).fill('0');
  return [...h, ...fill, ...t].map((x) => x.replace(/^0+(?=.)/, '')).join(':');
}

/**
 * RFC 3261 §18.2.1 + RFC 3581 §4: adds `received` when the packet came from another address than
 * the top Via names (always when `rport` is asked for) and fills an empty `rport` with the
 * source port. Mutates the header list in place; returns whether anything changed.
 */
export function stampTopVia(headers: SipHeader[], source: SipSource): boolean {
  const idx = headers.findIndex((h) => h.name === 'Via');
  if (idx < 0) return false;
  const via = parseViaCached(headers[idx]!.value);
  if (!via) return false;
  const src = normalizeAddress(source.address).address;
  // The parse is shared: changes go to a copy of its parameters.
  let params: Map<string, string | null> | undefined;
  if (via.hasRport && via.rport === undefined) {
    params ??= new Map(via.params);
    params.set('rport', String(source.port));
  }
  const mustReceive = via.hasRport || !sameAddress(via.host, src);
  if (mustReceive && (via.received === undefined || !sameAddress(via.received, src))) {
    params ??= new Map(via.params);
    params.set('received', src);
  } else if (!mustReceive && via.received !== undefined && !sameAddress(via.received, src)) {
    // A received= written by the sender itself is not to be trusted.
    params ??= new Map(via.params);
    params.delete('received');
  }
  if (!params) return false;
  headers[idx] = { name: 'Via', value: formatVia({ ...via, params }) };
  return true;
}

/**
 * RFC 3261 §18.2.2 + RFC 3581 §4: where a response goes. TCP/TLS: the connection the request came
 * on (if `source` names one), else received/sent-by (TLS default port 5061). UDP: `received` with `rport` when present,
 * else `received` with the sent-by port, else the sent-by itself; 5060 when no port is given.
 */
export function responseDestination(res: Pick<SipResponse, 'headers'>, source?: SipSource): SipDestination | undefined {
  const top = res.headers.find((h) => h.name === 'Via');
  const via = top ? parseViaCached(top.value) : undefined;
  if (!via) {
    return source ? { transport: source.transport, address: source.address, port: source.port, ...(source.connectionId ? { connectionId: source.connectionId } : {}) } : undefined;
  }
  const viaTransport: SipTransportProtocol = via.transport === 'TCP' ? 'tcp' : via.transport === 'TLS' ? 'tls' : 'udp';
  const transport = source?.transport ?? viaTransport;
  const address = via.received ?? via.host;
  if (isReliableTransport(transport)) {
    // The connection is tried first; if it is gone, §18.2.2 says connect to received/sent-by port.
    const dest: SipDestination = { transport, address, port: via.port ?? defaultPortFor(transport) };
    if (source?.connectionId) dest.connectionId = source.connectionId;
    // A new TLS connection checks the certificate against the name the peer put in its Via.
    if (transport === 'tls' && via.hostType === 'name') dest.tlsServerName = via.host;
    return dest;
  }
  const port = via.received !== undefined && via.rport !== undefined ? via.rport : (via.port ?? 5060);
  return { transport, address, port };
}

/** Builds the stateless error response (usually 400) for a malformed but respondable request. */
export function buildErrorResponse(partial: PartialHeaders, status: number, reason: string, source: SipSource): SipResponse {
  const headers: SipHeader[] = partial.via.map((v) => ({ name: 'Via', value: v }));
  stampTopVia(headers, source);
  const fake: SipRequest = {
    kind: 'request', version: 'SIP/2.0', method: partial.method ?? 'UNKNOWN', uri: 'sip:invalid', parsedUri: { scheme: 'sip', host: 'invalid', hostType: 'name', params: new Map(), headers: new Map() },
    headers: [
      ...headers,
      { name: 'From', value: partial.from ?? '' }, { name: 'To', value: partial.to ?? '' },
      { name: 'Call-ID', value: partial.callId ?? '' }, { name: 'CSeq', value: partial.cseq ?? '' },
    ],
    body: Buffer.alloc(0),
  };
  // A To we could not parse gets no tag appended; one we can gets ours (RFC 3261 §8.2.6.2).
  const tag = /;\s*tag\s*=/i.test(partial.to ?? '') ? undefined : generateTag();
  return createResponse(fake, status, reason, tag ? { toTag: tag } : {});
}
