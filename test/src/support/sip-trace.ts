/**
 * Reads what a SIP peer saw: sipp's -trace_msg log split into messages (direction, time, status,
 * reason, headers), and Prometheus text from the pod's /metrics summed by label, so SIP tests
 * can assert the status AND the explanation a caller would get.
 */

export interface TracedMessage {
  direction: 'sent' | 'received';
  transport: string;
  /** Milliseconds, from sipp's wall-clock stamp (only differences are meaningful). */
  at: number;
  startLine: string;
  /** Responses only. */
  status?: number;
  /** Responses only: the reason phrase. */
  reason?: string;
  /** Requests only. */
  method?: string;
  /** Method named in CSeq (tells a CANCEL's 200 from the INVITE's). */
  cseqMethod: string;
  headers: Array<[string, string]>;
  body: string;
  raw: string;
}

const BLOCK_HEAD = /^-{47}[ \t]*(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(?:\.\d+)?)?[ \t]*$/m;

/** Parses sipp's -trace_msg file; "Unexpected message" echoes are skipped (they repeat a message). */
export function parseSippTrace(log: string): TracedMessage[] {
  const out: TracedMessage[] = [];
  const parts = log.split(new RegExp(BLOCK_HEAD.source, 'm'));
  // split() with one capture group yields [pre, stamp1, block1, stamp2, block2, ...].
  for (let i = 1; i + 1 < parts.length; i += 2) {
    const stamp = parts[i];
    const block = parts[i + 1] ?? '';
    const m = /^\s*(UDP|TCP|TLS|SCTP) message (sent|received)[^\n]*\n\n([\s\S]*)$/.exec(block);
    if (!stamp || !m) continue;
    const raw = m[3]!.replace(/\s+$/, '') + '\n';
    const [head, body = ''] = raw.split(/\r?\n\r?\n/, 2);
    const lines = (head ?? '').split(/\r?\n/);
    const startLine = lines.shift() ?? '';
    const headers: Array<[string, string]> = [];
    for (const l of lines) {
      const c = l.indexOf(':');
      if (c > 0) headers.push([l.slice(0, c).trim(), l.slice(c + 1).trim()]);
    }
    const cseq = headers.find(([n]) => n.toLowerCase() === 'cseq')?.[1] ?? '';
    const msg: TracedMessage = {
      direction: m[2] as 'sent' | 'received', transport: m[1]!, at: new Date(stamp.replace(' ', 'T')).getTime(),
      startLine, cseqMethod: cseq.split(/\s+/)[1] ?? '', headers, body, raw,
    };
    const st = /^SIP\/2\.0 (\d{3}) ?(.*)$/.exec(startLine);
    if (st) { msg.status = Number(st[1]); msg.reason = st[2] ?? ''; } else msg.method = startLine.split(' ')[0] ?? '';
    out.push(msg);
  }
  return out;
}

/** First value of a header (case-insensitive name). */
export function header(m: TracedMessage, name: string): string | undefined {
  return m.headers.find(([n]) => n.toLowerCase() === name.toLowerCase())?.[1];
}

/** Every value of a header. */
export function headers(m: TracedMessage, name: string): string[] {
  return m.headers.filter(([n]) => n.toLowerCase() === name.toLowerCase()).map(([, v]) => v);
}

/** Responses the peer received, optionally only one status / one CSeq method. */
export function responses(trace: TracedMessage[], status?: number, cseqMethod?: string): TracedMessage[] {
  return trace.filter((m) => m.direction === 'received' && m.status !== undefined
    && (status === undefined || m.status === status) && (cseqMethod === undefined || m.cseqMethod === cseqMethod));
}

/** Final (>= 200) responses to INVITEs the peer received, in order. */
export function inviteFinals(trace: TracedMessage[]): TracedMessage[] {
  return responses(trace, undefined, 'INVITE').filter((m) => (m.status ?? 0) >= 200);
}

/** Sum of a Prometheus sample over every series whose labels include `labels`. */
export function metricValue(text: string, name: string, labels: Record<string, string> = {}): number {
  let sum = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(name)) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)/.exec(line);
    if (!m || m[1] !== name) continue;
    const have = new Map<string, string>();
    for (const lm of (m[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) have.set(lm[1]!, lm[2]!);
    if (Object.entries(labels).every(([k, v]) => have.get(k) === v)) sum += Number(m[3]);
  }
  return sum;
}
