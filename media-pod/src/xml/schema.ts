/**
 * Which elements may nest where and which attributes each may carry. The lists follow Plivo's SDK
 * whitelists (plivo-node `lib/utils/plivoxml.js`), plus the few attributes Plivo documents but the
 * SDKs have not caught up with; see plivo-protocol.md §2.2–2.4.
 */

import type { PlivoVerbKind } from './types.js';

/** Attributes Plivo's docs define that the SDK whitelists lack; accepted so real XML is not refused. */
const DOC_ONLY_ATTRIBUTES: Readonly<Record<string, readonly string[]>> = {
  Stream: ['noiseCancellation', 'noiseCancellationLevel'],
  User: ['sipAuthUsername', 'sipAuthPassword'],
};

const SSML_CHILDREN = ['break', 'emphasis', 'lang', 'p', 'phoneme', 'prosody', 's', 'say-as', 'sub', 'w'] as const;

export type TextRule =
  /** Only whitespace may appear (it is ignored). */
  | 'none'
  /** Text is the element's value (URL, digits, name); it is trimmed. */
  | 'value'
  /** Mixed text and SSML markup. */
  | 'speech';

export interface ElementRule {
  readonly children: readonly string[];
  readonly attributes: readonly string[];
  readonly text: TextRule;
}

function rule(children: readonly string[], attributes: readonly string[], text: TextRule): ElementRule {
  return { children, attributes, text };
}

const PROMPTS = ['Speak', 'Play', 'Wait'];

