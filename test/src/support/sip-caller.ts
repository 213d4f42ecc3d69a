/**
 * A SIP caller for multi-pod tests, on UDP sockets it owns: it sends the INVITE to whichever
 * pod address the test (acting as the load balancer) picks, then sends ACK and BYE to the
 * Contact of the 2xx and RTP to the SDP `c=` address — never back to the balanced address — and
 * records where every SIP message and RTP packet came from, so a test can tell which pod owns
 * the call. Also an OPTIONS probe, the health check a SIP load balancer uses.
 */
import dgram from 'node:dgram';
import { randomBytes } from 'node:crypto';
import {
  createRequest, createResponse, getHeader, parseSipMessage, serializeMessage,
  type SipRequest, type SipResponse,
} from '@sipflow/media-pod/sip/message/index';
import { rtpPacket } from './pcap.js';

export interface SipTarget { host: string; port: number }

/** Thrown when no final response arrives (a dead pod); callers branch on it. */
export class NoSipResponseError extends Error {
  constructor(what: string, readonly target: SipTarget, timeoutMs: number) {
    super(`${what}: no response from ${target.host}:${target.port} within ${timeoutMs} ms`);
    this.name = 'NoSipResponseError';
  }
}

const MAX_RECORDED = 1000;
const ULAW_SILENCE = Buffer.alloc(160, 0xff);

function bindUdp(): Promise<dgram.Socket> {
  return new Promise((resolve, reject) => {
    const s = dgram.createSocket('udp4');
    s.once('error', reject);
    s.bind(0, '127.0.0.1', () => { s.off('error', reject); resolve(s); });
  });
}

function cseqOf(m: SipResponse | SipRequest): { n: number; method: string } {
  const [n, method] = (getHeader(m, 'CSeq') ?? '').trim().split(/\s+/);
  return { n: Number(n), method: method ?? '' };
}

/** host:port of a SIP URI inside a name-addr or bare. */
export function uriHostPort(value: string): SipTarget | undefined {
  const uri = /<([^>]+)>/.exec(value)?.[1] ?? value;
  const m = /^sips?:(?:[^@]*@)?(\[[^\]]+\]|[^:;>]+)(?::(\d+))?/i.exec(uri.trim());
  if (!m) return undefined;
  return { host: m[1]!.replace(/^\[|\]$/g, ''), port: m[2] ? Number(m[2]) : 5060 };
}

export class SipCall {
  readonly callId = randomBytes(12).toString('hex');
  private readonly fromTag = randomBytes(6).toString('hex');
  /** Every SIP message received, with its source address "host:port". */
  readonly received: Array<{ from: string; message: SipRequest | SipResponse }> = [];
  /** Source addresses of RTP packets received. */
  readonly rtpSources = new Set<string>();
  rtpPacketsIn = 0;
  rtpPacketsOut = 0;
  /** The 2xx Contact: where in-dialog requests go. */
  contact: SipTarget | undefined;
  /** The pod's SDP answer: c= address and m= port. */
  media: SipTarget | undefined;
  private toTag: string | undefined;
  private user = '';
  private target: SipTarget = { host: '', port: 0 };
  private inviteUri = '';
  private cseq = 1;
  private rtpTimer: NodeJS.Timeout | undefined;
  private readonly waiters = new Set<() => void>();
  private closed = false;

  private constructor(private readonly sip: dgram.Socket, private readonly rtp: dgram.Socket) {
    sip.on('message', (msg, rinfo) => this.onSip(msg, rinfo));
    rtp.on('message', (_msg, rinfo) => {
      this.rtpPacketsIn++;
      if (this.rtpSources.size < 16) this.rtpSources.add(`${rinfo.address}:${rinfo.port}`);
    });
  }

  static async start(): Promise<SipCall> { return new SipCall(await bindUdp(), await bindUdp()); }

  get sipPort(): number { return this.sip.address().port; }

  /** Sources of all SIP messages received for this call. */
  sipSources(): Set<string> { return new Set(this.received.map((r) => r.from)); }

  /**
   * The final response to the INVITE (already ACKed); a 2xx also starts 20 ms RTP to the pod.
   * `headers` are added to the INVITE (X-PH-* reach the answer and hangup URLs as parameters).
   */
  async invite(target: SipTarget, user: string, opts: { headers?: Array<[string, string]>; timeoutMs?: number } = {}): Promise<SipResponse> {
    this.target = target;
    this.user = user;
    this.inviteUri = `sip:${user}@${target.host}:${target.port}`;
    const rtpPort = this.rtp.address().port;
    const sdp = [
      'v=0', `o=caller ${Date.now() % 100000} 1 IN IP4 127.0.0.1`, 's=sipflow scale test', 'c=IN IP4 127.0.0.1', 't=0 0',
      `m=audio ${rtpPort} RTP/AVP 0 101`, 'a=rtpmap:0 PCMU/8000', 'a=rtpmap:101 telephone-event/8000', 'a=fmtp:101 0-15',
      'a=ptime:20', 'a=sendrecv', '',
    ].join('\r\n');
    const branch = `z9hG4bK${randomBytes(8).toString('hex')}`;
    const req = createRequest({
      method: 'INVITE', uri: this.inviteUri,
      headers: [
        ['Via', `SIP/2.0/UDP 127.0.0.1:${this.sipPort};branch=${branch};rport`],
        ['Max-Forwards', '70'],
        ['From', `<sip:14155551234@127.0.0.1>;tag=${this.fromTag}`],
        ['To', `<sip:${user}@${target.host}>`],
        ['Call-ID', this.callId],
        ['CSeq', '1 INVITE'],
        ['Contact', `<sip:caller@127.0.0.1:${this.sipPort}>`],
        ...(opts.headers ?? []),
      ],
      body: sdp, contentType: 'application/sdp',
    });
    return this.transact(req, target, opts.timeoutMs ?? 20_000, (m) => m.status >= 200 && cseqOf(m).method === 'INVITE', 'INVITE');
  }

