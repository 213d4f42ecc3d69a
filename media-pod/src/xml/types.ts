/**
 * Typed shape of a parsed Plivo XML document: one discriminated union member per verb, with every
 * attribute validated and defaulted, so the executor never sees raw attribute strings.
 */

export type HttpMethod = 'GET' | 'POST';

/** Every verb remembers where it was written so executor logs can point at the answer XML. */
export interface VerbPosition {
  /** 1-based line of the element's `<`. */
  readonly line: number;
  /** 1-based column of the element's `<`. */
  readonly column: number;
}

/** `WOMAN`, `MAN` or `Polly.<Name>`; the `string & {}` keeps editor completion for the two literals. */
export type SpeakVoice = 'WOMAN' | 'MAN' | (string & {});

export interface SpeakVerb extends VerbPosition {
  readonly kind: 'Speak';
  /** Plain text to synthesise: all text (SSML markup stripped), whitespace runs collapsed, trimmed. */
  readonly text: string;
  /** Inner markup re-serialised, present only when the Speak contained SSML elements. */
  readonly ssml?: string;
  readonly voice: SpeakVoice;
  readonly language: string;
  /** Number of times to speak; 0 means repeat until something else ends the call/element. */
  readonly loop: number;
}

export interface PlayVerb extends VerbPosition {
  readonly kind: 'Play';
  readonly url: string;
  /** 0 means repeat forever. */
  readonly loop: number;
}

export interface WaitVerb extends VerbPosition {
  readonly kind: 'Wait';
  /** Seconds. */
  readonly length: number;
  readonly silence: boolean;
  /** Milliseconds of silence that end the wait when `silence` is true. */
  readonly minSilence: number;
  readonly beep: boolean;
}

export interface HangupVerb extends VerbPosition {
  readonly kind: 'Hangup';
  readonly reason?: 'rejected' | 'busy';
  /** Seconds after which to hang up while later elements keep running. */
  readonly schedule?: number;
}

export interface RedirectVerb extends VerbPosition {
  readonly kind: 'Redirect';
  readonly url: string;
  readonly method: HttpMethod;
}

/** Elements a GetDigits/GetInput may nest as prompts. */
export type PromptVerb = SpeakVerb | PlayVerb | WaitVerb;

export interface GetDigitsVerb extends VerbPosition {
  readonly kind: 'GetDigits';
  readonly action?: string;
  readonly method: HttpMethod;
  /** Seconds to wait for the first digit. */
  readonly timeout: number;
  /** Seconds to wait between digits. */
  readonly digitTimeout: number;
  /** One of `0-9*#`, or `''` when disabled (`none` and `""` in the XML both become `''`). */
  readonly finishOnKey: string;
  readonly numDigits: number;
  readonly retries: number;
  readonly redirect: boolean;
  readonly playBeep: boolean;
  readonly validDigits: string;
  readonly invalidDigitsSound?: string;
  readonly log: boolean;
  readonly children: readonly PromptVerb[];
}

export type GetInputType = 'dtmf' | 'speech' | 'dtmf speech';

/** Parsed and validated so the executor can refuse it with a precise cause; not executed. */
export interface GetInputVerb extends VerbPosition {
  readonly kind: 'GetInput';
  readonly action: string;
  readonly method: HttpMethod;
  readonly inputType?: GetInputType;
  readonly executionTimeout: number;
  readonly digitEndTimeout: number | 'auto';
  readonly speechEndTimeout: number | 'auto';
  readonly finishOnKey: string;
  readonly numDigits: number;
  readonly speechModel?: 'default' | 'command_and_search' | 'phone_call';
  readonly hints?: string;
  readonly language: string;
  readonly interimSpeechResultsCallback?: string;
  readonly interimSpeechResultsCallbackMethod: HttpMethod;
  readonly profanityFilter: boolean;
  readonly redirect: boolean;
  readonly log: boolean;
  readonly children: readonly PromptVerb[];
}

export type PreAnswerChild =
  | SpeakVerb
  | PlayVerb
  | WaitVerb
  | GetDigitsVerb
  | RedirectVerb
  | MessageVerb
  | DtmfVerb;

export interface PreAnswerVerb extends VerbPosition {
  readonly kind: 'PreAnswer';
  readonly children: readonly PreAnswerChild[];
}

export interface DtmfVerb extends VerbPosition {
  readonly kind: 'DTMF';
  /** `0-9`, `*`, `#`, `A-D`; `w` pauses 0.5 s and `W` pauses 1 s. */
  readonly digits: string;
  readonly async: boolean;
}

export type StreamAudioTrack = 'inbound' | 'outbound' | 'both';
export type StreamContentType =
  | 'audio/x-l16;rate=8000'
  | 'audio/x-l16;rate=16000'
  | 'audio/x-mulaw;rate=8000';

export interface StreamVerb extends VerbPosition {
  readonly kind: 'Stream';
  /** ws:// or wss:// URL, trimmed and entity-decoded. */
  readonly url: string;
  readonly bidirectional: boolean;
  readonly audioTrack: StreamAudioTrack;
  /** Seconds. */
  readonly streamTimeout: number;
  /** Canonical form (lower case, no spaces). */
  readonly contentType: StreamContentType;
  readonly keepCallAlive: boolean;
  /** The attribute verbatim (Plivo echoes it to the agent as `extra_headers`); `''` when absent. */
  readonly extraHeaders: string;
  /** `extraHeaders` split into `[key, value]` pairs, in order. */
  readonly extraHeaderPairs: ReadonlyArray<readonly [string, string]>;
  readonly statusCallbackUrl?: string;
  readonly statusCallbackMethod: HttpMethod;
  readonly noiseCancellation: boolean;
  readonly noiseCancellationLevel: number;
}

