/**
 * SDP (RFC 4566) parsing for offers from carriers and PBXs: tolerant of the usual deviations
 * (LF-only line ends, trailing spaces, unknown or out-of-order lines) but bounded in size and
 * counts, so a hostile body costs at most a few kilobytes of work.
 */

export type SdpDirection = 'sendrecv' | 'sendonly' | 'recvonly' | 'inactive';

export interface SdpConnection {
  netType: string;
  /** 'IP4' or 'IP6' (upper-cased); anything else is kept as sent. */
  addrType: string;
  /** Without any /ttl or /count suffix. */
  address: string;
}

export interface SdpOrigin {
  username: string;
  sessionId: string;
  sessionVersion: string;
  netType: string;
  addrType: string;
  address: string;
}

export interface SdpAttribute { name: string; value: string | undefined }

export interface SdpRtpMap {
  payloadType: number;
  /** As sent (case preserved); compare case-insensitively. */
  encoding: string;
  clockRate: number;
  channels: number | undefined;
}

export interface SdpMedia {
  type: string;
  port: number;
  portCount: number;
  proto: string;
  /** Format tokens as listed on the m= line (payload type numbers for RTP). */
  formats: string[];
  connection: SdpConnection | undefined;
  attributes: SdpAttribute[];
  rtpmap: Map<number, SdpRtpMap>;
  fmtp: Map<number, string>;
  ptime: number | undefined;
  maxptime: number | undefined;
  /** Media-level direction attribute, if present. */
  direction: SdpDirection | undefined;
  /** `a=rtcp-mux` (RFC 5761): RTCP shares the RTP port. */
  rtcpMux: boolean;
  /** The port of `a=rtcp:` (RFC 3605), when RTCP is not on port + 1. */
  rtcpPort: number | undefined;
}

export interface SessionDescription {
  version: number | undefined;
  origin: SdpOrigin | undefined;
  sessionName: string | undefined;
  connection: SdpConnection | undefined;
  attributes: SdpAttribute[];
  /** Session-level direction attribute, if present (media-level ones override it). */
  direction: SdpDirection | undefined;
  media: SdpMedia[];
}

/** Why an SDP body could not be used; `reason` is safe to put in a 488/400 reason phrase. */
export class SdpParseError extends Error {
  constructor(readonly reason: string) {
    super(`SDP: ${reason}`);
    this.name = 'SdpParseError';
  }
}

export const SDP_LIMITS = {
  maxBytes: 32 * 1024,
  maxLines: 1024,
  maxLineLength: 2048,
  maxMedia: 16,
  maxFormatsPerMedia: 64,
  maxAttributesPerSection: 256,
} as const;

const DIRECTIONS = new Set<string>(['sendrecv', 'sendonly', 'recvonly', 'inactive']);

function parseConnection(value: string): SdpConnection {
  const parts = value.trim().split(/\s+/);
  if (parts.length < 3) throw new SdpParseError(`malformed c= line "${value.slice(0, 80)}"`);
  const slash = parts[2]!.indexOf('/');
  // IPv6 addresses contain no '/', so anything after one is a multicast TTL or count.
  const address = slash >= 0 ? parts[2]!.slice(0, slash) : parts[2]!;
  return { netType: parts[0]!.toUpperCase(), addrType: parts[1]!.toUpperCase(), address };
}

function parseOrigin(value: string): SdpOrigin | undefined {
  const p = value.trim().split(/\s+/);
  if (p.length < 6) return undefined;
  return { username: p[0]!, sessionId: p[1]!, sessionVersion: p[2]!, netType: p[3]!, addrType: p[4]!.toUpperCase(), address: p[5]! };
}

function parseMediaLine(value: string): SdpMedia {
  const p = value.trim().split(/\s+/);
  if (p.length < 3) throw new SdpParseError(`malformed m= line "${value.slice(0, 80)}"`);
  const [portText = '', countText] = p[1]!.split('/');
  if (!/^\d{1,5}$/.test(portText) || Number(portText) > 65535) throw new SdpParseError(`bad port in m= line "${value.slice(0, 80)}"`);
  const portCount = countText !== undefined && /^\d{1,3}$/.test(countText) ? Number(countText) : 1;
  const formats = p.slice(3);
  if (formats.length > SDP_LIMITS.maxFormatsPerMedia) throw new SdpParseError(`too many formats on an m= line (${formats.length})`);
  return {
    type: p[0]!.toLowerCase(), port: Number(portText), portCount, proto: p[2]!, formats,
    connection: undefined, attributes: [], rtpmap: new Map(), fmtp: new Map(),
    ptime: undefined, maxptime: undefined, direction: undefined, rtcpMux: false, rtcpPort: undefined,
  };
}

