/**
 * RFC 3261 message parser. Tolerant where the RFC asks for tolerance (compact names, folding,
 * case, leading CRLFs) and strict about limits; any input yields a verdict, never an exception,
 * and a malformed request still yields the headers needed to answer it with a 400.
 */
import type {
  ParseLimits, ParseResult, PartialHeaders, SipHeader, SipParseError, SipParseErrorCode, SipRequest, SipResponse,
} from './types.js';
import { DEFAULT_PARSE_LIMITS } from './types.js';
import { canonicalHeaderName, isListHeader, parseCSeq, parseNameAddrCached, parseViaCached } from './headers.js';
import { isToken, readToken, splitCommaList } from './grammar.js';
import { parseSipUri } from './uri.js';
import { ownedCopy } from './owned-buffer.js';

const CONTROL = /[\x00-\x08\x0a-\x1f\x7f]/;

interface Failure { code: SipParseErrorCode; reason: string; status?: number }

function fail(code: SipParseErrorCode, reason: string, status = 400): Failure {
  return { code, reason, status };
}

/** Parses one complete SIP message (one UDP datagram, or one TCP frame cut by Content-Length). */
export function parseSipMessage(buf: Buffer, limits?: Partial<ParseLimits>): ParseResult {
  try {
    return parseSipMessageUnguarded(buf, limits);
  } catch {
    // Unreachable by design (the fuzz test runs the unguarded entry point); kept so a parser bug
    // can never take the transport down.
    return { ok: false, error: { code: 'bad_header', reason: 'Malformed message', status: 400, respondable: false } };
  }
}

