/**
 * A raw SIP peer for hostile-input tests: one UDP socket bound to any loopback address
 * (127.0.0.0/8, so many "sources" fit on one machine) that sends hand-built requests and
 * collects responses by Call-ID, plus the INVITE and digest builders those tests share.
 */
import dgram from 'node:dgram';
import { randomBytes } from 'node:crypto';
import { computeDigestResponse, type DigestAlgorithm } from '@sipflow/media-pod/auth/index';

export interface SipReply {
  status: number;
  reason: string;
  raw: string;
  /** First value of each header, by lowercase name. */
  headers: Map<string, string>;
  /** Every Proxy-Authenticate value. */
  challenges: string[];
}

/** Parses the start line and headers of a SIP response (enough for assertions). */
export function parseReply(text: string): SipReply | undefined {
  const m = /^SIP\/2\.0 (\d{3}) ?([^\r\n]*)\r?\n/.exec(text);
  if (!m) return undefined;
  const headers = new Map<string, string>();
  const challenges: string[] = [];
  const head = text.split(/\r?\n\r?\n/, 1)[0] ?? '';
  for (const line of head.split(/\r?\n/).slice(1)) {
    const c = line.indexOf(':');
    if (c <= 0) continue;
    const name = line.slice(0, c).trim().toLowerCase();
    const value = line.slice(c + 1).trim();
    if (!headers.has(name)) headers.set(name, value);
    if (name === 'proxy-authenticate') challenges.push(value);
  }
  return { status: Number(m[1]), reason: m[2] ?? '', raw: text, headers, challenges };
}

const MAX_INBOX = 10_000;

export class UdpSipPeer {
  private readonly inbox: Array<{ text: string; reply: SipReply | undefined }> = [];
  private readonly waiters = new Set<() => void>();
  private closed = false;

  private constructor(private readonly sock: dgram.Socket, readonly address: string) {
    sock.on('message', (msg) => {
      if (this.inbox.length >= MAX_INBOX) this.inbox.splice(0, MAX_INBOX / 10);
      const text = msg.toString('utf8');
      this.inbox.push({ text, reply: parseReply(text) });
      for (const w of [...this.waiters]) w();
    });
    sock.on('error', () => { /* a send error surfaces as a timeout in the waiting test */ });
  }

  /** Binds an ephemeral port on `address` (any 127.x.y.z works on Linux loopback). */
  static bind(address = '127.0.0.1'): Promise<UdpSipPeer> {
    return new Promise((resolve, reject) => {
      const s = dgram.createSocket('udp4');
      s.once('error', reject);
      s.bind(0, address, () => { s.off('error', reject); resolve(new UdpSipPeer(s, address)); });
    });
  }

  get port(): number { return this.sock.address().port; }

  send(data: string | Buffer, port: number, host = '127.0.0.1'): Promise<void> {
    const buf = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
    return new Promise((resolve, reject) => this.sock.send(buf, port, host, (err) => (err ? reject(err) : resolve())));
  }

  /** Replies received so far (parsed), optionally only those for one Call-ID. */
  replies(callId?: string): SipReply[] {
    return this.inbox.flatMap((m) => (m.reply && (callId === undefined || m.reply.headers.get('call-id') === callId) ? [m.reply] : []));
  }

  /** The first final (>= 200) reply for `callId`, or the first matching `pred`, waiting at most `timeoutMs`. */
  waitFor(callId: string, pred: (r: SipReply) => boolean = (r) => r.status >= 200, timeoutMs = 5000, skip = 0): Promise<SipReply> {
    return new Promise((resolve, reject) => {
      const check = (): boolean => {
        const hit = this.replies(callId).slice(skip).find(pred);
        if (!hit) return false;
        done(); resolve(hit); return true;
      };
      const t = setTimeout(() => { done(); reject(new Error(`${this.address}: no matching reply for ${callId} within ${timeoutMs} ms (got ${this.replies(callId).map((r) => r.status).join(',') || 'nothing'})`)); }, timeoutMs);
      const done = (): void => { clearTimeout(t); this.waiters.delete(waiter); };
      const waiter = (): void => { check(); };
      if (check()) return;
      this.waiters.add(waiter);
    });
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.waiters.clear();
    this.sock.close();
  }
}

export interface InviteParams {
  /** Request-URI user (the appId). */
  user: string;
  podPort: number;
  /** Where the peer says it is (Via/Contact). */
  localAddress: string;
  localPort: number;
  callId?: string;
  fromTag?: string;
  branch?: string;
  cseq?: number;
  /** A Proxy-Authorization value. */
  proxyAuthorization?: string;
  transport?: 'UDP' | 'TCP';
  /** RTP port named in the SDP offer (nothing needs to listen there for a rejected call). */
  rtpPort?: number;
}

export function requestUri(user: string, podPort: number): string { return `sip:${user}@127.0.0.1:${podPort}`; }

