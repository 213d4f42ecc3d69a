/**
 * Data model of a parsed SIP message (RFC 3261 §7): the shapes every layer above the parser
 * works with. Headers stay as ordered (name, value) pairs so a message round-trips faithfully.
 */

/** One header field. `name` is canonical for known headers (compact forms expanded). */
export interface SipHeader {
  name: string;
  value: string;
}

export type HostType = 'ipv4' | 'ipv6' | 'name';

/**
 * A parsed URI. For `sip:`/`sips:` every field is meaningful; for `tel:` the number is in `user`
 * and `host` is empty; any other scheme keeps its text in `opaque`.
 * `user`, `password` and parameter values are percent-decoded; names are lower-cased.
 */
export interface SipUri {
  scheme: string;
  user?: string;
  password?: string;
  /** Host without IPv6 brackets, lower-cased. */
  host: string;
  hostType: HostType;
  port?: number;
  /** URI parameters in order; a parameter without `=` maps to null. */
  params: Map<string, string | null>;
  /** URI headers (`?a=b&c=d`), values percent-decoded. */
  headers: Map<string, string>;
  /** Everything after `scheme:` for schemes other than sip/sips/tel. */
  opaque?: string;
}

/** `"Display" <uri>;param=value` as used in From, To, Contact, Route, Record-Route. */
export interface NameAddr {
  displayName?: string;
  /** The URI text as written (without angle brackets). */
  uriText: string;
  /** Parsed URI, or undefined for `*` (Contact wildcard). */
  uri?: SipUri;
  /** Header parameters (e.g. tag, expires), names lower-cased. */
  params: Map<string, string | null>;
  /** Contact: `*` */
  wildcard?: boolean;
}

/** One Via entry (RFC 3261 §20.42, RFC 3581). */
export interface Via {
  protocolName: string;
  protocolVersion: string;
  /** Upper-cased transport: UDP, TCP, TLS, SCTP, WS, WSS, ... */
  transport: string;
  host: string;
  hostType: HostType;
  port?: number;
  /** All parameters in order, names lower-cased. */
  params: Map<string, string | null>;
  branch?: string;
  received?: string;
  /** `rport` present (with or without a value). */
  hasRport: boolean;
  /** `rport=N` value when filled in. */
  rport?: number;
}

/** A URI that must not be changed (a memoised parse shared between readers). */
export type ReadonlySipUri = Readonly<Omit<SipUri, 'params' | 'headers'>> & {
  readonly params: ReadonlyMap<string, string | null>;
  readonly headers: ReadonlyMap<string, string>;
};

/** A name-addr that must not be changed (a memoised parse shared between readers). */
export type ReadonlyNameAddr = Readonly<Omit<NameAddr, 'uri' | 'params'>> & {
  readonly uri?: ReadonlySipUri;
  readonly params: ReadonlyMap<string, string | null>;
};

/** A Via that must not be changed (a memoised parse shared between readers). */
export type ReadonlyVia = Readonly<Omit<Via, 'params'>> & { readonly params: ReadonlyMap<string, string | null> };

export interface CSeq {
  seq: number;
  method: string;
}

/** Digest (or other scheme) credentials/challenge: `Digest realm="x", nonce="y"`. */
export interface AuthHeader {
  scheme: string;
  /** Parameter names lower-cased, values unquoted and unescaped. */
  params: Map<string, string>;
}

interface SipMessageBase {
  /** Always "SIP/2.0" for messages that parsed. */
  version: string;
  headers: SipHeader[];
  body: Buffer;
}

export interface SipRequest extends SipMessageBase {
  kind: 'request';
  /** Upper-case as received (methods are case-sensitive). */
  method: string;
  /** Request-URI as written. */
  uri: string;
  parsedUri: SipUri;
}

export interface SipResponse extends SipMessageBase {
  kind: 'response';
  status: number;
  reason: string;
}

export type SipMessage = SipRequest | SipResponse;

/** Bounds applied by the parser so hostile input cannot make it allocate without limit. */
export interface ParseLimits {
  /** Whole message, headers plus body. */
  maxMessageBytes: number;
  /** Header fields after splitting comma lists. */
  maxHeaders: number;
  /** One physical line (folded lines count separately, the joined value is bounded by maxMessageBytes). */
  maxLineLength: number;
  maxVia: number;
}

export const DEFAULT_PARSE_LIMITS: Readonly<ParseLimits> = Object.freeze({
  maxMessageBytes: 64 * 1024,
  maxHeaders: 128,
  maxLineLength: 8 * 1024,
  maxVia: 32,
});

/** A stable, bounded set of machine-readable causes (safe as a metric label). */
export type SipParseErrorCode =
  | 'too_large'
  | 'empty'
  | 'no_header_end'
  | 'line_too_long'
  | 'too_many_headers'
  | 'too_many_via'
  | 'bad_start_line'
  | 'bad_version'
  | 'bad_uri'
  | 'bad_header'
  | 'bad_content_length'
  | 'truncated_body'
  | 'missing_header'
  | 'control_char';

/** Raw header values enough to build a stateless 400 (RFC 3261 §8.2.6). */
export interface PartialHeaders {
  via: string[];
  from?: string;
  to?: string;
  callId?: string;
  cseq?: string;
  method?: string;
}

export interface SipParseError {
  code: SipParseErrorCode;
  /** Human phrase suitable as a reason phrase, e.g. "Malformed Via header". */
  reason: string;
  /** Status to answer with when respondable: 400, 505 (version) or 416 (URI scheme). */
  status: number;
  /** True for a request whose Via/From/To/Call-ID/CSeq could be extracted (and not an ACK). */
  respondable: boolean;
  isRequest?: boolean;
  partial?: PartialHeaders;
}

export type ParseResult = { ok: true; message: SipMessage } | { ok: false; error: SipParseError };
