/**
 * Turns one closed element (attributes plus already-built children) into its typed verb, applying
 * Plivo's defaults and value rules (plivo-protocol.md §2.3–2.4). Nesting was checked while parsing.
 */

import { AttributeReader, isAbsoluteUrl, URL_KIND_LABEL, type ElementSource, type UrlKind } from './attributes.js';
import { PlivoXmlFailure, quoteValue } from './failure.js';
import type {
  ConferenceVerb, DialNumber, DialUser, DialVerb, DtmfVerb, GetDigitsVerb, GetInputType, GetInputVerb,
  HangupVerb, MessageVerb, MultiPartyCallVerb, PlayVerb, PlivoVerb, PreAnswerChild, PreAnswerVerb, PromptVerb,
  RecordVerb, RedirectVerb, SpeakVerb, StreamAudioTrack, StreamContentType, StreamVerb, WaitVerb,
} from './types.js';

/** What an element's body holds once its children have closed, in document order. */
export type ContentPart =
  | { readonly kind: 'text'; readonly text: string }
  | { readonly kind: 'verb'; readonly verb: PlivoVerb }
  | { readonly kind: 'target'; readonly target: DialNumber | DialUser }
  /** An SSML element inside <Speak>: its plain text and its markup re-serialised. */
  | { readonly kind: 'ssml'; readonly flat: string; readonly markup: string };

export interface ClosedElement extends ElementSource {
  readonly parts: readonly ContentPart[];
}

const CONTENT_TYPES: readonly StreamContentType[] = ['audio/x-l16;rate=8000', 'audio/x-l16;rate=16000', 'audio/x-mulaw;rate=8000'];
const AUDIO_TRACKS: readonly StreamAudioTrack[] = ['inbound', 'outbound', 'both'];
const MAX_EXTRA_HEADERS_BYTES = 512;
const MAX_HINTS_CHARS = 10_000;
const MAX_HINT_PHRASES = 500;
const DTMF_DIGITS = /^[0-9*#wWA-D]+$/;
const LANGUAGE_TAG = /^[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8}){0,3}$/;
const POLLY_VOICE = /^Polly\.[A-Za-z0-9_-]+$/;

function contentFail(el: ElementSource, what: string): never {
  throw new PlivoXmlFailure('invalid-content', `<${el.name}> ${what}`, { line: el.line, column: el.column, element: el.name });
}

function position(el: ElementSource): { line: number; column: number } {
  return { line: el.line, column: el.column };
}

/** Concatenated text of the element, trimmed (Plivo's examples indent URLs across lines). */
function valueText(el: ClosedElement): string {
  let s = '';
  for (const p of el.parts) if (p.kind === 'text') s += p.text;
  return s.trim();
}

function requiredValue(el: ClosedElement, expectation: string): string {
  const v = valueText(el);
  if (v === '') contentFail(el, `must contain ${expectation}`);
  return v;
}

function urlValue(el: ClosedElement, kind: UrlKind): string {
  const v = requiredValue(el, URL_KIND_LABEL[kind]);
  if (!isAbsoluteUrl(v, kind)) contentFail(el, `must contain ${URL_KIND_LABEL[kind]}, got ${quoteValue(v)}`);
  return v;
}

function verbsOf(el: ClosedElement): PlivoVerb[] {
  const out: PlivoVerb[] = [];
  for (const p of el.parts) if (p.kind === 'verb') out.push(p.verb);
  return out;
}

function isPrompt(v: PlivoVerb): v is PromptVerb {
  return v.kind === 'Speak' || v.kind === 'Play' || v.kind === 'Wait';
}

function isPreAnswerChild(v: PlivoVerb): v is PreAnswerChild {
  return isPrompt(v) || v.kind === 'GetDigits' || v.kind === 'Redirect' || v.kind === 'Message' || v.kind === 'DTMF';
}

