#!/usr/bin/env node
// The media benchmark's callers: N calls, each with its own RTP socket sending one stamped
// 20 ms PCMU frame every 20 ms (phases spread over the 20 ms) and counting the echoed frames
// that come back. Calls are set up with a minimal SIP UAC over UDP (INVITE, 100/180/200, ACK;
// BYE at the end) against the media pod, or, for the baseline relay, RTP goes straight to the
// ports the relay opened. Controlled over IPC by media.mjs:
//   init {mode:'sip', sipHost, sipPort, user, srtp?} | {mode:'raw'}   (srtp: offer RTP/SAVP, SDES keys)
//   add {count, cps} | add {targets:[port...]}   -> { established, failed }
//   window {win}  (0 ends the window)             -> { sent }
//   peek {win}                                   -> { sent, echoed }
//   stats {win}                                  -> { echoed, rttMs }
//   hangup                                       -> { byes, ok }
//
// `--impl c` (media.mjs's default) leaves the RTP to the C callers of loadgen/loadgen.c (one UDP
// socket per call, the same pacing, stamp and counting); this process then only does SIP and
// relays the window commands. SRTP needs `--impl node`.
import dgram from 'node:dgram';
import { randomBytes } from 'node:crypto';
import { parseSipMessage, getHeader } from '../media-pod/dist/sip/message/index.js';
import { formatCryptoAttribute, generateKeyParams, parseCryptoAttribute, SrtpSession } from '../media-pod/dist/media/srtp/index.js';
import { serveRequests, percentile, sleep } from './lib/common.mjs';
import { NativeLoad, implFromArgs } from './lib/native-load.mjs';
import { FRAME_BYTES, makeFrame, monoUs, readStamp, writeStamp } from './lib/stamp.mjs';

const RTP_HEADER = 12;
const TICK_MS = 20;
const PHASES = 20;
const calls = [];
const phases = Array.from({ length: PHASES }, () => []);
let mode = 'sip';
let srtp = false;
const SRTP_SUITE = 'AES_CM_128_HMAC_SHA1_80';
let sip; // { sock, host, port, user, localPort, pending: Map<callId, tx> }
let window = 0;
const sentBy = new Map();
const echoedBy = new Map();
const rttBy = new Map();
const stamp = { call: 0, seq: 0, window: 0, sendUs: 0 };
const impl = implFromArgs();
/** The C callers, when `--impl c`. */
let native;

class Call {
  constructor(index, sock) {
    this.index = index;
    this.sock = sock;
    this.port = sock.address().port;
    this.tx = undefined; // SrtpSession for what we send, when the call is SRTP
    this.rx = undefined;
    this.seq = 0;
    this.rtpSeq = randomBytes(2).readUInt16BE(0);
    this.ts = randomBytes(4).readUInt32BE(0);
    this.ssrc = randomBytes(4).readUInt32BE(0);
    this.bufs = [Buffer.alloc(RTP_HEADER + FRAME_BYTES), Buffer.alloc(RTP_HEADER + FRAME_BYTES)];
    for (const b of this.bufs) { makeFrame().copy(b, RTP_HEADER); b[0] = 0x80; b[1] = 0; b.writeUInt32BE(this.ssrc, 8); }
    this.which = 0;
    this.targetPort = 0;
    this.targetHost = '127.0.0.1';
    this.sending = false;
    sock.on('message', (msg) => this.onRtp(msg));
  }

  sendFrame() {
    if (!this.sending) return;
    this.which ^= 1;
    const b = this.bufs[this.which];
    b.writeUInt16BE(this.rtpSeq, 2);
    b.writeUInt32BE(this.ts, 4);
    this.rtpSeq = (this.rtpSeq + 1) & 0xffff;
    this.ts = (this.ts + 160) >>> 0;
    const w = window;
    writeStamp(b, RTP_HEADER, this.index, this.seq++, w, monoUs());
    if (w > 0) sentBy.set(w, (sentBy.get(w) ?? 0) + 1);
    this.sock.send(this.tx ? this.tx.protectRtp(b) : b, this.targetPort, this.targetHost);
  }

  onRtp(wire) {
    const msg = this.rx ? this.rx.unprotectRtp(wire) : wire;
    if (!msg) return;
    if (msg.length < RTP_HEADER + 34) return;
    const cc = msg[0] & 0x0f;
    const ext = (msg[0] & 0x10) !== 0;
    let off = RTP_HEADER + 4 * cc;
    if (ext && msg.length >= off + 4) off += 4 + 4 * msg.readUInt16BE(off + 2);
    if (!readStamp(msg, off, stamp) || stamp.window === 0) return;
    echoedBy.set(stamp.window, (echoedBy.get(stamp.window) ?? 0) + 1);
    let r = rttBy.get(stamp.window);
    if (!r) { r = []; rttBy.set(stamp.window, r); }
    r.push(monoUs() - stamp.sendUs);
  }

  close() {
    this.sending = false;
    try { this.sock.close(); } catch { /* already closed */ }
  }
}