  /** Hangs up from the caller side: BYE to the pod's Contact (retransmitted, bounded). */
  async bye(timeoutMs = 4000): Promise<SipResponse> {
    this.stopRtp();
    const to = this.contact ?? this.target;
    const n = ++this.cseq;
    const req = this.inDialog('BYE', n);
    return this.transact(req, to, timeoutMs, (m) => cseqOf(m).method === 'BYE' && cseqOf(m).n === n, 'BYE');
  }

  /** The BYE the pod sent (answered 200 already), with its source address. */
  waitForPodBye(timeoutMs: number): Promise<{ from: string; message: SipRequest }> {
    return this.waitFor(() => {
      const r = this.received.find((x) => x.message.kind === 'request' && x.message.method === 'BYE');
      return r ? { from: r.from, message: r.message as SipRequest } : undefined;
    }, timeoutMs, 'BYE from the pod');
  }

  /** The pod's BYE if one arrived. */
  podBye(): { from: string; message: SipRequest } | undefined {
    const r = this.received.find((x) => x.message.kind === 'request' && x.message.method === 'BYE');
    return r ? { from: r.from, message: r.message as SipRequest } : undefined;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.stopRtp();
    for (const w of [...this.waiters]) w();
    this.sip.close();
    this.rtp.close();
  }

  // ---- internals ------------------------------------------------------------------------------

  /** Sends with RFC 3261 Timer A/E style retransmission until `done` matches a response. */
  private async transact(req: SipRequest, to: SipTarget, timeoutMs: number, done: (m: SipResponse) => boolean, what: string): Promise<SipResponse> {
    const bytes = serializeMessage(req);
    const seen = this.received.length;
    let interval = 500;
    let timer: NodeJS.Timeout | undefined;
    const send = (): void => {
      if (this.closed || this.received.slice(seen).some((r) => r.message.kind === 'response')) return;
      this.sip.send(bytes, to.port, to.host);
      timer = setTimeout(send, interval);
      interval = Math.min(interval * 2, 4000);
    };
    send();
    try {
      const r = await this.waitFor(() => {
        const hit = this.received.slice(seen).find((x) => x.message.kind === 'response' && done(x.message));
        return hit?.message as SipResponse | undefined;
      }, timeoutMs, what).catch((e: unknown) => {
        throw e instanceof Error && /not seen/.test(e.message) ? new NoSipResponseError(what, to, timeoutMs) : e;
      });
      return r;
    } finally {
      clearTimeout(timer);
    }
  }

  private inDialog(method: string, cseq: number): SipRequest {
    const uri = this.contact ? `sip:${this.user}@${this.contact.host}:${this.contact.port}` : this.inviteUri;
    return createRequest({
      method, uri,
      headers: [
        ['Via', `SIP/2.0/UDP 127.0.0.1:${this.sipPort};branch=z9hG4bK${randomBytes(8).toString('hex')};rport`],
        ['Max-Forwards', '70'],
        ['From', `<sip:14155551234@127.0.0.1>;tag=${this.fromTag}`],
        ['To', `<sip:${this.user}@${this.target.host}>${this.toTag ? `;tag=${this.toTag}` : ''}`],
        ['Call-ID', this.callId],
        ['CSeq', `${cseq} ${method}`],
      ],
    });
  }

  private onSip(buf: Buffer, rinfo: dgram.RemoteInfo): void {
    const parsed = parseSipMessage(buf);
    if (!parsed.ok) return;
    const m = parsed.message;
    const from = `${rinfo.address}:${rinfo.port}`;
    if (this.received.length < MAX_RECORDED) this.received.push({ from, message: m });
    if (m.kind === 'request') {
      if (m.method !== 'ACK') this.sip.send(serializeMessage(createResponse(m, 200, 'OK')), rinfo.port, rinfo.address);
      if (m.method === 'BYE') this.stopRtp();
    } else if (cseqOf(m).method === 'INVITE' && m.status >= 200) {
      this.onFinalInviteResponse(m, rinfo);
    }
    for (const w of [...this.waiters]) w();
  }

