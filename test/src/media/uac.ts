/**
 * A minimal SIP caller for the media tests, on real UDP sockets it owns: INVITE with an SDP
 * offer pointing at its own RTP socket, ACK, BYE either way, and an RTP endpoint that paces
 * μ-law frames and RFC 4733 presses at 20 ms and records every packet the media pod sends.
 * Owning the RTP socket is what lets a test compare the pod's audio byte for byte.
 */
import dgram from 'node:dgram';
import { randomBytes } from 'node:crypto';
import {
  createRequest, createResponse, getHeader, parseSipMessage, serializeMessage,
  type SipRequest, type SipResponse,
} from '@sipflow/media-pod/sip/message/index';
import { DTMF_EVENT_CODES, parseRtpPacket, rtpPacket, telephoneEventPayload, type ParsedRtp } from '../support/pcap.js';

export interface ReceivedRtp extends ParsedRtp {
  /** performance.now() at arrival. */
  at: number;
  from: { address: string; port: number };
}

export interface TimedResponse { at: number; response: SipResponse }

/** Where the pod asked us to send RTP (from its SDP answer). */
export interface RemoteMedia { address: string; port: number; payloadType: number; telephoneEventPt: number | undefined }

const MAX_RECORDED_RTP = 100_000;
const INVITE_CSEQ = 1;

export class TestUac {
  readonly callId = randomBytes(12).toString('hex');
  readonly fromTag = randomBytes(6).toString('hex');
  readonly responses: TimedResponse[] = [];
  readonly requests: Array<{ at: number; request: SipRequest }> = [];
  readonly rtpIn: ReceivedRtp[] = [];
  /** Every RTP packet we sent, with its send time. */
  readonly rtpOut: Array<{ at: number; payloadType: number; sequenceNumber: number }> = [];
  remoteMedia: RemoteMedia | undefined;
  toTag: string | undefined;

  private cseq = INVITE_CSEQ;
  private readonly listeners = new Set<() => void>();
  private target: { port: number; user: string } = { port: 0, user: '' };
  private inviteRequest: SipRequest | undefined;
  private inviteBranch = '';
  /** Delayed offer: the SDP answer our ACK carries. */
  private ackSdp: string | undefined;
  private timer: NodeJS.Timeout | undefined;
  private closed = false;

  // Outbound RTP state: one SSRC, continuous sequence numbers and timestamps.
  private readonly ssrc = randomBytes(4).readUInt32BE(0);
  private seq = randomBytes(2).readUInt16BE(0);
  private ts = randomBytes(4).readUInt32BE(0) & 0x7fffffff;
  private audioSource: (() => Uint8Array | null) | undefined;
  private readonly dtmfQueue: Array<{ code: number; frames: number }> = [];
  private dtmfState: { code: number; frames: number; sent: number; start: number } | undefined;
  private dtmfDone: Array<() => void> = [];
  private markNext = true;
  private tickStart = 0;
  private ticks = 0;

  private constructor(private readonly sip: dgram.Socket, private readonly rtp: dgram.Socket) {
    sip.on('message', (msg, rinfo) => this.onSip(msg, rinfo));
    rtp.on('message', (msg, rinfo) => {
      const p = parseRtpPacket(msg);
      if (!p || this.rtpIn.length >= MAX_RECORDED_RTP) return;
      this.rtpIn.push({ ...p, payload: Buffer.from(p.payload), at: performance.now(), from: { address: rinfo.address, port: rinfo.port } });
      this.notify();
    });
  }

  static async start(): Promise<TestUac> {
    const bind = (): Promise<dgram.Socket> => new Promise((resolve, reject) => {
      const s = dgram.createSocket('udp4');
      s.once('error', reject);
      s.bind(0, '127.0.0.1', () => { s.off('error', reject); resolve(s); });
    });
    return new TestUac(await bind(), await bind());
  }

  get sipPort(): number { return this.sip.address().port; }
  get rtpPort(): number { return this.rtp.address().port; }

  // ---- SIP ------------------------------------------------------------------------------------

