/**
 * Building outgoing messages: responses that copy the request's transaction headers as
 * RFC 3261 §8.2.6 requires, fresh requests, and the random identifiers (tags, branches, Call-IDs).
 */
import { randomBytes } from 'node:crypto';
import type { SipHeader, SipRequest, SipResponse } from './types.js';
import { canonicalHeaderName, headerKey, parseNameAddrCached } from './headers.js';
import { parseSipUri } from './uri.js';
import { ownedText } from './owned-buffer.js';

/** RFC 3261 §8.1.1.7 magic cookie that marks a branch as globally unique. */
export const BRANCH_MAGIC = 'z9hG4bK';

/*
 * Every transaction takes a fresh tag and most requests a branch; a randomBytes() call per
 * identifier costs more than the bytes. Identifiers are cut from a pooled CSPRNG block instead,
 * each byte used once.
 */
const RANDOM_POOL_BYTES = 4096;
let randomPool = Buffer.alloc(0);
let randomPoolPos = 0;

function randomHex(bytes: number): string {
  if (randomPoolPos + bytes > randomPool.length) {
    randomPool = randomBytes(RANDOM_POOL_BYTES);
    randomPoolPos = 0;
  }
  const hex = randomPool.toString('hex', randomPoolPos, randomPoolPos + bytes);
  randomPoolPos += bytes;
  return hex;
}

export function generateBranch(): string { return BRANCH_MAGIC + randomHex(12); }
export function generateTag(): string { return randomHex(8); }
export function generateCallId(): string { return randomHex(16); }

export type HeaderInput = SipHeader[] | Array<[string, string]>;

function toHeaders(input: HeaderInput | undefined): SipHeader[] {
  if (!input) return [];
  return input.map((h) => Array.isArray(h) ? { name: canonicalHeaderName(h[0]), value: h[1] } : { name: canonicalHeaderName(h.name), value: h.value });
}

export interface ResponseOptions {
  /** Added to To when the request's To has no tag (ignored for 100 Trying). */
  toTag?: string;
  headers?: HeaderInput;
  body?: Buffer | string;
  contentType?: string;
}

/** Matches an existing `;tag=` parameter on To (the value is checked by parseNameAddrCached). */
function hasTag(to: string): boolean {
  const na = parseNameAddrCached(to);
  return na !== undefined && na.params.has('tag');
}

/**
 * Builds a response to `req`: Via (all, in order), From, To (+ tag), Call-ID, CSeq, and for
 * dialog-creating INVITE/SUBSCRIBE responses the Record-Route set (RFC 3261 §12.1.1).
 */
export function createResponse(req: SipRequest, status: number, reason: string, opts: ResponseOptions = {}): SipResponse {
  // One pass over the request collects what the response copies (this runs for every response sent).
  const vias: string[] = [];
  const recordRoutes: string[] = [];
  let from: string | undefined; let to: string | undefined; let callId: string | undefined; let cseq: string | undefined;
  for (const h of req.headers) {
    switch (headerKey(h.name)) {
      case 'via': vias.push(h.value); break;
      case 'from': from ??= h.value; break;
      case 'to': to ??= h.value; break;
      case 'call-id': callId ??= h.value; break;
      case 'cseq': cseq ??= h.value; break;
      case 'record-route': recordRoutes.push(h.value); break;
    }
  }
  const headers: SipHeader[] = [];
  for (const v of vias) headers.push({ name: 'Via', value: v });
  if (from !== undefined) headers.push({ name: 'From', value: from });
  if (to !== undefined) {
    if (opts.toTag && status > 100 && !hasTag(to)) to = `${to};tag=${opts.toTag}`;
    headers.push({ name: 'To', value: to });
  }
  if (callId !== undefined) headers.push({ name: 'Call-ID', value: callId });
  if (cseq !== undefined) headers.push({ name: 'CSeq', value: cseq });
  if ((req.method === 'INVITE' || req.method === 'SUBSCRIBE') && status > 100 && status < 300) {
    for (const rr of recordRoutes) headers.push({ name: 'Record-Route', value: rr });
  }
  if (opts.headers) for (const h of toHeaders(opts.headers)) headers.push(h);
  const body = opts.body === undefined ? Buffer.alloc(0) : Buffer.isBuffer(opts.body) ? opts.body : ownedText(opts.body);
  if (opts.contentType) headers.push({ name: 'Content-Type', value: opts.contentType });
  return { kind: 'response', version: 'SIP/2.0', status, reason: reason.replace(/[\r\n]+/g, ' '), headers, body };
}

export interface RequestInit {
  method: string;
  uri: string;
  headers?: HeaderInput;
  body?: Buffer | string;
  contentType?: string;
}

/** Builds a request; throws a TypeError if `uri` is not a valid URI (a programming error). */
export function createRequest(init: RequestInit): SipRequest {
  const parsedUri = parseSipUri(init.uri);
  if (!parsedUri) throw new TypeError(`createRequest: invalid Request-URI ${JSON.stringify(init.uri)}`);
  const headers = toHeaders(init.headers);
  if (init.contentType) headers.push({ name: 'Content-Type', value: init.contentType });
  const body = init.body === undefined ? Buffer.alloc(0) : Buffer.isBuffer(init.body) ? init.body : ownedText(init.body);
  return { kind: 'request', version: 'SIP/2.0', method: init.method, uri: init.uri, parsedUri, headers, body };
}
