/**
 * Cuts a TCP byte stream into SIP messages by Content-Length (RFC 3261 §18.3), across partial
 * reads and pipelined messages, skipping CRLF keep-alives and refusing to buffer more than one
 * message's worth of bytes.
 */

export type FramingError = 'too_large' | 'bad_content_length';

export interface FrameResult {
  messages: Buffer[];
  /** RFC 5626 double-CRLF pings seen (each deserves a single CRLF pong). */
  pings: number;
  error?: FramingError;
  /** On bad_content_length: the header block, so the caller can still answer 400. */
  badFrame?: Buffer;
}

const CL_LINE = /^(?:content-length|l)[ \t]*:[ \t]*(.*?)[ \t]*$/gim;

export class TcpFramer {
  private buf: Buffer = Buffer.alloc(0);
  private crlfRun = 0;
  private failed = false;

  constructor(private readonly maxMessageBytes: number) {}

  /** Bytes of an incomplete message currently held. */
  get buffered(): number { return this.buf.length; }

  push(chunk: Buffer): FrameResult {
    const out: FrameResult = { messages: [], pings: 0 };
    if (this.failed) return out;
    this.buf = this.buf.length === 0 ? chunk : Buffer.concat([this.buf, chunk]);
    for (;;) {
      let skip = 0;
      while (skip < this.buf.length && (this.buf[skip] === 0x0d || this.buf[skip] === 0x0a)) {
        if (++this.crlfRun === 4) { out.pings++; this.crlfRun = 0; }
        skip++;
      }
      if (skip > 0) this.buf = this.buf.subarray(skip);
      if (this.buf.length === 0) { this.buf = Buffer.alloc(0); break; }
      this.crlfRun = 0;
      const crlf = this.buf.indexOf('\r\n\r\n');
      const lflf = this.buf.indexOf('\n\n');
      let headEnd: number; let bodyStart: number;
      if (crlf >= 0 && (lflf < 0 || crlf < lflf)) { headEnd = crlf; bodyStart = crlf + 4; }
      else if (lflf >= 0) { headEnd = lflf; bodyStart = lflf + 2; }
      else {
        if (this.buf.length > this.maxMessageBytes) return this.fail(out, 'too_large');
        break;
      }
      if (headEnd > this.maxMessageBytes) return this.fail(out, 'too_large');
      const head = this.buf.subarray(0, headEnd).toString('latin1');
      const values = [...head.matchAll(CL_LINE)].map((m) => m[1] ?? '');
      let cl = 0;
      if (values.length > 1 || (values.length === 1 && !/^[0-9]{1,10}$/.test(values[0]!))) {
        out.badFrame = Buffer.from(this.buf.subarray(0, bodyStart));
        return this.fail(out, 'bad_content_length');
      }
      if (values.length === 1) cl = Number(values[0]);
      const total = bodyStart + cl;
      if (total > this.maxMessageBytes) return this.fail(out, 'too_large');
      if (this.buf.length < total) break;
      out.messages.push(Buffer.from(this.buf.subarray(0, total)));
      this.buf = this.buf.subarray(total);
    }
    return out;
  }

  private fail(out: FrameResult, error: FramingError): FrameResult {
    this.failed = true;
    this.buf = Buffer.alloc(0);
    out.error = error;
    return out;
  }
}