  /** Sends the INVITE and resolves with the final response (ACKed already). */
  /**
   * Calls the pod. `delayedOffer` sends the INVITE without SDP, as some PBXs do: the pod's offer
   * comes in the 200 OK and our answer goes in the ACK (or, with 'no-answer-in-ack', does not).
   */
  async invite(podPort: number, user: string, opts: {
    telephoneEvent?: boolean; codec?: 'PCMU' | 'PCMA'; timeoutMs?: number; delayedOffer?: 'answer-in-ack' | 'no-answer-in-ack';
    /** Another media endpoint (an SRTP peer): its RTP port, m= proto and extra media-level lines. */
    media?: { port: number; proto: string; lines: readonly string[] };
  } = {}): Promise<SipResponse> {
    this.target = { port: podPort, user };
    const te = opts.telephoneEvent ?? true;
    const [pt, rtpmap] = opts.codec === 'PCMA' ? [8, 'a=rtpmap:8 PCMA/8000'] : [0, 'a=rtpmap:0 PCMU/8000'];
    const sdp = [
      'v=0', `o=uac ${Date.now() % 100000} 1 IN IP4 127.0.0.1`, 's=sipflow test caller', 'c=IN IP4 127.0.0.1', 't=0 0',
      `m=audio ${opts.media?.port ?? this.rtpPort} ${opts.media?.proto ?? 'RTP/AVP'} ${pt}${te ? ' 101' : ''}`, rtpmap,
      ...(te ? ['a=rtpmap:101 telephone-event/8000', 'a=fmtp:101 0-15'] : []), 'a=ptime:20', 'a=sendrecv',
      ...(opts.media?.lines ?? []), '',
    ].join('\r\n');
    this.ackSdp = opts.delayedOffer === 'answer-in-ack' ? sdp : undefined;
    this.inviteBranch = `z9hG4bK${randomBytes(8).toString('hex')}`;
    const req = createRequest({
      method: 'INVITE', uri: `sip:${user}@127.0.0.1:${podPort}`,
      headers: [
        ['Via', `SIP/2.0/UDP 127.0.0.1:${this.sipPort};branch=${this.inviteBranch};rport`],
        ['Max-Forwards', '70'],
        ['From', `"Test Caller" <sip:14155551234@127.0.0.1>;tag=${this.fromTag}`],
        ['To', `<sip:${user}@127.0.0.1>`],
        ['Call-ID', this.callId],
        ['CSeq', `${INVITE_CSEQ} INVITE`],
        ['Contact', `<sip:caller@127.0.0.1:${this.sipPort}>`],
        ['Allow', 'INVITE, ACK, BYE, CANCEL, OPTIONS'],
      ],
      ...(opts.delayedOffer ? {} : { body: sdp, contentType: 'application/sdp' }),
    });
    this.inviteRequest = req;
    const sent = this.responses.length;
    const bytes = serializeMessage(req);
    this.sip.send(bytes, podPort, '127.0.0.1');
    // Retransmit (RFC 3261 Timer A) until anything comes back; loopback rarely loses, but bounded anyway.
    let interval = 500;
    const retransmit = (): void => {
      if (this.responses.length > sent || this.closed) return;
      this.sip.send(bytes, podPort, '127.0.0.1');
      interval = Math.min(interval * 2, 4000);
      this.timer = setTimeout(retransmit, interval);
    };
    this.timer = setTimeout(retransmit, interval);
    try {
      const final = await this.waitUntil(() => this.responses.slice(sent).find((r) => r.response.status >= 200 && cseqMethod(r.response) === 'INVITE'), opts.timeoutMs ?? 15_000, 'final response to INVITE');
      return final.response;
    } finally {
      clearTimeout(this.timer);
    }
  }

  /** Responses to our INVITE with this status, in arrival order. */
  responsesWith(status: number): TimedResponse[] {
    return this.responses.filter((r) => r.response.status === status && cseqMethod(r.response) === 'INVITE');
  }

  /** Hangs up from our side; resolves with the response to the BYE. */
  async bye(timeoutMs = 5000): Promise<SipResponse> {
    this.stopSending();
    this.cseq++;
    const cseq = this.cseq;
    const req = this.inDialogRequest('BYE', cseq);
    const bytes = serializeMessage(req);
    this.sip.send(bytes, this.target.port, '127.0.0.1');
    const r = await this.waitUntil(() => this.responses.find((x) => cseqMethod(x.response) === 'BYE' && cseqNumber(x.response) === cseq), timeoutMs, 'response to BYE');
    return r.response;
  }