function escapeText(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

function escapeAttr(s: string): string {
  return escapeText(s).replace(/"/g, '&quot;');
}

/** An SSML element inside <Speak>: kept as markup for an SSML-capable TTS, flattened for the rest. */
export function buildSsml(el: ClosedElement): ContentPart {
  // Element boundaries count as word breaks: SDK output has none (`Hi<break/>there`), and an
  // extra space is harmless once runs are collapsed.
  let flat = ' ';
  let inner = '';
  for (const p of el.parts) {
    if (p.kind === 'text') {
      flat += p.text;
      inner += escapeText(p.text);
    } else if (p.kind === 'ssml') {
      flat += p.flat;
      inner += p.markup;
    }
  }
  let attrs = '';
  for (const [name, a] of el.attributes) attrs += ` ${name}="${escapeAttr(a.value)}"`;
  flat += ' ';
  const markup = inner === '' ? `<${el.name}${attrs}/>` : `<${el.name}${attrs}>${inner}</${el.name}>`;
  return { kind: 'ssml', flat, markup };
}

function buildSpeak(el: ClosedElement): SpeakVerb {
  const a = new AttributeReader(el);
  let flat = '';
  let inner = '';
  let hasSsml = false;
  for (const p of el.parts) {
    if (p.kind === 'text') {
      flat += p.text;
      inner += escapeText(p.text);
    } else if (p.kind === 'ssml') {
      hasSsml = true;
      flat += p.flat;
      inner += p.markup;
    }
  }
  const text = flat.replace(/\s+/g, ' ').trim();
  if (text === '') contentFail(el, 'must contain text to speak');
  let voice = 'WOMAN';
  const rawVoice = a.raw('voice')?.trim();
  if (rawVoice !== undefined) {
    const upper = rawVoice.toUpperCase();
    if (upper === 'WOMAN' || upper === 'MAN') voice = upper;
    else if (POLLY_VOICE.test(rawVoice)) voice = rawVoice;
    else a.fail('voice', 'WOMAN, MAN or Polly.<voice>');
  }
  const language = a.optString('language', 'a language tag such as en-US', (v) => LANGUAGE_TAG.test(v)) ?? 'en-US';
  return {
    kind: 'Speak', ...position(el), text, ...(hasSsml ? { ssml: inner.trim() } : {}),
    voice, language, loop: a.int('loop', 1, 0),
  };
}

function buildPlay(el: ClosedElement): PlayVerb {
  const a = new AttributeReader(el);
  return { kind: 'Play', ...position(el), url: urlValue(el, 'http'), loop: a.int('loop', 1, 0) };
}

function buildWait(el: ClosedElement): WaitVerb {
  const a = new AttributeReader(el);
  // The SDK accepts the legacy snake_case spelling too; the camelCase one wins when both appear.
  const minSilence = a.optInt('minSilence', 0) ?? a.optInt('min_silence', 0) ?? 2000;
  return {
    kind: 'Wait', ...position(el), length: a.int('length', 1, 1), silence: a.bool('silence', false), minSilence,
    beep: a.bool('beep', false),
  };
}

function buildHangup(el: ClosedElement): HangupVerb {
  const a = new AttributeReader(el);
  const reason = a.optChoice('reason', ['rejected', 'busy'] as const);
  const schedule = a.optInt('schedule', 1);
  return {
    kind: 'Hangup', ...position(el), ...(reason !== undefined ? { reason } : {}),
    ...(schedule !== undefined ? { schedule } : {}),
  };
}

function buildRedirect(el: ClosedElement): RedirectVerb {
  const a = new AttributeReader(el);
  return { kind: 'Redirect', ...position(el), url: urlValue(el, 'http'), method: a.method('method') };
}

function buildGetDigits(el: ClosedElement): GetDigitsVerb {
  const a = new AttributeReader(el);
  const action = a.optUrl('action');
  const invalidDigitsSound = a.optUrl('invalidDigitsSound');
  const validDigits = a.raw('validDigits')?.trim() ?? '1234567890*#';
  if (!/^[0-9*#]+$/.test(validDigits)) a.fail('validDigits', 'one or more of 0-9, *, #');
  return {
    kind: 'GetDigits', ...position(el),
    ...(action !== undefined ? { action } : {}),
    method: a.method('method'),
    timeout: a.int('timeout', 5, 1),
    digitTimeout: a.int('digitTimeout', 2, 1),
    finishOnKey: a.finishOnKey('finishOnKey', '#'),
    numDigits: a.int('numDigits', 99, 1),
    retries: a.int('retries', 1, 0),
    redirect: a.bool('redirect', true),
    playBeep: a.bool('playBeep', false),
    validDigits,
    ...(invalidDigitsSound !== undefined ? { invalidDigitsSound } : {}),
    log: a.bool('log', true),
    children: verbsOf(el).filter(isPrompt),
  };
}

function missingAttribute(el: ElementSource, name: string, expectation: string): never {
  throw new PlivoXmlFailure('invalid-attribute', `<${el.name}> requires attribute ${name} (${expectation})`, {
    line: el.line, column: el.column, element: el.name,
  });
}

function buildGetInput(el: ClosedElement): GetInputVerb {
  const a = new AttributeReader(el);
  const action = a.optUrl('action') ?? missingAttribute(el, 'action', URL_KIND_LABEL.http);
  const inputType = a.optChoice<GetInputType>('inputType', ['dtmf', 'speech', 'dtmf speech']);
  const speechModel = a.optChoice('speechModel', ['default', 'command_and_search', 'phone_call'] as const);
  const hints = a.optString('hints', `at most ${MAX_HINT_PHRASES} comma-separated phrases and ${MAX_HINTS_CHARS} characters`,
    (v) => v.length <= MAX_HINTS_CHARS && v.split(',').length <= MAX_HINT_PHRASES);
  const interim = a.optUrl('interimSpeechResultsCallback');
  return {
    kind: 'GetInput', ...position(el), action, method: a.method('method'),
    ...(inputType !== undefined ? { inputType } : {}),
    executionTimeout: a.int('executionTimeout', 15, 5, 60),
    digitEndTimeout: a.intOrAuto('digitEndTimeout', 'auto', 2, 10),
    speechEndTimeout: a.intOrAuto('speechEndTimeout', 'auto', 2, 10),
    finishOnKey: a.finishOnKey('finishOnKey', '#'),
    numDigits: a.int('numDigits', 32, 1, 32),
    ...(speechModel !== undefined ? { speechModel } : {}),
    ...(hints !== undefined ? { hints } : {}),
    language: a.optString('language', 'a language tag such as en-US', (v) => LANGUAGE_TAG.test(v)) ?? 'en-US',
    ...(interim !== undefined ? { interimSpeechResultsCallback: interim } : {}),
    interimSpeechResultsCallbackMethod: a.method('interimSpeechResultsCallbackMethod'),
    profanityFilter: a.bool('profanityFilter', false),
    redirect: a.bool('redirect', true),
    log: a.bool('log', true),
    children: verbsOf(el).filter(isPrompt),
  };
}

function buildPreAnswer(el: ClosedElement): PreAnswerVerb {
  return { kind: 'PreAnswer', ...position(el), children: verbsOf(el).filter(isPreAnswerChild) };
}

function buildDtmf(el: ClosedElement): DtmfVerb {
  const a = new AttributeReader(el);
  const text = valueText(el);
  const attr = a.raw('digits')?.trim();
  if (text !== '' && attr !== undefined && attr !== '') {
    contentFail(el, 'has digits both as text and in the digits attribute; use one');
  }
  const digits = text !== '' ? text : attr ?? '';
  if (digits === '') contentFail(el, 'must contain the digits to send');
  if (!DTMF_DIGITS.test(digits)) {
    if (text !== '') contentFail(el, `digits must be 0-9, *, #, A-D, w or W, got ${quoteValue(digits)}`);
    a.fail('digits', '0-9, *, #, A-D, w or W');
  }
  return { kind: 'DTMF', ...position(el), digits, async: a.bool('async', true) };
}

function parseExtraHeaders(a: AttributeReader): { raw: string; pairs: Array<readonly [string, string]> } {
  const raw = a.raw('extraHeaders')?.trim() ?? '';
  const pairs: Array<readonly [string, string]> = [];
  if (raw === '') return { raw, pairs };
  const expectation = `key=value pairs of letters and digits separated by "," or ";", at most ${MAX_EXTRA_HEADERS_BYTES} bytes`;
  if (Buffer.byteLength(raw, 'utf8') > MAX_EXTRA_HEADERS_BYTES) a.fail('extraHeaders', expectation);
  for (const segment of raw.split(/[,;]/)) {
    const s = segment.trim();
    if (s === '') continue;
    const m = /^([A-Za-z0-9]+)=([A-Za-z0-9]*)$/.exec(s) ?? a.fail('extraHeaders', expectation);
    pairs.push([m[1] ?? '', m[2] ?? '']);
  }
  return { raw, pairs };
}

function buildStream(el: ClosedElement): StreamVerb {
  const a = new AttributeReader(el);
  const url = urlValue(el, 'ws');
  const bidirectional = a.bool('bidirectional', false);
  const audioTrack = a.choice('audioTrack', AUDIO_TRACKS, 'inbound');
  if (bidirectional && audioTrack !== 'inbound') {
    a.fail('audioTrack', 'inbound when bidirectional is true (the agent\'s audio is the outbound track)');
  }
  let contentType: StreamContentType = 'audio/x-l16;rate=8000';
  const rawType = a.raw('contentType');
  if (rawType !== undefined) {
    const canonical = rawType.replace(/\s+/g, '').toLowerCase();
    contentType = CONTENT_TYPES.find((c) => c === canonical) ?? a.fail('contentType', `one of ${CONTENT_TYPES.join(', ')}`);
  }
  const extra = parseExtraHeaders(a);
  const statusCallbackUrl = a.optUrl('statusCallbackUrl');
  return {
    kind: 'Stream', ...position(el), url, bidirectional, audioTrack,
    streamTimeout: a.int('streamTimeout', 86400, 1),
    contentType,
    keepCallAlive: a.bool('keepCallAlive', false),
    extraHeaders: extra.raw,
    extraHeaderPairs: extra.pairs,
    ...(statusCallbackUrl !== undefined ? { statusCallbackUrl } : {}),
    statusCallbackMethod: a.method('statusCallbackMethod'),
    noiseCancellation: a.bool('noiseCancellation', false),
    noiseCancellationLevel: a.int('noiseCancellationLevel', 85, 60, 100),
  };
}

function buildRecord(el: ClosedElement): RecordVerb {
  const a = new AttributeReader(el);
  const action = a.optUrl('action');
  const transcriptionType = a.optString('transcriptionType', 'a transcription type such as auto');
  const transcriptionUrl = a.optUrl('transcriptionUrl');
  const callbackUrl = a.optUrl('callbackUrl');
  return {
    kind: 'Record', ...position(el),
    ...(action !== undefined ? { action } : {}),
    method: a.method('method'),
    fileFormat: a.choice('fileFormat', ['mp3', 'wav'] as const, 'mp3'),
    redirect: a.bool('redirect', true),
    timeout: a.int('timeout', 15, 0),
    maxLength: a.int('maxLength', 60, 1),
    finishOnKey: a.finishOnKey('finishOnKey', '#'),
    playBeep: a.bool('playBeep', true),
    recordSession: a.bool('recordSession', false),
    startOnDialAnswer: a.bool('startOnDialAnswer', false),
    recordChannelType: a.choice('recordChannelType', ['mono', 'stereo'] as const, 'stereo'),
    ...(transcriptionType !== undefined ? { transcriptionType } : {}),
    ...(transcriptionUrl !== undefined ? { transcriptionUrl } : {}),
    transcriptionMethod: a.method('transcriptionMethod'),
    ...(callbackUrl !== undefined ? { callbackUrl } : {}),
    callbackMethod: a.method('callbackMethod'),
  };
}

function buildNumber(el: ClosedElement): DialNumber {
  const a = new AttributeReader(el);
  const number = requiredValue(el, 'a phone number');
  if (!/^\+?[0-9]{1,20}$/.test(number)) contentFail(el, `must contain a phone number of digits, got ${quoteValue(number)}`);
  a.optString('sendDigits', '0-9, *, #, A-D, w or W', (v) => DTMF_DIGITS.test(v));
  a.bool('sendOnPreanswer', false);
  return { kind: 'Number', ...position(el), number, attributes: a.rawBag() };
}

function buildUser(el: ClosedElement): DialUser {
  const a = new AttributeReader(el);
  const uri = requiredValue(el, 'a sip: URI');
  if (!/^sips?:[^\s]+$/i.test(uri)) contentFail(el, `must contain a sip: URI, got ${quoteValue(uri)}`);
  a.optString('sendDigits', '0-9, *, #, A-D, w or W', (v) => DTMF_DIGITS.test(v));
  a.bool('sendOnPreanswer', false);
  return { kind: 'User', ...position(el), uri, attributes: a.rawBag() };
}

function buildDial(el: ClosedElement): DialVerb {
  const a = new AttributeReader(el);
  const targets: Array<DialNumber | DialUser> = [];
  for (const p of el.parts) if (p.kind === 'target') targets.push(p.target);
  if (targets.length === 0) contentFail(el, 'must contain at least one <Number> or <User>');
  const action = a.optUrl('action');
  const timeout = a.optInt('timeout', 1);
  const callerId = a.optString('callerId', 'a caller id');
  const callerName = a.optString('callerName', 'at most 50 characters', (v) => v.length <= 50);
  const callbackUrl = a.optUrl('callbackUrl');
  return {
    kind: 'Dial', ...position(el),
    ...(action !== undefined ? { action } : {}),
    method: a.method('method'),
    ...(timeout !== undefined ? { timeout } : {}),
    timeLimit: a.int('timeLimit', 14400, 1),
    ...(callerId !== undefined ? { callerId } : {}),
    ...(callerName !== undefined ? { callerName } : {}),
    hangupOnStar: a.bool('hangupOnStar', false),
    redirect: a.bool('redirect', true),
    ...(callbackUrl !== undefined ? { callbackUrl } : {}),
    callbackMethod: a.method('callbackMethod'),
    targets,
    attributes: a.rawBag(),
  };
}

function buildConference(el: ClosedElement): ConferenceVerb {
  const a = new AttributeReader(el);
  const room = requiredValue(el, 'a conference room name');
  const action = a.optUrl('action');
  const callbackUrl = a.optUrl('callbackUrl');
  return {
    kind: 'Conference', ...position(el), room,
    muted: a.bool('muted', false),
    maxMembers: a.int('maxMembers', 20, 1),
    timeLimit: a.int('timeLimit', 86400, 0),
    stayAlone: a.bool('stayAlone', true),
    startConferenceOnEnter: a.bool('startConferenceOnEnter', true),
    endConferenceOnExit: a.bool('endConferenceOnExit', false),
    record: a.bool('record', false),
    ...(action !== undefined ? { action } : {}),
    method: a.method('method'),
    ...(callbackUrl !== undefined ? { callbackUrl } : {}),
    callbackMethod: a.method('callbackMethod'),
    attributes: a.rawBag(),
  };
}

function buildMessage(el: ClosedElement): MessageVerb {
  const a = new AttributeReader(el);
  const text = requiredValue(el, 'the message text');
  const src = a.optString('src', 'a phone number');
  const dst = a.optString('dst', 'a phone number');
  const callbackUrl = a.optUrl('callbackUrl');
  return {
    kind: 'Message', ...position(el), text,
    ...(src !== undefined ? { src } : {}),
    ...(dst !== undefined ? { dst } : {}),
    type: a.optString('type', 'a message type such as sms') ?? 'sms',
    ...(callbackUrl !== undefined ? { callbackUrl } : {}),
    callbackMethod: a.method('callbackMethod'),
  };
}

function buildMultiPartyCall(el: ClosedElement): MultiPartyCallVerb {
  const a = new AttributeReader(el);
  const name = requiredValue(el, 'a MultiPartyCall name');
  const role = a.optChoice('role', ['agent', 'supervisor', 'customer'] as const)
    ?? missingAttribute(el, 'role', 'agent, supervisor or customer');
  a.optInt('maxDuration', 300, 28800);
  a.optInt('maxParticipants', 2, 10);
  for (const flag of ['record', 'stayAlone', 'coachMode', 'mute', 'hold', 'startMpcOnEnter', 'endMpcOnExit',
    'relayDTMFInputs', 'recordParticipantTrack']) a.bool(flag, false);
  return { kind: 'MultiPartyCall', ...position(el), name, role, attributes: a.rawBag() };
}

const VERB_BUILDERS: Readonly<Record<string, (el: ClosedElement) => PlivoVerb>> = {
  Speak: buildSpeak,
  Play: buildPlay,
  Wait: buildWait,
  Hangup: buildHangup,
  Redirect: buildRedirect,
  GetDigits: buildGetDigits,
  GetInput: buildGetInput,
  PreAnswer: buildPreAnswer,
  DTMF: buildDtmf,
  Stream: buildStream,
  Record: buildRecord,
  Dial: buildDial,
  Conference: buildConference,
  Message: buildMessage,
  MultiPartyCall: buildMultiPartyCall,
};

/** Builds the content part an element contributes to its parent. Response is handled by the caller. */
export function buildElement(el: ClosedElement): ContentPart {
  if (el.name === 'Number') return { kind: 'target', target: buildNumber(el) };
  if (el.name === 'User') return { kind: 'target', target: buildUser(el) };
  const verb = VERB_BUILDERS[el.name];
  if (verb !== undefined) return { kind: 'verb', verb: verb(el) };
  return buildSsml(el);
}

export { verbsOf };
