/**
 * A dependency-free mirror of the checks plivo-stream-sdk-node applies (with zod) to every
 * message the platform sends, so tests can prove our wire output is accepted by that SDK.
 * A few stricter checks of our own (integers, digit strings) are marked as such.
 */

import { UUID_PATTERN } from './protocol.js';

type Json = Record<string, unknown>;

function isObj(v: unknown): v is Json { return typeof v === 'object' && v !== null && !Array.isArray(v); }

class ShapeChecker {
  readonly problems: string[] = [];
  obj(v: unknown, path: string): Json | undefined {
    if (isObj(v)) return v;
    this.problems.push(`${path}: expected object`);
    return undefined;
  }
  str(o: Json, key: string, path: string): string | undefined {
    const v = o[key];
    if (typeof v === 'string') return v;
    this.problems.push(`${path}.${key}: expected string, got ${v === undefined ? 'nothing' : typeof v}`);
    return undefined;
  }
  num(o: Json, key: string, path: string): number | undefined {
    const v = o[key];
    if (typeof v === 'number' && Number.isFinite(v)) return v;
    this.problems.push(`${path}.${key}: expected JSON number, got ${v === undefined ? 'nothing' : typeof v}`);
    return undefined;
  }
  uuid(o: Json, key: string, path: string): void {
    const v = this.str(o, key, path);
    if (v !== undefined && !UUID_PATTERN.test(v)) this.problems.push(`${path}.${key}: not a UUID: ${v}`);
  }
  literal(o: Json, key: string, want: string, path: string): void {
    if (o[key] !== want) this.problems.push(`${path}.${key}: expected ${JSON.stringify(want)}`);
  }
  /** Ours, not the SDK's: counters are positive integers. */
  counter(o: Json, key: string, path: string): void {
    const v = this.num(o, key, path);
    if (v !== undefined && (!Number.isInteger(v) || v < 1)) this.problems.push(`${path}.${key}: expected positive integer, got ${v}`);
  }
  /** Ours: timestamps are epoch milliseconds written as a decimal string. */
  msString(o: Json, key: string, path: string): void {
    const v = this.str(o, key, path);
    if (v !== undefined && !/^\d{1,16}$/.test(v)) this.problems.push(`${path}.${key}: expected decimal milliseconds string, got ${v}`);
  }
}

/**
 * Problems the Node stream SDK (or our stricter reading of the reference) would have with a
 * platform→agent message; an empty list means it passes. `stop` is not in the Node SDK (it
 * reports it as an unknown event without disconnecting), so it is checked against the Java shape.
 */
export function platformMessageProblems(message: unknown): string[] {
  const c = new ShapeChecker();
  const m = c.obj(message, '$');
  if (!m) return c.problems;
  const event = m['event'];
  switch (event) {
    case 'start': {
      c.counter(m, 'sequenceNumber', '$');
      c.str(m, 'extra_headers', '$');
      const s = c.obj(m['start'], '$.start');
      if (!s) break;
      c.uuid(s, 'callId', '$.start');
      c.uuid(s, 'streamId', '$.start');
      c.str(s, 'accountId', '$.start');
      const tracks = s['tracks'];
      if (!Array.isArray(tracks) || !tracks.every((t) => typeof t === 'string')) c.problems.push('$.start.tracks: expected array of strings');
      const f = c.obj(s['mediaFormat'], '$.start.mediaFormat');
      if (f) { c.str(f, 'encoding', '$.start.mediaFormat'); c.num(f, 'sampleRate', '$.start.mediaFormat'); }
      break;
    }
    case 'media': {
      c.counter(m, 'sequenceNumber', '$');
      c.uuid(m, 'streamId', '$');
      c.str(m, 'extra_headers', '$');
      const md = c.obj(m['media'], '$.media');
      if (!md) break;
      c.str(md, 'track', '$.media');
      c.msString(md, 'timestamp', '$.media');
      c.counter(md, 'chunk', '$.media');
      const p = c.str(md, 'payload', '$.media');
      if (p !== undefined && !/^[A-Za-z0-9+/]*={0,2}$/.test(p)) c.problems.push('$.media.payload: not base64');
      break;
    }
    case 'dtmf': {
      c.counter(m, 'sequenceNumber', '$');
      c.uuid(m, 'streamId', '$');
      c.str(m, 'extra_headers', '$');
      const d = c.obj(m['dtmf'], '$.dtmf');
      if (!d) break;
      c.str(d, 'track', '$.dtmf');
      c.str(d, 'digit', '$.dtmf');
      c.msString(d, 'timestamp', '$.dtmf');
      break;
    }
    case 'playedStream':
      c.counter(m, 'sequenceNumber', '$');
      c.uuid(m, 'streamId', '$');
      c.str(m, 'name', '$');
      break;
    case 'clearedAudio':
      c.counter(m, 'sequenceNumber', '$');
      c.uuid(m, 'streamId', '$');
      break;
    case 'stop':
      c.counter(m, 'sequenceNumber', '$');
      c.uuid(m, 'streamId', '$');
      c.str(m, 'reason', '$');
      break;
    default:
      c.problems.push(`$.event: not a platform event: ${JSON.stringify(event)}`);
  }
  return c.problems;
}
