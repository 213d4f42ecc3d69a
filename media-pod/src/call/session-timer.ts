/**
 * SIP session timers (RFC 4028) on the answering side, and the Require check every UAS owes
 * (RFC 3261 §8.2.2.3). Carriers and their SBCs commonly put `Session-Expires` on INVITEs and tear
 * a call down when its refreshes are not answered; without this a long AI-agent call dies at the
 * carrier's session interval, and a dead dialog is only noticed when its media stops.
 */
import type { Clock, TimerHandle } from '../clock.js';
import { getHeaders, type SipRequest } from '../sip/message/index.js';

/** Option tags this pod implements (answered in `Supported`). */
export const SUPPORTED_OPTION_TAGS: readonly string[] = ['timer'];
export const SUPPORTED_HEADER = SUPPORTED_OPTION_TAGS.join(', ');

/** RFC 4028 §4: nobody may ask for less than 90 s, and 1800 s is the recommended interval. */
export const RFC_MIN_SE_SEC = 90;
export const DEFAULT_SESSION_EXPIRES_SEC = 1800;

export interface SessionTimerPolicy {
  /** The smallest interval accepted (our Min-SE). Default 90 s, the RFC's floor. */
  minSeSec: number;
  /** Longer intervals asked for are reduced to this (RFC 4028 §9 lets the UAS reduce). Default 1800 s. */
  maxSeSec: number;
}

export const DEFAULT_SESSION_TIMER_POLICY: SessionTimerPolicy = { minSeSec: RFC_MIN_SE_SEC, maxSeSec: DEFAULT_SESSION_EXPIRES_SEC };

export type Refresher = 'uac' | 'uas';


/** What a session-refresh request (INVITE, re-INVITE, UPDATE) asks for and what we answer. */
export type SessionTimerDecision =
  /** No timer; `reason` says why when the request asked for one. */
  | { kind: 'none'; reason?: string }
  /** 422 Session Interval Too Small, with `Min-SE`. */
  | { kind: 'too-small'; minSeSec: number; asked: number }
  | {
    kind: 'active';
    intervalSec: number;
    refresher: Refresher;
    /** Headers for the 2xx: `Session-Expires`, and `Require: timer` when the caller refreshes. */
    headers: Array<[string, string]>;
  };

/** Option tags in every `Supported` / `Require` header of a message (lower case). */
export function optionTags(req: Pick<SipRequest, 'headers'>, name: 'Supported' | 'Require'): Set<string> {
  const tags = new Set<string>();
  for (const v of getHeaders(req, name)) {
    for (const t of v.split(',')) {
      const tag = t.trim().toLowerCase();
      if (tag) tags.add(tag);
    }
  }
  return tags;
}

/** Required option tags we do not implement, for `420 Bad Extension` + `Unsupported`. */
export function unsupportedRequired(req: Pick<SipRequest, 'headers'>): string[] {
  const out: string[] = [];
  for (const tag of optionTags(req, 'Require')) if (!SUPPORTED_OPTION_TAGS.includes(tag)) out.push(tag);
  return out;
}

/** True unless the request's Allow header lists methods and UPDATE is not one of them. */
function acceptsUpdate(req: Pick<SipRequest, 'headers'>): boolean {
  const allow = getHeaders(req, 'Allow');
  if (allow.length === 0) return true;
  return allow.some((v) => v.split(',').some((m) => m.trim().toUpperCase() === 'UPDATE'));
}

interface SessionExpires { seconds: number; refresher: Refresher | undefined }

/** `Session-Expires: 1800;refresher=uac` (or compact `x`); undefined when absent, null when malformed. */
export function parseSessionExpires(req: Pick<SipRequest, 'headers'>): SessionExpires | undefined | null {
  const values = getHeaders(req, 'Session-Expires');
  if (values.length === 0) return undefined;
  const [delta, ...params] = values[0]!.split(';');
  const secs = /^\s*(\d{1,10})\s*$/.exec(delta ?? '');
  if (!secs) return null;
  let refresher: Refresher | undefined;
  for (const p of params) {
    const [k, v] = p.split('=');
    if (k?.trim().toLowerCase() === 'refresher') {
      const r = v?.trim().toLowerCase();
      if (r === 'uac' || r === 'uas') refresher = r;
    }
  }
  return { seconds: Number(secs[1]), refresher };
}