// One frame per call per 20 ms: every millisecond, the calls of one phase bucket send.
let tickNo = 0;
let nextTickAt = 0;
/** Milliseconds of sending skipped because this process was stalled (reported, should stay ~0). */
let skippedMs = 0;
function pacer() {
  const now = performance.now();
  if (nextTickAt === 0) nextTickAt = now;
  // Catch up on a few missed milliseconds; after a longer stall, skip ahead instead, so no call
  // ever sends faster than real time (frames not sent are not counted, so they are not "lost").
  let budget = PHASES;
  while (nextTickAt <= now && budget-- > 0) {
    for (const c of phases[tickNo % PHASES]) c.sendFrame();
    tickNo++;
    nextTickAt += TICK_MS / PHASES;
  }
  if (nextTickAt <= now) { skippedMs += now - nextTickAt; nextTickAt = now + TICK_MS / PHASES; }
  setTimeout(pacer, Math.max(0, nextTickAt - performance.now()));
}

function bindRtpSocket() {
  return new Promise((resolve, reject) => {
    const s = dgram.createSocket('udp4');
    s.once('error', reject);
    s.bind(0, '127.0.0.1', () => { s.off('error', reject); resolve(s); });
  });
}

function addCall(sock) {
  const c = new Call(calls.length, sock);
  calls.push(c);
  phases[c.index % PHASES].push(c);
  return c;
}

/** A new call with its RTP socket bound (here, or in the C callers). */
async function newCall() {
  if (!native) return addCall(await bindRtpSocket());
  const { id, port } = await native.request('open');
  const c = { index: id, port, native: true, established: false };
  calls.push(c);
  return c;
}

/** Starts the call's RTP towards host:port. */
async function startSending(c, host, port) {
  if (c.native) await native.request(`start ${c.index} ${host} ${port}`);
  else { c.targetPort = port; c.targetHost = host; c.sending = true; }
  c.established = true;
}

// ---- minimal SIP UAC --------------------------------------------------------------------------

function branch() { return `z9hG4bK${randomBytes(8).toString('hex')}`; }

function sdpOffer(port, key) {
  return ['v=0', 'o=bench 1 1 IN IP4 127.0.0.1', 's=bench', 'c=IN IP4 127.0.0.1', 't=0 0',
    `m=audio ${port} ${key ? 'RTP/SAVP' : 'RTP/AVP'} 0 101`, 'a=rtpmap:0 PCMU/8000', 'a=rtpmap:101 telephone-event/8000', 'a=fmtp:101 0-16',
    'a=ptime:20', 'a=sendrecv', ...(key ? [`a=crypto:${formatCryptoAttribute(1, key)}`] : []), ''].join('\r\n');
}

function request(method, c, cseq, extra = [], body = '') {
  const lines = [
    `${method} ${c.requestUri} SIP/2.0`,
    `Via: SIP/2.0/UDP 127.0.0.1:${sip.localPort};branch=${c.branch};rport`,
    'Max-Forwards: 70',
    `From: <sip:bench@127.0.0.1>;tag=${c.fromTag}`,
    `To: <sip:${sip.user}@${sip.host}>${c.toTag ? `;tag=${c.toTag}` : ''}`,
    `Call-ID: ${c.callId}`,
    `CSeq: ${cseq} ${method}`,
    `Contact: <sip:bench@127.0.0.1:${sip.localPort}>`,
    ...extra,
    ...(body ? ['Content-Type: application/sdp'] : []),
    `Content-Length: ${Buffer.byteLength(body)}`,
    '', body,
  ];
  return lines.join('\r\n');
}

/** Sends `text` and retransmits it (UDP, timer A style) until `done` resolves or it gives up. */
function transact(key, text, timeoutMs = 8000) {
  return new Promise((resolve) => {
    let interval = 500;
    let timer;
    const finish = (res) => { clearTimeout(timer); clearTimeout(giveUp); sip.pending.delete(key); resolve(res); };
    const send = () => { sip.sock.send(text, sip.port, sip.host); timer = setTimeout(send, interval); interval = Math.min(interval * 2, 4000); };
    const giveUp = setTimeout(() => finish(null), timeoutMs);
    sip.pending.set(key, { finish });
    send();
  });
}

function onSipMessage(buf) {
  const parsed = parseSipMessage(buf);
  if (!parsed.ok || parsed.message.kind !== 'response') return;
  const res = parsed.message;
  const callId = getHeader(res, 'Call-ID') ?? '';
  const cseq = getHeader(res, 'CSeq') ?? '';
  const method = cseq.split(/\s+/)[1] ?? '';
  const key = `${callId} ${method}`;
  const status = res.status;
  if (status < 200) return;
  const tx = sip.pending.get(key);
  if (method === 'INVITE' && status >= 200 && status < 300) {
    const c = sip.byCallId.get(callId);
    if (c) {
      const to = getHeader(res, 'To') ?? '';
      c.toTag = /;\s*tag=([^;\s>]+)/i.exec(to)?.[1] ?? '';
      const contact = /<([^>]+)>/.exec(getHeader(res, 'Contact') ?? '')?.[1];
      if (contact) c.requestUri = contact;
      c.branch = branch();
      sip.sock.send(request('ACK', c, 1), sip.port, sip.host); // also answers 200 retransmissions
    }
  }
  tx?.finish({ status, body: res.body.toString('utf8') });
}