  /** Sends an in-dialog INFO (e.g. a key press as application/dtmf-relay); resolves with the response. */
  async info(contentType: string, body: string, timeoutMs = 5000): Promise<SipResponse> {
    this.cseq++;
    const cseq = this.cseq;
    const req = this.inDialogRequest('INFO', cseq);
    const withBody = { ...req, body: Buffer.from(body, 'utf8'), headers: [...req.headers, { name: 'Content-Type', value: contentType }] };
    this.sip.send(serializeMessage(withBody), this.target.port, '127.0.0.1');
    const r = await this.waitUntil(() => this.responses.find((x) => cseqMethod(x.response) === 'INFO' && cseqNumber(x.response) === cseq), timeoutMs, 'response to INFO');
    return r.response;
  }

  /** The BYE the pod sent us (already answered 200). */
  byeFromPod(timeoutMs = 10_000): Promise<{ at: number; request: SipRequest }> {
    return this.waitUntil(() => this.requests.find((r) => r.request.method === 'BYE'), timeoutMs, 'BYE from the media pod');
  }

  private inDialogRequest(method: string, cseq: number, sdp?: string): SipRequest {
    const contact = this.contactOfPod() ?? `sip:${this.target.user}@127.0.0.1:${this.target.port}`;
    return createRequest({
      ...(sdp ? { body: sdp, contentType: 'application/sdp' } : {}),
      method, uri: contact,
      headers: [
        ['Via', `SIP/2.0/UDP 127.0.0.1:${this.sipPort};branch=z9hG4bK${randomBytes(8).toString('hex')};rport`],
        ['Max-Forwards', '70'],
        ['From', `"Test Caller" <sip:14155551234@127.0.0.1>;tag=${this.fromTag}`],
        ['To', `<sip:${this.target.user}@127.0.0.1>${this.toTag ? `;tag=${this.toTag}` : ''}`],
        ['Call-ID', this.callId],
        ['CSeq', `${cseq} ${method}`],
      ],
    });
  }

  private contactOfPod(): string | undefined {
    const ok = this.responses.find((r) => r.response.status >= 200 && r.response.status < 300 && cseqMethod(r.response) === 'INVITE');
    const c = ok ? getHeader(ok.response, 'Contact') : undefined;
    const m = c ? /<([^>]+)>/.exec(c) : null;
    return m?.[1];
  }

  private onSip(msg: Buffer, rinfo: dgram.RemoteInfo): void {
    const parsed = parseSipMessage(msg);
    if (!parsed.ok) return;
    const m = parsed.message;
    const at = performance.now();
    if (m.kind === 'request') {
      this.requests.push({ at, request: m });
      if (m.method !== 'ACK') this.sip.send(serializeMessage(createResponse(m, 200, 'OK')), rinfo.port, rinfo.address);
      if (m.method === 'BYE') this.stopSending();
      this.notify();
      return;
    }
    this.responses.push({ at, response: m });
    if (cseqMethod(m) === 'INVITE') this.onInviteResponse(m, rinfo);
    this.notify();
  }

  private onInviteResponse(res: SipResponse, rinfo: dgram.RemoteInfo): void {
    const tag = /;\s*tag=([^;\s]+)/i.exec(getHeader(res, 'To') ?? '')?.[1];
    if (tag && res.status > 100) this.toTag = tag;
    if (res.body.length > 0 && /application\/sdp/i.test(getHeader(res, 'Content-Type') ?? '')) {
      this.remoteMedia = parseAnswer(res.body.toString('utf8'));
    }
    if (res.status < 200) return;
    // ACK every final response, retransmissions included (RFC 3261 §13.2.2.4 and §17.1.1.3).
    let ack: SipRequest;
    if (res.status < 300) {
      ack = this.inDialogRequest('ACK', INVITE_CSEQ, this.ackSdp);
      const contact = this.contactOfPod();
      if (contact) ack.uri = contact;
    } else {
      const inv = this.inviteRequest!;
      ack = createRequest({
        method: 'ACK', uri: inv.uri,
        headers: [
          ['Via', `SIP/2.0/UDP 127.0.0.1:${this.sipPort};branch=${this.inviteBranch};rport`],
          ['Max-Forwards', '70'],
          ['From', getHeader(inv, 'From') ?? ''], ['To', getHeader(res, 'To') ?? ''],
          ['Call-ID', this.callId], ['CSeq', `${INVITE_CSEQ} ACK`],
        ],
      });
    }
    this.sip.send(serializeMessage(ack), rinfo.port, rinfo.address);
  }

  // ---- RTP ------------------------------------------------------------------------------------