/** `Min-SE: 120` → 120; absent or malformed → undefined. */
export function parseMinSe(req: Pick<SipRequest, 'headers'>): number | undefined {
  const v = getHeaders(req, 'Min-SE')[0];
  const m = v === undefined ? null : /^\s*(\d{1,10})\s*(;.*)?$/.exec(v);
  return m ? Number(m[1]) : undefined;
}

/**
 * The answer to a session-refresh request (RFC 4028 §9). No `Session-Expires` → no timer (we do
 * not impose one). A caller that supports timers and asks for less than our minimum gets 422; one
 * that does not (a proxy inserted the header) gets the interval raised instead, since a 422 would
 * only fail its call. The interval may be reduced to our maximum but never below the request's
 * Min-SE. The refresher the request names is kept; otherwise the caller refreshes when it can,
 * and we do when it cannot.
 */
export function decideSessionTimer(req: Pick<SipRequest, 'headers'>, policy: SessionTimerPolicy = DEFAULT_SESSION_TIMER_POLICY): SessionTimerDecision {
  const se = parseSessionExpires(req);
  if (!se) return { kind: 'none' };
  const callerSupports = optionTags(req, 'Supported').has('timer');
  const requestMinSe = parseMinSe(req) ?? 0;
  let interval = se.seconds;
  if (interval < policy.minSeSec) {
    if (callerSupports) return { kind: 'too-small', minSeSec: Math.max(policy.minSeSec, requestMinSe), asked: interval };
    interval = policy.minSeSec;
  }
  if (interval > policy.maxSeSec) interval = Math.max(policy.maxSeSec, requestMinSe, policy.minSeSec);
  const refresher: Refresher = callerSupports ? (se.refresher ?? 'uac') : 'uas';
  // We refresh with UPDATE (a re-INVITE of ours would need an INVITE client transaction). A caller
  // whose Allow leaves UPDATE out could not take it, so no timer rather than a doomed one.
  if (refresher === 'uas' && !acceptsUpdate(req)) {
    return { kind: 'none', reason: 'we would have to refresh, and the caller does not allow UPDATE' };
  }
  const headers: Array<[string, string]> = [['Session-Expires', `${interval};refresher=${refresher}`]];
  if (refresher === 'uac') headers.push(['Require', 'timer']);
  return { kind: 'active', intervalSec: interval, refresher, headers };
}

export interface SessionTimerEvents {
  /** We are the refresher and half the interval has passed: send a refresh (UPDATE). */
  refresh: () => void;
  /** We are not the refresher and no refresh came in time (RFC 4028 §10): end the call. */
  expired: (intervalSec: number) => void;
}

/**
 * The running timer of one dialog. Each accepted refresh (ours answered 2xx, or the caller's)
 * calls `restart` with the negotiated interval; `stop` when the dialog ends.
 */
export class SessionTimer {
  private handle: TimerHandle | undefined;
  private current: { intervalSec: number; refresher: Refresher } | undefined;
  /** Monotonic ms when the session lapses without another successful refresh. */
  private expiresAt = 0;

  constructor(private readonly clock: Clock, private readonly on: SessionTimerEvents) {}

  get state(): { intervalSec: number; refresher: Refresher } | undefined { return this.current; }

  restart(intervalSec: number, refresher: Refresher): void {
    this.stop();
    this.current = { intervalSec, refresher };
    this.expiresAt = this.clock.now() + intervalSec * 1000;
    // §10: the refresher sends its refresh at half the interval; the other side gives up the
    // smaller of 32 s and a third of the interval before the end.
    const delayMs = refresher === 'uas' ? intervalSec * 500 : (intervalSec - Math.min(32, intervalSec / 3)) * 1000;
    this.handle = refresher === 'uas'
      ? this.clock.setTimeout(() => { this.handle = undefined; this.on.refresh(); }, delayMs)
      : this.clock.setTimeout(() => { this.handle = undefined; this.on.expired(intervalSec); }, delayMs);
  }

  /** Our refresh got a non-fatal refusal (491, 5xx): try again in `ms`, as long as the session lives. */
  retryRefresh(ms: number): void {
    const cur = this.current;
    if (cur?.refresher !== 'uas') return;
    this.clock.clearTimeout(this.handle);
    const left = this.expiresAt - this.clock.now();
    this.handle = left > ms
      ? this.clock.setTimeout(() => { this.handle = undefined; this.on.refresh(); }, ms)
      : this.clock.setTimeout(() => { this.handle = undefined; this.on.expired(cur.intervalSec); }, Math.max(0, left));
  }

  stop(): void {
    this.clock.clearTimeout(this.handle);
    this.handle = undefined;
    this.current = undefined;
  }
}
