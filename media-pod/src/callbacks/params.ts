/**
 * Builders for the form parameters Plivo sends to answer_url and hangup_url, so an answer
 * server written for Plivo sees the same names and value shapes. `SIPAuthType`, `SIPAuthUser`
 * and `SIPSourceIP` are sipflow extensions (Plivo documents no such fields).
 */
import type { SipAuthType } from '@sipflow/operator/contract/types';
import { HANGUP_CAUSES, hangupCauseByCode, type HangupSource } from './hangupCauses.js';

export type AuthTypeParam = 'ip_acl' | 'credential' | 'ip_acl_and_credential' | 'none';

/** Contract auth type → the value sent as SIPAuthType (Plivo's sip_auth_type spelling). */
export function authTypeParam(t: SipAuthType): AuthTypeParam {
  switch (t) {
    case 'IpAcl': return 'ip_acl';
    case 'Credential': return 'credential';
    case 'IpAclAndCredential': return 'ip_acl_and_credential';
    default: return 'none';
  }
}

/** sipflow limits on custom headers forwarded as X-PH-*: keep callbacks and memory bounded. */
export const CUSTOM_HEADER_LIMITS = { maxCount: 32, maxNameLength: 64, maxValueLength: 256 } as const;

const PH_PREFIX = /^x-ph-/i;
const PH_NAME = /^[A-Za-z0-9]+$/;
// Plivo allows [A-Za-z0-9]; older docs also allow '%', which lets apps pass percent-encoded text.
const PH_VALUE = /^[A-Za-z0-9%]*$/;

export type SipHeaderList = Iterable<readonly [string, string]> | Readonly<Record<string, string>>;

function entries(h: SipHeaderList | undefined): Iterable<readonly [string, string]> {
  if (!h) return [];
  return Symbol.iterator in h ? (h as Iterable<readonly [string, string]>) : Object.entries(h);
}

/**
 * INVITE headers named `X-PH-<Name>` become `X-PH-<Name>` params. Headers whose name or
 * value break Plivo's character rules or sipflow's limits are left out and listed in
 * `rejected` (names only) for a log line.
 */
export function customHeaderParams(headers: SipHeaderList | undefined): { params: Record<string, string>; rejected: string[] } {
  const params: Record<string, string> = {};
  const rejected: string[] = [];
  let count = 0;
  for (const [rawName, rawValue] of entries(headers)) {
    if (!PH_PREFIX.test(rawName)) continue;
    const suffix = rawName.slice(5);
    const value = rawValue.trim();
    if (!PH_NAME.test(suffix) || suffix.length > CUSTOM_HEADER_LIMITS.maxNameLength ||
      !PH_VALUE.test(value) || value.length > CUSTOM_HEADER_LIMITS.maxValueLength || count >= CUSTOM_HEADER_LIMITS.maxCount) {
      if (rejected.length < CUSTOM_HEADER_LIMITS.maxCount) rejected.push(rawName.slice(0, CUSTOM_HEADER_LIMITS.maxNameLength));
      continue;
    }
    const key = `X-PH-${suffix}`;
    if (!(key in params)) count++;
    params[key] = value;
  }
  return { params, rejected };
}

/**
 * A SIP/tel address as Plivo reports it in From/To: a numeric user part without '+' (and
 * without visual separators), otherwise the URI `sip:user@host` without port or parameters.
 * Accepts a bare URI or a name-addr (`"Bob" <sip:bob@h>;tag=x`).
 */
export function plivoAddress(addr: string): string {
  let s = addr.trim();
  const lt = s.indexOf('<');
  if (lt >= 0) { const gt = s.indexOf('>', lt); s = s.slice(lt + 1, gt < 0 ? undefined : gt); }
  const m = /^(sips?|tel):([^;?]*)/i.exec(s.trim());
  if (!m) return s;
  const scheme = (m[1] ?? '').toLowerCase();
  const rest = m[2] ?? '';
  const at = rest.lastIndexOf('@');
  const user = scheme === 'tel' ? rest : at >= 0 ? rest.slice(0, at) : '';
  let decodedUser = user;
  try { decodedUser = decodeURIComponent(user); } catch { /* keep raw */ }
  const digits = decodedUser.replace(/[-.() ]/g, '');
  if (/^\+?[0-9]+$/.test(digits)) return digits.replace(/^\+/, '');
  if (scheme === 'tel') return `tel:${rest}`;
  let host = at >= 0 ? rest.slice(at + 1) : rest;
  host = host.startsWith('[') ? host.slice(0, host.indexOf(']') + 1) : host.replace(/:\d+$/, '');
  return user ? `${scheme}:${user}@${host.toLowerCase()}` : `${scheme}:${host.toLowerCase()}`;
}

