/**
 * Vocabulary of Plivo's audio-streaming WebSocket protocol as the platform side speaks it:
 * stream formats, status events, and a tolerant parser for the messages an agent may send.
 */

export type StreamContentType = 'audio/x-l16;rate=8000' | 'audio/x-l16;rate=16000' | 'audio/x-mulaw;rate=8000';
export type AudioTrackSetting = 'inbound' | 'outbound' | 'both';
export type StreamTrack = 'inbound' | 'outbound';
export type StreamStopReason = 'call_hangup' | 'api' | 'timeout' | 'xml';

/** The wire format of audio in `media` messages, as announced in `start.mediaFormat`. */
export interface StreamFormat {
  readonly encoding: 'audio/x-mulaw' | 'audio/x-l16';
  readonly sampleRate: 8000 | 16000;
}

export const STREAM_CONTENT_TYPES: readonly StreamContentType[] = ['audio/x-l16;rate=8000', 'audio/x-l16;rate=16000', 'audio/x-mulaw;rate=8000'];

/** Maps a `<Stream contentType>` value to its wire format; undefined when not one of the three Plivo allows. */
export function streamFormatOf(contentType: string): StreamFormat | undefined {
  switch (contentType.replace(/\s+/g, '').toLowerCase()) {
    case 'audio/x-l16;rate=8000': return { encoding: 'audio/x-l16', sampleRate: 8000 };
    case 'audio/x-l16;rate=16000': return { encoding: 'audio/x-l16', sampleRate: 16000 };
    case 'audio/x-mulaw;rate=8000': return { encoding: 'audio/x-mulaw', sampleRate: 8000 };
    default: return undefined;
  }
}

export function tracksOf(audioTrack: AudioTrackSetting): StreamTrack[] {
  return audioTrack === 'both' ? ['inbound', 'outbound'] : [audioTrack];
}

/** Stream status as Plivo's legacy statusCallbackUrl names it (see reference §3.6, G6). */
export interface StreamStatusEvent {
  readonly event: 'StartStream' | 'StopStream' | 'DroppedStream' | 'DegradedStream';
  readonly callId: string;
  readonly streamId: string;
  /** Machine-readable cause, e.g. `call_hangup`, `agent_closed`, `connect_failed`, `playback_queue_60pct`. */
  readonly reason?: string;
  /** Wall-clock epoch milliseconds. */
  readonly timestampMs: number;
}

/** How a stream ended, so the XML engine can continue (keepCallAlive) or end the call. */
export interface StreamCloseInfo {
  readonly by: 'agent' | 'platform' | 'error';
  readonly code?: number;
  readonly reason?: string;
}

/** RFC 9562 UUID (versions 1–8, RFC variant) plus nil and max — what zod's `z.uuid()` accepts. */
export const UUID_PATTERN = /^(?:[0-9a-f]{8}-[0-9a-f]{4}-[1-8][0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}|00000000-0000-0000-0000-000000000000|ffffffff-ffff-ffff-ffff-ffffffffffff)$/i;
export function isUuid(s: unknown): s is string { return typeof s === 'string' && UUID_PATTERN.test(s); }

/** Digits the platform reports in `dtmf` events (RFC 4733 events 0–15). */
export const DTMF_DIGIT = /^[0-9*#A-D]$/;
/** Digits an agent may ask to be played with `sendDTMF`; lower-case a–d are accepted and upper-cased. */
export const SEND_DTMF_DIGITS = /^[0-9*#A-Da-d]{1,64}$/;

export type AgentMessage =
  | { kind: 'playAudio'; encoding: 'audio/x-mulaw' | 'audio/x-l16'; sampleRate: 8000 | 16000; payload: string; streamId?: string }
  | { kind: 'checkpoint'; name: string; streamId?: string }
  | { kind: 'clearAudio'; streamId?: string }
  | { kind: 'sendDTMF'; digits: string }
  | { kind: 'unknown'; event: string }
  | { kind: 'invalid'; problem: string };

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function optionalString(v: unknown): string | undefined { return typeof v === 'string' ? v : undefined; }

/**
 * Interprets one text frame from the agent. Never throws: anything it cannot use comes back as
 * `invalid` or `unknown` so the bridge can log it and carry on, as Plivo does.
 */
export function parseAgentMessage(text: string): AgentMessage {
  let msg: unknown;
  try { msg = JSON.parse(text); } catch { return { kind: 'invalid', problem: 'malformed JSON' }; }
  if (!isRecord(msg)) return { kind: 'invalid', problem: 'not a JSON object' };
  const event = msg['event'];
  if (typeof event !== 'string') return { kind: 'invalid', problem: 'missing "event"' };
  const streamId = optionalString(msg['streamId']);
  switch (event) {
    case 'playAudio': {
      const media = msg['media'];
      if (!isRecord(media)) return { kind: 'invalid', problem: 'playAudio without a "media" object' };
      const ct = media['contentType'];
      const payload = media['payload'];
      if (typeof ct !== 'string') return { kind: 'invalid', problem: 'playAudio media.contentType is not a string' };
      if (typeof payload !== 'string') return { kind: 'invalid', problem: 'playAudio media.payload is not a string' };
      // contentType is normally bare, but tolerate the `;rate=` form used by <Stream contentType>.
      const bare = ct.split(';')[0]?.trim().toLowerCase();
      const encoding = bare === 'audio/x-mulaw' ? 'audio/x-mulaw' : bare === 'audio/x-l16' ? 'audio/x-l16' : undefined;
      if (!encoding) return { kind: 'invalid', problem: `playAudio contentType ${JSON.stringify(ct.slice(0, 40))} is not audio/x-mulaw or audio/x-l16` };
      const rawRate = media['sampleRate'];
      const rate = typeof rawRate === 'number' ? rawRate : typeof rawRate === 'string' && /^\s*\d+\s*$/.test(rawRate) ? Number(rawRate) : NaN;
      if (rate !== 8000 && rate !== 16000) return { kind: 'invalid', problem: `playAudio sampleRate ${JSON.stringify(rawRate)} is not 8000 or 16000` };
      if (encoding === 'audio/x-mulaw' && rate !== 8000) return { kind: 'invalid', problem: 'playAudio audio/x-mulaw is only supported at 8000 Hz' };
      return streamId === undefined
        ? { kind: 'playAudio', encoding, sampleRate: rate, payload }
        : { kind: 'playAudio', encoding, sampleRate: rate, payload, streamId };
    }
    case 'checkpoint': {
      const name = msg['name'];
      if (typeof name !== 'string') return { kind: 'invalid', problem: 'checkpoint "name" is not a string' };
      return streamId === undefined ? { kind: 'checkpoint', name } : { kind: 'checkpoint', name, streamId };
    }
    case 'clearAudio':
      return streamId === undefined ? { kind: 'clearAudio' } : { kind: 'clearAudio', streamId };
    case 'sendDTMF': {
      const dtmf = msg['dtmf'];
      if (typeof dtmf !== 'string' || !SEND_DTMF_DIGITS.test(dtmf)) return { kind: 'invalid', problem: 'sendDTMF "dtmf" must be 1–64 of 0-9*#A-D' };
      return { kind: 'sendDTMF', digits: dtmf.toUpperCase() };
    }
    default:
      return { kind: 'unknown', event: event.slice(0, 64) };
  }
}