  /**
   * Starts the 20 ms sender. Each tick sends the next DTMF event packet if a press is under
   * way, otherwise the source's next frame (null: no packet this tick).
   */
  startSending(source: () => Uint8Array | null): void {
    this.audioSource = source;
    if (this.tickStart !== 0) return;
    this.tickStart = performance.now();
    this.ticks = 0;
    const loop = (): void => {
      if (this.closed || this.tickStart === 0) return;
      this.tick();
      this.ticks++;
      // Scheduled against the start time, so timer lateness does not accumulate as drift.
      const due = this.tickStart + this.ticks * 20;
      this.timer = setTimeout(loop, Math.max(0, due - performance.now()));
    };
    loop();
  }

  stopSending(): void {
    this.tickStart = 0;
    this.audioSource = undefined;
    clearTimeout(this.timer);
    for (const d of this.dtmfDone.splice(0)) d();
  }

  /** Queues RFC 4733 presses (each `toneMs` long); resolves when the last end packet went out. */
  sendDtmf(digits: string, toneMs = 100): Promise<void> {
    for (const d of digits) {
      const code = DTMF_EVENT_CODES[d];
      if (code === undefined) throw new Error(`not a DTMF digit: ${d}`);
      this.dtmfQueue.push({ code, frames: Math.max(2, Math.round(toneMs / 20)) });
    }
    return new Promise((resolve) => { this.dtmfDone.push(resolve); });
  }

  private tick(): void {
    const rm = this.remoteMedia;
    if (!rm) return;
    if (!this.dtmfState && this.dtmfQueue.length > 0) {
      const next = this.dtmfQueue.shift()!;
      this.dtmfState = { ...next, sent: 0, start: this.ts };
    }
    const d = this.dtmfState;
    if (d && rm.telephoneEventPt !== undefined) {
      d.sent++;
      const end = d.sent >= d.frames;
      const payload = telephoneEventPayload(d.code, end, 10, d.sent * 160);
      const copies = end ? 3 : 1;
      for (let i = 0; i < copies; i++) this.sendRtp(rm.telephoneEventPt, d.sent === 1, d.start, payload);
      this.ts = (this.ts + 160) >>> 0;
      if (end) {
        this.dtmfState = undefined;
        this.markNext = true;
        // A 40 ms pause after each press keeps presses apart, as a keypad would.
        this.ts = (this.ts + 320) >>> 0;
        if (this.dtmfQueue.length === 0) for (const done of this.dtmfDone.splice(0)) done();
      }
      return;
    }
    const frame = this.audioSource?.() ?? null;
    if (frame) {
      this.sendRtp(rm.payloadType, this.markNext, this.ts, frame);
      this.markNext = false;
    } else {
      this.markNext = true;
    }
    this.ts = (this.ts + 160) >>> 0;
  }

  private sendRtp(pt: number, marker: boolean, ts: number, payload: Uint8Array): void {
    const rm = this.remoteMedia;
    if (!rm) return;
    const pkt = rtpPacket({ payloadType: pt, sequenceNumber: this.seq, timestamp: ts, ssrc: this.ssrc, marker, payload });
    this.rtpOut.push({ at: performance.now(), payloadType: pt, sequenceNumber: this.seq });
    if (this.rtpOut.length > MAX_RECORDED_RTP) this.rtpOut.splice(0, 10_000);
    this.seq = (this.seq + 1) & 0xffff;
    this.rtp.send(pkt, rm.port, rm.address);
  }

  /**
   * Packets the pod sent in the call's audio payload type (the one its SDP answer named), digital
   * silence included, from index `from` of rtpIn on: the whole outbound stream.
   */
  mediaRtp(from = 0): ReceivedRtp[] {
    const pt = this.remoteMedia?.payloadType;
    return this.rtpIn.slice(from).filter((p) => p.payloadType === pt);
  }

  /** What the pod played: mediaRtp without the digital silence it sends while it has nothing to play. */
  audioRtp(from = 0): ReceivedRtp[] {
    return this.mediaRtp(from).filter((p) => !isDigitalSilence(p));
  }

  /**
   * The pod's stream from its first packet that is not digital silence to its last one: what it
   * played, with any silence inside kept (a prompt's pauses, or silence slipped in by mistake).
   */
  playedRtp(from = 0): ReceivedRtp[] {
    const media = this.mediaRtp(from);
    const first = media.findIndex((p) => !isDigitalSilence(p));
    if (first < 0) return [];
    let last = media.length - 1;
    while (isDigitalSilence(media[last]!)) last--;
    return media.slice(first, last + 1);
  }