/** The parser without its safety net, exported for the fuzz test. */
export function parseSipMessageUnguarded(buf: Buffer, limitsIn?: Partial<ParseLimits>): ParseResult {
  const limits: ParseLimits = { ...DEFAULT_PARSE_LIMITS, ...(limitsIn ?? {}) };
  if (!Buffer.isBuffer(buf)) return error(fail('empty', 'Empty message'));
  if (buf.length > limits.maxMessageBytes) return error(fail('too_large', 'Message too large', 513));

  // RFC 3261 §7.5: CRLFs before the start line are ignored.
  let start = 0;
  while (start < buf.length && (buf[start] === 0x0d || buf[start] === 0x0a)) start++;
  if (start >= buf.length) return error(fail('empty', 'Empty message'));

  const crlf = buf.indexOf('\r\n\r\n', start);
  const lflf = buf.indexOf('\n\n', start);
  let headEnd: number; let bodyStart: number; let failure: Failure | undefined;
  if (crlf >= 0 && (lflf < 0 || crlf < lflf)) { headEnd = crlf; bodyStart = crlf + 4; }
  else if (lflf >= 0) { headEnd = lflf; bodyStart = lflf + 2; }
  else { headEnd = buf.length; bodyStart = buf.length; failure = fail('no_header_end', 'Missing empty line after headers'); }

  const lines = buf.subarray(start, headEnd).toString('utf8').split(/\r?\n/);
  const startLine = lines[0] ?? '';

  // Collect header fields. On a bad line keep going so the partial headers stay useful for a 400.
  const headers: SipHeader[] = [];
  let viaCount = 0;
  const note = (f: Failure): void => { if (!failure) failure = f; };
  if (startLine.length > limits.maxLineLength) note(fail('line_too_long', 'Line too long'));
  let current: { name: string; value: string } | undefined;
  const flush = (): boolean => {
    if (!current) return true;
    const field = current; current = undefined;
    const name = canonicalHeaderName(field.name);
    const value = field.value.trim();
    let values: string[] = [value];
    if (isListHeader(name)) {
      const split = splitCommaList(value);
      if (!split) { note(fail('bad_header', `Malformed ${name} header`)); return true; }
      values = split;
    }
    for (const v of values) {
      if (headers.length >= limits.maxHeaders) { note(fail('too_many_headers', 'Too many headers')); return false; }
      if (name === 'Via' && ++viaCount > limits.maxVia) { note(fail('too_many_via', 'Too many Via headers')); return false; }
      headers.push({ name, value: v });
    }
    return true;
  };
  let stopped = false;
  for (let li = 1; li < lines.length && !stopped; li++) {
    const line = lines[li]!;
    const tooLong = line.length > limits.maxLineLength;
    if (tooLong || CONTROL.test(line)) {
      note(tooLong ? fail('line_too_long', 'Line too long') : fail('control_char', 'Invalid character in header'));
      // The header before a bad line is complete (and may be the one that makes the 400
      // answerable), unless the bad line was folded onto it.
      if (line[0] === ' ' || line[0] === '\t') current = undefined;
      else if (!flush()) stopped = true;
      continue;
    }
    if (line[0] === ' ' || line[0] === '\t') {
      if (!current) { note(fail('bad_header', 'Invalid header folding')); continue; }
      if (current.value.length + line.length > limits.maxMessageBytes) { note(fail('too_large', 'Message too large', 513)); stopped = true; continue; }
      current.value += ' ' + line.trim();
      continue;
    }
    if (!flush()) { stopped = true; break; }
    const name = readToken(line, 0);
    let i = name ? name[1] : 0;
    while (line[i] === ' ' || line[i] === '\t') i++;
    if (!name || line[i] !== ':') { note(fail('bad_header', 'Malformed header line')); continue; }
    current = { name: name[0], value: line.slice(i + 1) };
  }
  if (!stopped) flush();

  const partial = collectPartial(headers);
  const isRequest = !/^SIP\//i.test(startLine);
  if (isRequest) {
    const m = readToken(startLine, 0);
    if (m) partial.method = m[0];
  }
  if (failure) return error(failure, isRequest, partial);
  if (CONTROL.test(startLine)) return error(fail('control_char', 'Invalid character in start line'), isRequest, partial);

  // Start line.
  let message: SipRequest | SipResponse;
  if (isRequest) {
    const parts = startLine.split(' ');
    if (parts.length !== 3) return error(fail('bad_start_line', 'Malformed request line'), true, partial);
    const [method, uri, version] = parts as [string, string, string];
    if (!isToken(method)) return error(fail('bad_start_line', 'Malformed method'), true, partial);
    if (!/^SIP\/[0-9]+\.[0-9]+$/i.test(version)) return error(fail('bad_start_line', 'Malformed request line'), true, partial);
    if (version.toUpperCase() !== 'SIP/2.0') return error(fail('bad_version', 'Version Not Supported', 505), true, partial);
    const parsedUri = parseSipUri(uri);
    if (!parsedUri) return error(fail('bad_uri', 'Malformed Request-URI'), true, partial);
    if (!['sip', 'sips', 'tel'].includes(parsedUri.scheme)) return error(fail('bad_uri', 'Unsupported URI Scheme', 416), true, partial);
    message = { kind: 'request', method, uri, parsedUri, version: 'SIP/2.0', headers, body: Buffer.alloc(0) };
  } else {
    const m = /^(SIP\/[0-9]+\.[0-9]+) ([0-9]{3})(?: (.*))?$/i.exec(startLine);
    if (!m) return error(fail('bad_start_line', 'Malformed status line'), false, partial);
    if (m[1]!.toUpperCase() !== 'SIP/2.0') return error(fail('bad_version', 'Version Not Supported', 505), false, partial);
    const status = Number(m[2]);
    if (status < 100 || status > 699) return error(fail('bad_start_line', 'Invalid status code'), false, partial);
    message = { kind: 'response', status, reason: m[3] ?? '', version: 'SIP/2.0', headers, body: Buffer.alloc(0) };
  }

  const headerFailure = validateHeaders(message);
  if (headerFailure) return error(headerFailure, isRequest, partial);

  // Body, framed by Content-Length when present (RFC 3261 §18.3: extra datagram bytes are dropped).
  const available = buf.length - bodyStart;
  const cls = headers.filter((h) => h.name === 'Content-Length');
  if (cls.length > 1) return error(fail('bad_content_length', 'Multiple Content-Length headers'), isRequest, partial);
  let bodyLen = available;
  if (cls.length === 1) {
    const v = cls[0]!.value;
    if (!/^[0-9]{1,10}$/.test(v)) return error(fail('bad_content_length', 'Malformed Content-Length header'), isRequest, partial);
    const cl = Number(v);
    if (cl > available) return error(fail('truncated_body', 'Content-Length larger than body'), isRequest, partial);
    bodyLen = cl;
  }
  message.body = ownedCopy(buf.subarray(bodyStart, bodyStart + bodyLen));
  return { ok: true, message };
}