/** An INVITE with an SDP offer, CRLF line endings and a correct Content-Length. */
export function buildInvite(p: InviteParams): { text: string; callId: string; branch: string; fromTag: string } {
  const callId = p.callId ?? randomBytes(10).toString('hex');
  const branch = p.branch ?? `z9hG4bK${randomBytes(8).toString('hex')}`;
  const fromTag = p.fromTag ?? randomBytes(5).toString('hex');
  const sdp = [
    'v=0', `o=peer 1 1 IN IP4 ${p.localAddress}`, 's=-', `c=IN IP4 ${p.localAddress}`, 't=0 0',
    `m=audio ${p.rtpPort ?? 40000} RTP/AVP 0`, 'a=rtpmap:0 PCMU/8000', '',
  ].join('\r\n');
  const lines = [
    `INVITE ${requestUri(p.user, p.podPort)} SIP/2.0`,
    `Via: SIP/2.0/${p.transport ?? 'UDP'} ${p.localAddress}:${p.localPort};branch=${branch};rport`,
    'Max-Forwards: 70',
    `From: <sip:peer@${p.localAddress}>;tag=${fromTag}`,
    `To: <sip:${p.user}@127.0.0.1>`,
    `Call-ID: ${callId}`,
    `CSeq: ${p.cseq ?? 1} INVITE`,
    `Contact: <sip:peer@${p.localAddress}:${p.localPort}>`,
    ...(p.proxyAuthorization ? [`Proxy-Authorization: ${p.proxyAuthorization}`] : []),
    'Content-Type: application/sdp',
    `Content-Length: ${Buffer.byteLength(sdp)}`,
    '', sdp,
  ];
  return { text: lines.join('\r\n'), callId, branch, fromTag };
}

/** The ACK for a non-2xx final response (same branch as the INVITE, RFC 3261 §17.1.1.3). */
export function buildAckForFailure(p: { user: string; podPort: number; localAddress: string; localPort: number; callId: string; branch: string; fromTag: string; cseq?: number; toHeader: string; transport?: 'UDP' | 'TCP' }): string {
  return [
    `ACK ${requestUri(p.user, p.podPort)} SIP/2.0`,
    `Via: SIP/2.0/${p.transport ?? 'UDP'} ${p.localAddress}:${p.localPort};branch=${p.branch};rport`,
    'Max-Forwards: 70',
    `From: <sip:peer@${p.localAddress}>;tag=${p.fromTag}`,
    `To: ${p.toHeader}`,
    `Call-ID: ${p.callId}`,
    `CSeq: ${p.cseq ?? 1} ACK`,
    'Content-Length: 0', '', '',
  ].join('\r\n');
}

/** An OPTIONS ping; the pod answers 200 while it is healthy. */
export function buildOptions(p: { podPort: number; localAddress: string; localPort: number; callId: string; transport?: 'UDP' | 'TCP' }): string {
  return [
    `OPTIONS sip:ping@127.0.0.1:${p.podPort} SIP/2.0`,
    `Via: SIP/2.0/${p.transport ?? 'UDP'} ${p.localAddress}:${p.localPort};branch=z9hG4bK${randomBytes(6).toString('hex')};rport`,
    'Max-Forwards: 70', `From: <sip:probe@${p.localAddress}>;tag=${randomBytes(4).toString('hex')}`, `To: <sip:ping@127.0.0.1>`,
    `Call-ID: ${p.callId}`, 'CSeq: 1 OPTIONS', 'Content-Length: 0', '', '',
  ].join('\r\n');
}

/** The parameters of a `Digest ...` challenge value. */
export function challengeParams(value: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const m of value.replace(/^Digest\s+/i, '').matchAll(/([a-zA-Z-]+)=(?:"((?:[^"\\]|\\.)*)"|([^,\s]+))/g)) out[m[1]!.toLowerCase()] = m[2] ?? m[3] ?? '';
  return out;
}

/**
 * A Proxy-Authorization value answering `challenge` for `uri`, from an HA1 (so tests can use a
 * wrong password by passing the HA1 of that password).
 */
export function digestAuthorization(a: { challenge: string; username: string; ha1: string; uri: string; nc?: number; cnonce?: string; method?: string }): { header: string; response: string } {
  const c = challengeParams(a.challenge);
  const algorithm = (c.algorithm ?? 'MD5').toUpperCase() === 'SHA-256' ? 'SHA-256' : 'MD5' satisfies DigestAlgorithm;
  const nc = (a.nc ?? 1).toString(16).padStart(8, '0');
  const cnonce = a.cnonce ?? randomBytes(8).toString('hex');
  const nonce = c.nonce ?? '';
  const response = computeDigestResponse({ algorithm, ha1: a.ha1, nonce, nc, cnonce, qop: 'auth', method: a.method ?? 'INVITE', uri: a.uri });
  const header = `Digest username="${a.username}", realm="${c.realm ?? ''}", nonce="${nonce}", uri="${a.uri}", response="${response}", algorithm=${algorithm}, qop=auth, nc=${nc}, cnonce="${cnonce}"`;
  return { header, response };
}