/** <Record>: a message after a beep, or (recordSession) the rest of the call in the background. */
export interface RecordVerb extends VerbPosition {
  readonly kind: 'Record';
  readonly action?: string;
  readonly method: HttpMethod;
  readonly fileFormat: 'mp3' | 'wav';
  readonly redirect: boolean;
  readonly timeout: number;
  readonly maxLength: number;
  readonly finishOnKey: string;
  readonly playBeep: boolean;
  readonly recordSession: boolean;
  readonly startOnDialAnswer: boolean;
  readonly recordChannelType: 'mono' | 'stereo';
  readonly transcriptionType?: string;
  readonly transcriptionUrl?: string;
  readonly transcriptionMethod: HttpMethod;
  readonly callbackUrl?: string;
  readonly callbackMethod: HttpMethod;
}

/** Raw attribute values as written (after the whitelist check), for verbs we only validate. */
export type RawAttributes = Readonly<Record<string, string>>;

export interface DialNumber extends VerbPosition {
  readonly kind: 'Number';
  readonly number: string;
  readonly attributes: RawAttributes;
}

export interface DialUser extends VerbPosition {
  readonly kind: 'User';
  readonly uri: string;
  /** `sipAuthPassword` is never copied here. */
  readonly attributes: RawAttributes;
}

/** Parsed and validated so the executor can refuse it with a precise cause; not executed. */
export interface DialVerb extends VerbPosition {
  readonly kind: 'Dial';
  readonly action?: string;
  readonly method: HttpMethod;
  readonly timeout?: number;
  readonly timeLimit: number;
  readonly callerId?: string;
  readonly callerName?: string;
  readonly hangupOnStar: boolean;
  readonly redirect: boolean;
  readonly callbackUrl?: string;
  readonly callbackMethod: HttpMethod;
  readonly targets: ReadonlyArray<DialNumber | DialUser>;
  readonly attributes: RawAttributes;
}

/** Parsed and validated so the executor can refuse it with a precise cause; not executed. */
export interface ConferenceVerb extends VerbPosition {
  readonly kind: 'Conference';
  readonly room: string;
  readonly muted: boolean;
  readonly maxMembers: number;
  readonly timeLimit: number;
  readonly stayAlone: boolean;
  readonly startConferenceOnEnter: boolean;
  readonly endConferenceOnExit: boolean;
  readonly record: boolean;
  readonly action?: string;
  readonly method: HttpMethod;
  readonly callbackUrl?: string;
  readonly callbackMethod: HttpMethod;
  readonly attributes: RawAttributes;
}

/** Parsed and validated so the executor can refuse it with a precise cause; not executed. */
export interface MessageVerb extends VerbPosition {
  readonly kind: 'Message';
  readonly text: string;
  readonly src?: string;
  readonly dst?: string;
  readonly type: string;
  readonly callbackUrl?: string;
  readonly callbackMethod: HttpMethod;
}

/** Parsed and validated so the executor can refuse it with a precise cause; not executed. */
export interface MultiPartyCallVerb extends VerbPosition {
  readonly kind: 'MultiPartyCall';
  readonly name: string;
  readonly role: 'agent' | 'supervisor' | 'customer';
  readonly attributes: RawAttributes;
}

export type PlivoVerb =
  | SpeakVerb
  | PlayVerb
  | WaitVerb
  | HangupVerb
  | RedirectVerb
  | GetDigitsVerb
  | GetInputVerb
  | PreAnswerVerb
  | DtmfVerb
  | StreamVerb
  | RecordVerb
  | DialVerb
  | ConferenceVerb
  | MessageVerb
  | MultiPartyCallVerb;

export type PlivoVerbKind = PlivoVerb['kind'];

export interface PlivoDocument {
  readonly verbs: readonly PlivoVerb[];
}

/** Stable, bounded category of a parse failure (safe as a metric label). */
export type PlivoXmlErrorCode =
  | 'too-large'
  | 'encoding'
  | 'malformed'
  | 'doctype'
  | 'root'
  | 'unknown-element'
  | 'nesting'
  | 'too-deep'
  | 'unknown-attribute'
  | 'invalid-attribute'
  | 'invalid-content';

export interface PlivoXmlError {
  /** Says what is wrong and where, e.g. `line 3: <Speak> attribute loop must be ...`. */
  readonly message: string;
  /** 1-based; 1 for whole-document problems such as size. */
  readonly line: number;
  /** 1-based, when known. */
  readonly column?: number;
  /** The element the problem is in, when there is one. */
  readonly element?: string;
  readonly code: PlivoXmlErrorCode;
}

export type PlivoXmlParseResult =
  | { readonly ok: true; readonly document: PlivoDocument }
  | { readonly ok: false; readonly error: PlivoXmlError };

export interface PlivoXmlParseOptions {
  /** Largest accepted document in UTF-8 bytes; default 100 KB (102 400). */
  readonly maxBytes?: number;
  /** Deepest accepted element nesting, counting `<Response>` as 1; default 32. */
  readonly maxDepth?: number;
}