  private onFinalInviteResponse(res: SipResponse, rinfo: dgram.RemoteInfo): void {
    const tag = /;\s*tag=([^;\s]+)/i.exec(getHeader(res, 'To') ?? '')?.[1];
    let ack: SipRequest;
    let dest: SipTarget;
    if (res.status < 300) {
      this.toTag = tag;
      const contact = getHeader(res, 'Contact');
      this.contact = contact ? uriHostPort(contact) : undefined;
      const body = res.body.toString('utf8');
      const c = /^c=IN IP4 (\S+)/m.exec(body)?.[1];
      const port = /^m=audio (\d+)/m.exec(body)?.[1];
      if (c && port) this.media = { host: c, port: Number(port) };
      ack = this.inDialog('ACK', 1);
      dest = this.contact ?? this.target;
      this.startRtp();
    } else {
      // ACK for a non-2xx is hop-by-hop, part of the INVITE transaction (same branch as the INVITE).
      const inviteVia = `SIP/2.0/UDP 127.0.0.1:${this.sipPort};branch=${/branch=([^;\s]+)/.exec(getHeader(res, 'Via') ?? '')?.[1] ?? ''};rport`;
      ack = createRequest({
        method: 'ACK', uri: this.inviteUri,
        headers: [
          ['Via', inviteVia], ['Max-Forwards', '70'],
          ['From', `<sip:14155551234@127.0.0.1>;tag=${this.fromTag}`], ['To', getHeader(res, 'To') ?? ''],
          ['Call-ID', this.callId], ['CSeq', '1 ACK'],
        ],
      });
      dest = { host: rinfo.address, port: rinfo.port };
    }
    this.sip.send(serializeMessage(ack), dest.port, dest.host);
  }

  /** μ-law silence every 20 ms to the SDP address, which keeps the pod's media timeout away. */
  private startRtp(): void {
    if (this.rtpTimer || !this.media || this.closed) return;
    const ssrc = randomBytes(4).readUInt32BE(0);
    let seq = randomBytes(2).readUInt16BE(0);
    let ts = randomBytes(4).readUInt32BE(0);
    const media = this.media;
    this.rtpTimer = setInterval(() => {
      const pkt = rtpPacket({ payloadType: 0, sequenceNumber: seq, timestamp: ts, ssrc, payload: ULAW_SILENCE });
      seq = (seq + 1) & 0xffff;
      ts = (ts + 160) >>> 0;
      this.rtpPacketsOut++;
      this.rtp.send(pkt, media.port, media.host);
    }, 20);
  }

  private stopRtp(): void {
    clearInterval(this.rtpTimer);
    this.rtpTimer = undefined;
  }

  private waitFor<T>(probe: () => T | undefined, timeoutMs: number, what: string): Promise<T> {
    return new Promise((resolve, reject) => {
      const first = probe();
      if (first !== undefined) { resolve(first); return; }
      const t = setTimeout(() => { this.waiters.delete(check); reject(new Error(`${what}: not seen within ${timeoutMs} ms (call ${this.callId})`)); }, timeoutMs);
      const check = (): void => {
        if (this.closed) { clearTimeout(t); this.waiters.delete(check); reject(new Error(`${what}: caller closed`)); return; }
        const v = probe();
        if (v !== undefined) { clearTimeout(t); this.waiters.delete(check); resolve(v); }
      };
      this.waiters.add(check);
    });
  }
}

/** One OPTIONS request (retransmitted, bounded); the status, or undefined when nothing answered. */
export async function sipOptions(target: SipTarget, timeoutMs = 2000): Promise<SipResponse | undefined> {
  const s = await bindUdp();
  try {
    const branch = `z9hG4bK${randomBytes(8).toString('hex')}`;
    const req = createRequest({
      method: 'OPTIONS', uri: `sip:${target.host}:${target.port}`,
      headers: [
        ['Via', `SIP/2.0/UDP 127.0.0.1:${s.address().port};branch=${branch};rport`],
        ['Max-Forwards', '70'],
        ['From', `<sip:probe@127.0.0.1>;tag=${randomBytes(4).toString('hex')}`],
        ['To', `<sip:${target.host}:${target.port}>`],
        ['Call-ID', randomBytes(10).toString('hex')],
        ['CSeq', '1 OPTIONS'],
      ],
    });
    const bytes = serializeMessage(req);
    return await new Promise<SipResponse | undefined>((resolve) => {
      let interval = 250;
      let retransmit: NodeJS.Timeout | undefined;
      const send = (): void => { s.send(bytes, target.port, target.host); retransmit = setTimeout(send, interval); interval *= 2; };
      const finish = (r: SipResponse | undefined): void => { clearTimeout(retransmit); clearTimeout(deadline); resolve(r); };
      const deadline = setTimeout(() => finish(undefined), timeoutMs);
      s.on('message', (buf) => {
        const p = parseSipMessage(buf);
        if (p.ok && p.message.kind === 'response' && p.message.status >= 200) finish(p.message);
      });
      send();
    });
  } finally {
    s.close();
  }
}
