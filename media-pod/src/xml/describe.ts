/**
 * One-line summaries of parsed verbs for call logs. Query strings and user info are cut from URLs
 * (agents put tokens there) and spoken or messaged text is reduced to its length.
 */

import type { PlivoVerb, PlivoVerbKind } from './types.js';

/** Verbs the media pod executes; the rest parse but are refused by the executor. */
export const SUPPORTED_VERBS = [
  'Speak', 'Play', 'Wait', 'Hangup', 'Redirect', 'GetDigits', 'PreAnswer', 'DTMF', 'Stream',
] as const satisfies readonly PlivoVerbKind[];

export type SupportedVerbKind = (typeof SUPPORTED_VERBS)[number];

export type SupportedVerb = Extract<PlivoVerb, { kind: SupportedVerbKind }>;

const SUPPORTED: ReadonlySet<string> = new Set(SUPPORTED_VERBS);

export function isSupportedVerb(v: PlivoVerb): v is SupportedVerb {
  return SUPPORTED.has(v.kind);
}

/** scheme://host[:port]/path, with `?…` marking a dropped query. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    return `${u.protocol}//${u.host}${u.pathname}${u.search !== '' ? '?…' : ''}`;
  } catch {
    return '<invalid url>';
  }
}

function fields(v: PlivoVerb): string[] {
  switch (v.kind) {
    case 'Speak':
      return [`voice=${v.voice}`, `language=${v.language}`, `loop=${v.loop}`, `text=${v.text.length} chars`,
        ...(v.ssml !== undefined ? ['ssml'] : [])];
    case 'Play':
      return [redactUrl(v.url), `loop=${v.loop}`];
    case 'Wait':
      return [`length=${v.length}`, ...(v.silence ? [`silence minSilence=${v.minSilence}`] : []), ...(v.beep ? ['beep'] : [])];
    case 'Hangup':
      return [...(v.reason !== undefined ? [`reason=${v.reason}`] : []), ...(v.schedule !== undefined ? [`schedule=${v.schedule}`] : [])];
    case 'Redirect':
      return [`${v.method} ${redactUrl(v.url)}`];
    case 'GetDigits':
      return [...(v.action !== undefined ? [`action=${v.method} ${redactUrl(v.action)}`] : []), `numDigits=${v.numDigits}`,
        `timeout=${v.timeout}`, `finishOnKey=${JSON.stringify(v.finishOnKey)}`, `retries=${v.retries}`,
        `children=[${v.children.map((c) => c.kind).join(',')}]`];
    case 'GetInput':
      return [`action=${v.method} ${redactUrl(v.action)}`, `inputType=${v.inputType ?? '(unset)'}`,
        `children=[${v.children.map((c) => c.kind).join(',')}]`];
    case 'PreAnswer':
      return [`children=[${v.children.map((c) => c.kind).join(',')}]`];
    case 'DTMF':
      return [`digits=${v.digits.length}`, `async=${v.async}`];
    case 'Stream':
      return [redactUrl(v.url), `bidirectional=${v.bidirectional}`, `audioTrack=${v.audioTrack}`,
        `contentType=${v.contentType}`, `keepCallAlive=${v.keepCallAlive}`, `streamTimeout=${v.streamTimeout}`,
        ...(v.extraHeaderPairs.length > 0 ? [`extraHeaders=${v.extraHeaderPairs.length}`] : [])];
    case 'Record':
      return [`fileFormat=${v.fileFormat}`, `maxLength=${v.maxLength}`, ...(v.recordSession ? ['recordSession'] : [])];
    case 'Dial':
      return [`targets=${v.targets.length}`, `timeLimit=${v.timeLimit}`];
    case 'Conference':
      return [`room=${v.room.length} chars`];
    case 'Message':
      return [`type=${v.type}`, `text=${v.text.length} chars`];
    case 'MultiPartyCall':
      return [`role=${v.role}`];
  }
}

/** e.g. `Stream@3 wss://agent/ws?… bidirectional=true ...`; safe to log. */
export function describeVerb(v: PlivoVerb): string {
  const rest = fields(v);
  const unsupported = isSupportedVerb(v) ? [] : ['(not supported)'];
  return [`${v.kind}@${v.line}`, ...rest, ...unsupported].join(' ');
}
