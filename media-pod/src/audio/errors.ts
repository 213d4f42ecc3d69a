/**
 * The one error type audio loading throws, so the <Play> verb can branch on why a file could
 * not be played (log, skip, or count it in a metric) without parsing messages.
 */

export type AudioFileErrorCause = 'unreachable' | 'http_status' | 'too_large' | 'unsupported_format' | 'corrupt';

export class AudioFileError extends Error {
  override readonly name = 'AudioFileError';
  override readonly cause: AudioFileErrorCause;
  /** Human-readable specifics (status code, byte counts, which header field was wrong). */
  readonly detail: string;
  /** The URL involved, when there is one (query strings are kept: Play URLs are not secrets by contract). */
  readonly url: string | undefined;
  /** HTTP status, for `http_status`. */
  readonly status: number | undefined;
  /** For `unreachable`: the deadline passed (as opposed to a refused or broken connection). */
  readonly timedOut: boolean;

  constructor(cause: AudioFileErrorCause, detail: string, extra: { url?: string; status?: number; timedOut?: boolean } = {}) {
    super(`${DESCRIPTION[cause]}${extra.url ? ` (${extra.url})` : ''}: ${detail}`);
    this.cause = cause;
    this.detail = detail;
    this.url = extra.url;
    this.status = extra.status;
    this.timedOut = extra.timedOut ?? false;
  }

  /** The same error, attributed to a URL (decoders do not know where the bytes came from). */
  withUrl(url: string): AudioFileError {
    return this.url ? this : new AudioFileError(this.cause, this.detail, { url, timedOut: this.timedOut, ...(this.status !== undefined ? { status: this.status } : {}) });
  }
}

const DESCRIPTION: Record<AudioFileErrorCause, string> = {
  unreachable: 'audio file could not be fetched',
  http_status: 'audio file server answered with an error status',
  too_large: 'audio file is too large',
  unsupported_format: 'audio file is not WAV or MP3',
  corrupt: 'audio file is corrupt',
};