const BASE_RULES: Readonly<Record<string, ElementRule>> = {
  Response: rule(
    ['Speak', 'Play', 'GetDigits', 'GetInput', 'Record', 'Dial', 'Message', 'Redirect', 'Wait', 'Hangup',
      'PreAnswer', 'Conference', 'DTMF', 'MultiPartyCall', 'Stream'],
    [], 'none'),
  Speak: rule(SSML_CHILDREN, ['voice', 'language', 'loop'], 'speech'),
  Play: rule([], ['loop'], 'value'),
  Wait: rule([], ['length', 'silence', 'min_silence', 'minSilence', 'beep'], 'none'),
  Hangup: rule([], ['schedule', 'reason'], 'none'),
  Redirect: rule([], ['method'], 'value'),
  GetDigits: rule(PROMPTS, ['action', 'method', 'timeout', 'digitTimeout', 'finishOnKey', 'numDigits', 'retries',
    'invalidDigitsSound', 'validDigits', 'playBeep', 'redirect', 'log'], 'none'),
  GetInput: rule(PROMPTS, ['action', 'method', 'inputType', 'executionTimeout', 'digitEndTimeout',
    'speechEndTimeout', 'finishOnKey', 'numDigits', 'speechModel', 'hints', 'language',
    'interimSpeechResultsCallback', 'interimSpeechResultsCallbackMethod', 'log', 'redirect', 'profanityFilter'],
  'none'),
  PreAnswer: rule(['Play', 'Speak', 'GetDigits', 'Wait', 'Redirect', 'Message', 'DTMF'], [], 'none'),
  DTMF: rule([], ['digits', 'async'], 'value'),
  // The SDK lists SSML as Stream's nestables, a copy-paste slip: the docs give Stream text only.
  Stream: rule([], ['bidirectional', 'audioTrack', 'streamTimeout', 'statusCallbackUrl', 'statusCallbackMethod',
    'contentType', 'extraHeaders', 'keepCallAlive'], 'value'),
  Record: rule([], ['action', 'method', 'timeout', 'finishOnKey', 'maxLength', 'playBeep', 'recordSession',
    'startOnDialAnswer', 'redirect', 'fileFormat', 'callbackUrl', 'callbackMethod', 'transcriptionType',
    'transcriptionUrl', 'transcriptionMethod', 'recordChannelType'], 'none'),
  Dial: rule(['Number', 'User'], ['action', 'method', 'timeout', 'hangupOnStar', 'timeLimit', 'callerId',
    'callerName', 'confirmSound', 'dialMusic', 'confirmKey', 'redirect', 'callbackUrl', 'callbackMethod',
    'digitsMatch', 'digitsMatchBLeg', 'sipHeaders', 'confirmTimeout'], 'none'),
  Number: rule([], ['sendDigits', 'sendOnPreanswer', 'sendDigitsMode', 'callerId', 'callerName'], 'value'),
  User: rule([], ['sendDigits', 'sendOnPreanswer', 'sipHeaders', 'callerId', 'callerName'], 'value'),
  Conference: rule([], ['muted', 'beep', 'startConferenceOnEnter', 'endConferenceOnExit', 'waitSound',
    'enterSound', 'exitSound', 'timeLimit', 'hangupOnStar', 'maxMembers', 'record', 'recordWhenAlone',
    'recordFileFormat', 'action', 'method', 'redirect', 'digitsMatch', 'callbackUrl', 'callbackMethod',
    'stayAlone', 'floorEvent', 'transcriptionType', 'transcriptionUrl', 'transcriptionMethod', 'relayDTMF'],
  'value'),
  Message: rule([], ['src', 'dst', 'type', 'callbackUrl', 'callbackMethod'], 'value'),
  MultiPartyCall: rule([], ['role', 'maxDuration', 'maxParticipants', 'recordMinMemberCount', 'waitMusicUrl',
    'waitMusicMethod', 'agentHoldMusicUrl', 'agentHoldMusicMethod', 'customerHoldMusicUrl',
    'customerHoldMusicMethod', 'record', 'recordFileFormat', 'recordingCallbackUrl', 'recordingCallbackMethod',
    'statusCallbackEvents', 'statusCallbackUrl', 'statusCallbackMethod', 'stayAlone', 'coachMode', 'mute', 'hold',
    'startMpcOnEnter', 'endMpcOnExit', 'enterSound', 'enterSoundMethod', 'exitSound', 'exitSoundMethod',
    'onExitActionUrl', 'onExitActionMethod', 'relayDTMFInputs', 'startRecordingAudio', 'startRecordingAudioMethod',
    'stopRecordingAudio', 'stopRecordingAudioMethod', 'recordParticipantTrack'], 'value'),

  // SSML inside <Speak>; attribute values go to the TTS engine untouched.
  break: rule([], ['strength', 'time'], 'none'),
  emphasis: rule(['break', 'emphasis', 'lang', 'phoneme', 'prosody', 'say-as', 'sub', 'w'], ['level'], 'speech'),
  lang: rule(SSML_CHILDREN, ['xml:lang'], 'speech'),
  p: rule(['break', 'emphasis', 'lang', 'prosody', 's', 'say-as', 'sub', 'w'], [], 'speech'),
  phoneme: rule([], ['alphabet', 'ph'], 'speech'),
  prosody: rule(SSML_CHILDREN, ['pitch', 'rate', 'volume'], 'speech'),
  s: rule(['break', 'emphasis', 'lang', 'phoneme', 'prosody', 'say-as', 'sub', 'w'], [], 'speech'),
  'say-as': rule([], ['interpret-as', 'format'], 'speech'),
  sub: rule([], ['alias'], 'speech'),
  w: rule(['break', 'emphasis', 'phoneme', 'prosody', 'say-as', 'sub'], ['role'], 'speech'),
};

function withDocOnly(rules: Readonly<Record<string, ElementRule>>): ReadonlyMap<string, ElementRule> {
  const out = new Map<string, ElementRule>();
  for (const [name, r] of Object.entries(rules)) {
    const extra = DOC_ONLY_ATTRIBUTES[name] ?? [];
    out.set(name, { ...r, attributes: [...r.attributes, ...extra] });
  }
  return out;
}

export const ELEMENT_RULES: ReadonlyMap<string, ElementRule> = withDocOnly(BASE_RULES);

export const SSML_ELEMENTS: ReadonlySet<string> = new Set<string>(SSML_CHILDREN);

export const VERB_KINDS: readonly PlivoVerbKind[] = [
  'Speak', 'Play', 'Wait', 'Hangup', 'Redirect', 'GetDigits', 'GetInput', 'PreAnswer', 'DTMF', 'Stream',
  'Record', 'Dial', 'Conference', 'Message', 'MultiPartyCall',
];

/** Attributes whose values never appear in error messages or in the parsed output. */
export const SECRET_ATTRIBUTES: ReadonlySet<string> = new Set(['sipAuthPassword']);