  // ---- waiting --------------------------------------------------------------------------------

  /** Resolves with the first truthy value of `probe`, re-checked on every SIP or RTP arrival. */
  waitUntil<T>(probe: () => T | undefined | false, timeoutMs: number, what: string): Promise<T> {
    return new Promise((resolve, reject) => {
      const check = (): boolean => {
        const v = probe();
        if (v) { done(); resolve(v); return true; }
        return false;
      };
      const t = setTimeout(() => { done(); reject(new Error(`${what}: not seen within ${timeoutMs} ms (SIP responses: ${this.responses.map((r) => r.response.status).join(',') || 'none'}; RTP in: ${this.rtpIn.length})`)); }, timeoutMs);
      const done = (): void => { clearTimeout(t); this.listeners.delete(listener); };
      const listener = (): void => { check(); };
      if (check()) return;
      this.listeners.add(listener);
    });
  }

  /**
   * Waits until `ms` have passed with no RTP arriving but digital silence (the pod keeps sending
   * silence when it has nothing to play), bounded by `timeoutMs`.
   */
  async rtpQuietFor(ms: number, timeoutMs = 10_000): Promise<void> {
    const deadline = performance.now() + timeoutMs;
    for (;;) {
      let last = 0;
      for (let i = this.rtpIn.length - 1; i >= 0; i--) {
        if (!isDigitalSilence(this.rtpIn[i]!)) { last = this.rtpIn[i]!.at; break; }
      }
      const quiet = performance.now() - last;
      if (quiet >= ms) return;
      if (performance.now() > deadline) throw new Error(`RTP never went quiet for ${ms} ms`);
      await new Promise((r) => setTimeout(r, ms - quiet + 5));
    }
  }

  private notify(): void { for (const l of [...this.listeners]) l(); }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.stopSending();
    this.listeners.clear();
    this.sip.close();
    this.rtp.close();
  }
}

function cseqMethod(m: SipResponse): string { return (getHeader(m, 'CSeq') ?? '').trim().split(/\s+/)[1] ?? ''; }
function cseqNumber(m: SipResponse): number { return Number((getHeader(m, 'CSeq') ?? '').trim().split(/\s+/)[0]); }

function parseAnswer(sdp: string): RemoteMedia | undefined {
  const c = /^c=IN IP[46] (\S+)/m.exec(sdp)?.[1];
  const m = /^m=audio (\d+) RTP\/AVP ([\d ]+)/m.exec(sdp);
  if (!c || !m) return undefined;
  const pts = m[2]!.trim().split(/\s+/).map(Number);
  const tePt = /^a=rtpmap:(\d+) telephone-event\/8000/mi.exec(sdp)?.[1];
  return { address: c, port: Number(m[1]), payloadType: pts[0]!, telephoneEventPt: tePt === undefined ? undefined : Number(tePt) };
}

/** A G.711 packet whose every sample is the codec's encoding of 0. */
export function isDigitalSilence(p: ReceivedRtp): boolean {
  const fill = p.payloadType === 0 ? 0xff : p.payloadType === 8 ? 0xd5 : -1;
  return fill >= 0 && p.payload.length > 0 && p.payload.every((b) => b === fill);
}

/**
 * Where `pkts` stop being one continuous RTP stream, packet after packet: a sequence number that
 * is not the previous one + 1, or a timestamp that is not the previous one + `step`. Empty when
 * continuous. With `stalled` (the pod logged that its media clock stalled and skipped frames), a
 * timestamp that jumps by whole frames is that skip, not a break.
 */
export function streamBreaks(pkts: readonly ReceivedRtp[], opts: { step?: number; stalled?: boolean } = {}): string[] {
  const step = opts.step ?? 160;
  const out: string[] = [];
  for (let i = 1; i < pkts.length; i++) {
    const a = pkts[i - 1]!; const b = pkts[i]!;
    const dSeq = (b.sequenceNumber - a.sequenceNumber) & 0xffff;
    const dTs = (b.timestamp - a.timestamp) >>> 0;
    const skipped = opts.stalled === true && dTs > step && dTs % step === 0 && dTs < 8000 * 10;
    if (dSeq !== 1 || (dTs !== step && !skipped)) out.push(`packet ${i}: seq +${dSeq}, timestamp +${dTs}`);
  }
  return out;
}