function single(msg: SipRequest | SipResponse, name: string): string | undefined | null {
  const vals = msg.headers.filter((h) => h.name === name);
  if (vals.length > 1) return null;
  return vals[0]?.value;
}

function validateHeaders(msg: SipRequest | SipResponse): Failure | undefined {
  const vias = msg.headers.filter((h) => h.name === 'Via');
  if (vias.length === 0) return fail('missing_header', 'Missing Via header');
  for (const v of vias) if (!parseViaCached(v.value)) return fail('bad_header', 'Malformed Via header');
  for (const name of ['From', 'To', 'Call-ID', 'CSeq']) {
    const v = single(msg, name);
    if (v === null) return fail('bad_header', `Multiple ${name} headers`);
    if (v === undefined) return fail('missing_header', `Missing ${name} header`);
    if (name === 'From' || name === 'To') {
      if (!parseNameAddrCached(v)) return fail('bad_header', `Malformed ${name} header`);
    } else if (name === 'Call-ID') {
      if (v === '' || /[\s"<>]/.test(v)) return fail('bad_header', 'Malformed Call-ID header');
    } else {
      const cseq = parseCSeq(v);
      if (!cseq) return fail('bad_header', 'Malformed CSeq header');
      if (msg.kind === 'request' && cseq.method !== msg.method) return fail('bad_header', 'CSeq method does not match request');
    }
  }
  const mf = single(msg, 'Max-Forwards');
  if (mf === null || (mf !== undefined && !/^[0-9]{1,10}$/.test(mf))) return fail('bad_header', 'Malformed Max-Forwards header');
  for (const h of msg.headers) {
    if (h.name === 'Contact' || h.name === 'Route' || h.name === 'Record-Route') {
      if (!parseNameAddrCached(h.value)) return fail('bad_header', `Malformed ${h.name} header`);
    }
  }
  return undefined;
}

function collectPartial(headers: SipHeader[]): PartialHeaders {
  const p: PartialHeaders = { via: [] };
  for (const h of headers) {
    switch (h.name) {
      case 'Via': p.via.push(h.value); break;
      case 'From': p.from ??= h.value; break;
      case 'To': p.to ??= h.value; break;
      case 'Call-ID': p.callId ??= h.value; break;
      case 'CSeq': p.cseq ??= h.value; break;
    }
  }
  return p;
}

function error(f: Failure, isRequest?: boolean, partial?: PartialHeaders): ParseResult {
  const err: SipParseError = { code: f.code, reason: f.reason, status: f.status ?? 400, respondable: false };
  if (isRequest !== undefined) err.isRequest = isRequest;
  if (partial) {
    err.partial = partial;
    const top = partial.via[0];
    err.respondable = isRequest === true && partial.method !== 'ACK' && top !== undefined && parseViaCached(top) !== undefined
      && partial.from !== undefined && partial.to !== undefined && partial.callId !== undefined
      && partial.cseq !== undefined && !/[\r\n]/.test(partial.cseq);
  }
  return { ok: false, error: err };
}