async function setupSipCall() {
  const c = await newCall();
  c.callId = `${randomBytes(12).toString('hex')}@bench`;
  c.fromTag = randomBytes(6).toString('hex');
  c.toTag = '';
  c.branch = branch();
  c.requestUri = `sip:${sip.user}@${sip.host}:${sip.port}`;
  sip.byCallId.set(c.callId, c);
  const key = srtp ? generateKeyParams(SRTP_SUITE) : undefined;
  const res = await transact(`${c.callId} INVITE`, request('INVITE', c, 1, [], sdpOffer(c.port, key)), 15000);
  if (!res || res.status >= 300) { c.failed = res ? `status ${res.status}` : 'timeout'; return false; }
  if (key) {
    const line = /^a=crypto:(.*)$/m.exec(res.body)?.[1]?.trim();
    const answer = line ? parseCryptoAttribute(line) : undefined;
    if (!answer || 'error' in answer || !answer.params) { c.failed = 'no SRTP answer'; return false; }
    c.tx = new SrtpSession(key);
    c.rx = new SrtpSession(answer.params);
  }
  const port = Number(/^m=audio (\d+)/m.exec(res.body)?.[1] ?? 0);
  const host = /^c=IN IP4 (\S+)/m.exec(res.body)?.[1] ?? '127.0.0.1';
  if (!port) { c.failed = 'no SDP answer'; return false; }
  await startSending(c, host, port);
  return true;
}

serveRequests({
  async init(m) {
    mode = m.mode;
    srtp = m.srtp === true;
    if (srtp && impl === 'c') throw new Error('SRTP needs the Node callers (--impl node)');
    if (impl === 'c') {
      native = new NativeLoad('callers');
      await native.ready;
    }
    if (mode === 'sip') {
      const sock = dgram.createSocket('udp4');
      await new Promise((resolve) => sock.bind(0, '127.0.0.1', resolve));
      sip = { sock, host: m.sipHost, port: m.sipPort, user: m.user, localPort: sock.address().port, pending: new Map(), byCallId: new Map() };
      sock.on('message', onSipMessage);
    }
    if (!native) pacer();
    return {};
  },
  async add(m) {
    let established = 0; let failed = 0;
    if (mode === 'raw') {
      for (const port of m.targets) {
        await startSending(await newCall(), '127.0.0.1', port);
        established++;
      }
      return { established, failed, total: calls.filter((c) => c.established).length };
    }
    const gap = 1000 / m.cps;
    const started = performance.now();
    const setups = [];
    for (let i = 0; i < m.count; i++) {
      const due = started + i * gap;
      const wait = due - performance.now();
      if (wait > 0) await sleep(wait);
      setups.push(setupSipCall().then((ok) => { if (ok) established++; else failed++; }));
    }
    await Promise.all(setups);
    const reasons = {};
    for (const c of calls) if (c.failed) reasons[c.failed] = (reasons[c.failed] ?? 0) + 1;
    return { established, failed, failures: reasons, total: calls.filter((c) => c.established).length };
  },
  window({ win: id }) {
    if (native) return native.request(`window ${id}`);
    const prev = window;
    window = id;
    return { sent: prev > 0 ? sentBy.get(prev) ?? 0 : 0 };
  },
  peek({ win: id }) {
    if (native) return native.request(`peek ${id}`);
    return { sent: sentBy.get(id) ?? 0, echoed: echoedBy.get(id) ?? 0 };
  },
  stats({ win: id }) {
    if (native) return native.request(`stats ${id}`);
    const rtt = rttBy.get(id) ?? [];
    const out = { sent: sentBy.get(id) ?? 0, echoed: echoedBy.get(id) ?? 0, skippedMs, rttMs: { p50: percentile(rtt, 50) / 1000, p99: percentile(rtt, 99) / 1000 } };
    rttBy.delete(id);
    return out;
  },
  async hangup() {
    for (const c of calls) c.sending = false;
    if (native) await native.request('stop');
    let ok = 0;
    if (mode === 'sip') {
      const byes = calls.filter((c) => c.established).map(async (c, i) => {
        await sleep(Math.floor(i / 100) * 50); // 2000 BYEs/s at most
        c.branch = branch();
        const res = await transact(`${c.callId} BYE`, request('BYE', c, 2), 8000);
        if (res && res.status === 200) ok++;
      });
      await Promise.all(byes);
    }
    const n = calls.length;
    if (native) await native.request('close');
    else for (const c of calls) c.close();
    calls.length = 0;
    for (const p of phases) p.length = 0;
    return { byes: n, ok };
  },
});