export interface AnswerParamsInput {
  callUuid: string;
  /** From header value or URI. */
  from: string;
  /** Request-URI or To URI naming the called party. */
  to: string;
  /** Caller display name; empty when there is none. */
  callerName?: string;
  /** INVITE headers (for X-PH-*). */
  sipHeaders?: SipHeaderList;
  /** Raw To header value, sent as SIP-H-To. */
  sipToHeader?: string;
  authType: AuthTypeParam;
  authUser?: string;
  sourceIp: string;
}

export function answerParams(i: AnswerParamsInput): Record<string, string> {
  const out: Record<string, string> = {
    CallUUID: i.callUuid,
    From: plivoAddress(i.from),
    To: plivoAddress(i.to),
    CallStatus: 'ringing',
    Direction: 'inbound',
    Event: 'StartApp',
    CallerName: i.callerName ?? '',
  };
  Object.assign(out, customHeaderParams(i.sipHeaders).params);
  if (i.sipToHeader !== undefined) out['SIP-H-To'] = i.sipToHeader;
  out.SIPAuthType = i.authType;
  out.SIPAuthUser = i.authUser ?? '';
  out.SIPSourceIP = i.sourceIp;
  return out;
}

/** `YYYY-MM-DD HH:MM:SS` in UTC, as Plivo formats StartTime/AnswerTime/EndTime. */
export function plivoTimestamp(t: number | Date): string {
  const d = typeof t === 'number' ? new Date(t) : t;
  const p = (n: number): string => String(n).padStart(2, '0');
  return `${d.getUTCFullYear()}-${p(d.getUTCMonth() + 1)}-${p(d.getUTCDate())} ${p(d.getUTCHours())}:${p(d.getUTCMinutes())}:${p(d.getUTCSeconds())}`;
}

export interface HangupParamsInput {
  callUuid: string;
  from: string;
  to: string;
  callerName?: string;
  sipToHeader?: string;
  /** Epoch ms or Date (wall clock). */
  startTime: number | Date;
  answerTime?: number | Date;
  endTime: number | Date;
  causeCode: number;
  /** Defaults to the name in HANGUP_CAUSES. */
  causeName?: string;
  hangupSource: HangupSource;
  /** Extra params carried from the answer request (X-PH-*, SIPAuthType, ...). */
  extra?: Readonly<Record<string, string>>;
}

const ms = (t: number | Date): number => (typeof t === 'number' ? t : t.getTime());

/**
 * hangup_url parameters. Duration and BillDuration are whole seconds from answer to end
 * (rounded up; 0 when never answered); sipflow does no billing, so they are equal.
 */
export function hangupParams(i: HangupParamsInput): Record<string, string> {
  const known = hangupCauseByCode(i.causeCode);
  const answered = i.answerTime !== undefined;
  const seconds = answered ? Math.max(0, Math.ceil((ms(i.endTime) - ms(i.answerTime!)) / 1000)) : 0;
  return {
    ...(i.extra ?? {}),
    CallUUID: i.callUuid,
    From: plivoAddress(i.from),
    To: plivoAddress(i.to),
    CallerName: i.callerName ?? '',
    ...(i.sipToHeader !== undefined ? { 'SIP-H-To': i.sipToHeader } : {}),
    CallStatus: 'completed',
    Direction: 'inbound',
    Event: 'Hangup',
    Duration: String(seconds),
    BillDuration: String(seconds),
    HangupCause: known?.cause ?? HANGUP_CAUSES.INTERNAL_ERROR.cause,
    HangupCauseCode: String(i.causeCode),
    HangupCauseName: i.causeName ?? known?.name ?? 'Unknown',
    HangupSource: i.hangupSource,
    StartTime: plivoTimestamp(i.startTime),
    AnswerTime: answered ? plivoTimestamp(i.answerTime!) : '',
    EndTime: plivoTimestamp(i.endTime),
  };
}