function positiveInt(v: string | undefined, max: number): number | undefined {
  if (v === undefined) return undefined;
  const t = v.trim();
  if (!/^\d{1,6}(\.\d+)?$/.test(t)) return undefined;
  const n = Math.round(Number(t));
  return n > 0 && n <= max ? n : undefined;
}

function applyMediaAttribute(m: SdpMedia, name: string, value: string | undefined): void {
  switch (name) {
    case 'rtpmap': {
      // a=rtpmap:<pt> <encoding>/<clock rate>[/<channels>]
      const mm = /^(\d{1,3})\s+([^/\s]+)\/(\d{1,6})(?:\/(\d{1,2}))?/.exec(value ?? '');
      if (mm) {
        const pt = Number(mm[1]);
        if (pt <= 127) m.rtpmap.set(pt, { payloadType: pt, encoding: mm[2]!, clockRate: Number(mm[3]), channels: mm[4] ? Number(mm[4]) : undefined });
      }
      break;
    }
    case 'fmtp': {
      const mm = /^(\d{1,3})\s+(.*)$/.exec(value ?? '');
      if (mm) m.fmtp.set(Number(mm[1]), mm[2]!.trim());
      break;
    }
    case 'ptime': m.ptime = positiveInt(value, 1000); break;
    case 'maxptime': m.maxptime = positiveInt(value, 1000); break;
    case 'rtcp-mux': m.rtcpMux = true; break;
    case 'rtcp': {
      // a=rtcp:<port> [<nettype> <addrtype> <address>]; only the port is used.
      const mm = /^(\d{1,5})(?:\s|$)/.exec(value ?? '');
      const port = mm ? Number(mm[1]) : 0;
      if (port > 0 && port <= 65535) m.rtcpPort = port;
      break;
    }
    default:
      if (DIRECTIONS.has(name)) m.direction = name as SdpDirection;
  }
}

/**
 * Parses an SDP body. Throws `SdpParseError` for bodies that are too large or have an m=/c=
 * line we cannot read; unknown lines and attributes are kept or skipped, never fatal.
 */
export function parseSdp(text: string): SessionDescription {
  if (text.length > SDP_LIMITS.maxBytes) throw new SdpParseError(`body too large (${text.length} bytes)`);
  const lines = text.split(/\r\n|\n|\r/);
  if (lines.length > SDP_LIMITS.maxLines) throw new SdpParseError(`too many lines (${lines.length})`);
  const sdp: SessionDescription = {
    version: undefined, origin: undefined, sessionName: undefined, connection: undefined,
    attributes: [], direction: undefined, media: [],
  };
  let current: SdpMedia | undefined;
  for (const raw of lines) {
    const line = raw.trim();
    if (line.length < 2 || line[1] !== '=') continue; // tolerate blank or junk lines
    if (line.length > SDP_LIMITS.maxLineLength) throw new SdpParseError(`line too long (${line.length} characters)`);
    const type = line[0]!;
    const value = line.slice(2);
    switch (type) {
      case 'v': sdp.version = positiveInt(value, 9) ?? 0; break;
      case 'o': if (!current) sdp.origin = parseOrigin(value); break;
      case 's': if (!current) sdp.sessionName = value; break;
      case 'c':
        if (current) current.connection = parseConnection(value);
        else sdp.connection = parseConnection(value);
        break;
      case 'm':
        if (sdp.media.length >= SDP_LIMITS.maxMedia) throw new SdpParseError(`too many m= lines (more than ${SDP_LIMITS.maxMedia})`);
        current = parseMediaLine(value);
        sdp.media.push(current);
        break;
      case 'a': {
        const colon = value.indexOf(':');
        const name = (colon >= 0 ? value.slice(0, colon) : value).trim().toLowerCase();
        const attrValue = colon >= 0 ? value.slice(colon + 1).trim() : undefined;
        const list = current ? current.attributes : sdp.attributes;
        if (list.length >= SDP_LIMITS.maxAttributesPerSection) throw new SdpParseError('too many a= lines in one section');
        list.push({ name, value: attrValue });
        if (current) applyMediaAttribute(current, name, attrValue);
        else if (DIRECTIONS.has(name)) sdp.direction = name as SdpDirection;
        break;
      }
      default: break; // t=, b=, k=, i=, u=, e=, p=, z=, r= carry nothing we act on
    }
  }
  return sdp;
}
