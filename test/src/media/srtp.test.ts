/**
 * SRTP (RFC 3711, keys by SDES RFC 4568) through a real call, against libsrtp: the caller's media
 * leg is test/python/srtp_peer.py, which protects and checks every packet with pylibsrtp and never
 * uses sipflow code. The pod must decrypt what the caller sends (the agent gets the exact frames),
 * drop tampered copies, encrypt what the agent plays (libsrtp authenticates and decrypts it back to
 * the same bytes) and protect its RTCP as SRTCP. A pod told to require SRTP refuses plain RTP, and
 * so does an application that asks for it (spec.security.requireSrtp) on a pod that does not.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createInterface } from 'node:readline';
import { join } from 'node:path';
import plivo from 'plivo';
import { getHeader } from '@sipflow/media-pod/sip/message/index';
import { PYTHON_AGENT_DIR, pythonAgentsSkipReason, venvPython } from '../agents/python-agent.js';
import { metricValue } from '../support/sip-trace.js';
import { startTestAnswerServer } from '../support/answer-server.js';
import { startTestPod } from '../support/pod.js';
import { APP_ID, manifestsFor, startMediaRig, type MediaRig } from './harness.js';
import { TestUac } from './uac.js';

const FRAMES = 60;
const TAMPER_EVERY = 10;
const PLAYED = 40;

interface PeerResult {
  sent: number;
  tampered: number;
  received: Array<{ pt: number; seq: number; payload: string }>;
  authFailures: number;
  rtcpOk: number;
  rtcpFailures: number;
  rtcpTypes: number[];
}

/** The same frame pattern as srtp_peer.py's frame_payload(i). */
function peerFrame(i: number): Buffer {
  return Buffer.from(Array.from({ length: 160 }, (_, j) => ((i * 7 + j) * 13) & 0xff));
}

/** What the agent plays: frames no peer frame can be mistaken for. */
function agentFrame(i: number): Buffer {
  return Buffer.from(Array.from({ length: 160 }, (_, j) => (0x80 | ((i * 11 + j * 3) & 0x7f)) ^ 0x55));
}

class SrtpPeer {
  private readonly lines: Array<Record<string, unknown>> = [];
  private readonly waiters: Array<() => void> = [];
  private stderr = '';

  private constructor(private readonly child: ChildProcessWithoutNullStreams) {
    createInterface({ input: child.stdout }).on('line', (line) => {
      try { this.lines.push(JSON.parse(line) as Record<string, unknown>); } catch { /* not ours */ }
      for (const w of this.waiters.splice(0)) w();
    });
    child.stderr.on('data', (d: Buffer) => { this.stderr = (this.stderr + d.toString('utf8')).slice(-4000); });
    child.on('close', () => { for (const w of this.waiters.splice(0)) w(); });
  }

  static async start(): Promise<SrtpPeer> {
    const python = await venvPython();
    return new SrtpPeer(spawn(python, [join(PYTHON_AGENT_DIR, 'srtp_peer.py')], { env: { ...process.env, PYTHONUNBUFFERED: '1' } }));
  }

  async event(name: string, timeoutMs: number): Promise<Record<string, unknown>> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const hit = this.lines.find((l) => l.event === name);
      if (hit) return hit;
      if (this.child.exitCode !== null || Date.now() > deadline) throw new Error(`srtp_peer.py: no ${name} (exit ${this.child.exitCode}): ${this.stderr}`);
      await new Promise<void>((resolve) => { const t = setTimeout(resolve, 200); this.waiters.push(() => { clearTimeout(t); resolve(); }); });
    }
  }

  configure(cfg: Record<string, unknown>): void { this.child.stdin.write(JSON.stringify(cfg) + '\n'); }
  kill(): void { this.child.kill('SIGKILL'); }
}

let rig: MediaRig;
let skip: string | undefined;
before(async () => {
  skip = await pythonAgentsSkipReason();
  rig = await startMediaRig();
});
after(async () => { await rig.close(); });

function streamXml(): string {
  const r = plivo.Response();
  r.addStream(`${rig.agent.baseUrl}/agent`, { bidirectional: true, keepCallAlive: true, contentType: 'audio/x-mulaw;rate=8000' });
  return r.toXML();
}

test('an SRTP call interoperates with libsrtp both ways, drops tampered packets and sends SRTCP', { timeout: 60_000 }, async (t) => {
  if (skip) { t.skip(skip); return; }
  rig.answer.route('/answer', streamXml());
  const peer = await SrtpPeer.start();
  try {
    const { port: peerPort } = await peer.event('listening', 30_000) as { port: number };
    const callerKey = randomBytes(30).toString('base64');
    const uac = await rig.caller();
    const connecting = rig.agent.nextConnection(15_000);
    const final = await uac.invite(rig.pod.sipPort, APP_ID, {
      media: { port: peerPort, proto: 'RTP/SAVP', lines: [`a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:${callerKey}`, 'a=rtcp-mux'] },
    });
    assert.equal(final.status, 200);
    assert.equal(getHeader(final, 'Content-Type'), 'application/sdp');
    const answer = final.body.toString('utf8');
    const m = /^m=audio (\d+) (\S+) /m.exec(answer);
    assert.ok(m, answer);
    assert.equal(m[2], 'RTP/SAVP', 'the answer keeps the secure profile');
    const crypto = /^a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:([A-Za-z0-9+/=]+)\r?$/m.exec(answer);
    assert.ok(crypto?.[1], `one crypto line with our tag and suite: ${answer}`);
    const podKey = crypto[1];
    assert.notEqual(podKey, callerKey, 'the pod sends with its own key');
    assert.match(answer, /^a=rtcp-mux\r?$/m);

    const conn = await connecting;
    await conn.waitForEvent('start');
    const from = conn.messages.length;
    peer.configure({
      host: '127.0.0.1', port: Number(m[1]), suite: 'AES_CM_128_HMAC_SHA1_80', txKey: callerKey, rxKey: podKey,
      frames: FRAMES, tamperEvery: TAMPER_EVERY, quietSeconds: 1.5,
    });
    // Once the caller's audio flows, the agent answers with audio of its own.
    await conn.waitForEvent('media', 10_000, from);
    const played = Array.from({ length: PLAYED }, (_, i) => agentFrame(i));
    conn.playAudio(Buffer.concat(played));
    conn.checkpoint('played');
    // The pod fills the stream with μ-law silence (0xff) while no RTP arrives; the rest is the caller's.
    const callerFrames = (): Buffer[] => conn.byEvent('media').filter((x) => conn.messages.indexOf(x) >= from)
      .map((x) => Buffer.from(String((x.json!.media as Record<string, unknown>).payload), 'base64'))
      .filter((f) => !f.every((b) => b === 0xff));
    await conn.waitFor((x) => x.event === 'playedStream', 15_000, from);
    await conn.waitFor(() => callerFrames().length >= FRAMES, 15_000, from);
    // The pod sends digital silence for as long as the call lasts, so the caller hangs up once both
    // directions are through; the peer reports when the pod has gone quiet (its SRTCP BYE included).
    const metricsBefore = metricValue(await rig.pod.metrics(), 'sipflow_rtp_packets_total', { kind: 'srtp_rejected' });
    await uac.bye();
    const result = await peer.event('result', 30_000) as unknown as PeerResult;

    // Inbound: the agent got every genuine frame, in order, and nothing from the tampered copies.
    const got = callerFrames();
    assert.equal(result.sent, FRAMES);
    assert.equal(result.tampered, FRAMES / TAMPER_EVERY);
    assert.equal(got.length, FRAMES, `the agent got ${got.length} media frames for ${FRAMES} sent`);
    got.forEach((g, i) => assert.ok(g.equals(peerFrame(i)), `frame ${i} decrypted to what the caller sent`));

    // Outbound: libsrtp authenticated and decrypted every packet to the frames the agent played.
    assert.equal(result.authFailures, 0, 'no SRTP packet from the pod failed libsrtp\'s check');
    // Around the agent's frames, digital silence, all of it one stream with consecutive sequence numbers.
    const stream = result.received.filter((r) => r.pt === 0);
    const silence = 'ff'.repeat(160);
    const audio = stream.filter((r) => r.payload !== silence);
    assert.equal(audio.length, PLAYED);
    audio.forEach((r, i) => assert.equal(r.payload, played[i]!.toString('hex'), `played frame ${i}`));
    assert.ok(stream.length > PLAYED, 'silence besides the agent\'s audio');
    const seqBreaks = stream.flatMap((r, i) => (i > 0 && r.seq !== ((stream[i - 1]!.seq + 1) & 0xffff) ? [i] : []));
    assert.deepEqual(seqBreaks, [], 'sequence numbers without a gap');
    const firstAudio = stream.indexOf(audio[0]!);
    assert.deepEqual(stream.slice(firstAudio, firstAudio + PLAYED), audio, 'the agent\'s frames back to back');
    // RTCP went as SRTCP on the RTP port (rtcp-mux), and libsrtp accepted it.
    assert.equal(result.rtcpFailures, 0);
    assert.ok(result.rtcpOk >= 1, 'at least one SRTCP report');
    assert.ok(result.rtcpTypes.every((pt) => pt === 200 || pt === 201), `reports start with SR or RR: ${JSON.stringify(result.rtcpTypes)}`);

    const uuid = rig.answer.requests.filter((q) => q.path === '/answer').at(-1)!.params.CallUUID;
    await rig.answer.waitFor('/hangup', (q) => q.params.CallUUID === uuid, 15_000);
    const ended = rig.logs().find((l) => l.msg === 'call ended' && l.callUuid === uuid);
    const summary = ended?.media as Record<string, unknown> | undefined;
    assert.ok(summary, 'call-end summary');
    assert.equal(summary.srtp, 'AES_CM_128_HMAC_SHA1_80');
    assert.equal(summary.srtpRejected, FRAMES / TAMPER_EVERY, 'each tampered copy was dropped, nothing else');
    const metricsAfter = metricValue(await rig.pod.metrics(), 'sipflow_rtp_packets_total', { kind: 'srtp_rejected' });
    assert.equal(metricsAfter - metricsBefore, FRAMES / TAMPER_EVERY);
    // No key material in the pod's log lines.
    const logText = JSON.stringify(rig.logs());
    assert.ok(!logText.includes(callerKey) && !logText.includes(podKey), 'SDES keys never reach the log');
  } finally {
    peer.kill();
  }
});

test('a pod that requires SRTP refuses a plain RTP offer with 488 and says why, and offers SRTP itself to an INVITE without SDP', async () => {
  const strict = await startMediaRig({ extraArgs: ['--srtp', 'required'] });
  try {
    strict.answer.route('/answer', '<Response><Hangup/></Response>');
    const uac = await strict.caller();
    const final = await uac.invite(strict.pod.sipPort, APP_ID);
    assert.equal(final.status, 488);
    assert.match(getHeader(final, 'Warning') ?? '', /SRTP is required/);
    assert.equal(strict.answer.requests.filter((q) => q.path === '/answer').length, 0, 'the answer URL is never called');

    // Without SDP in the INVITE, the pod offers SRTP itself (both suites); an SRTP answer in the ACK
    // naming one of its tags starts SRTP media, an answer naming another tag ends the call (9050).
    strict.answer.route('/answer', '<Response><Speak>Hello</Speak><Wait length="5"/></Response>');
    const late = await strict.caller();
    const ok = await late.invite(strict.pod.sipPort, APP_ID, {
      delayedOffer: 'answer-in-ack',
      media: { port: 40002, proto: 'RTP/SAVP', lines: [`a=crypto:2 AES_CM_128_HMAC_SHA1_32 inline:${randomBytes(30).toString('base64')}`] },
    });
    assert.equal(ok.status, 200);
    const offer = ok.body.toString('utf8');
    assert.match(offer, /^m=audio \d+ RTP\/SAVP /m);
    assert.deepEqual(offer.match(/^a=crypto:\d+ \S+/gm), ['a=crypto:1 AES_CM_128_HMAC_SHA1_80', 'a=crypto:2 AES_CM_128_HMAC_SHA1_32']);
    const srtpOn = (l: Record<string, unknown>): boolean => l.msg === 'SRTP on' && l.callId === late.callId;
    for (let i = 0; i < 100 && !strict.logs().some(srtpOn); i++) await new Promise((r) => setTimeout(r, 50));
    assert.equal(strict.logs().find(srtpOn)?.suite, 'AES_CM_128_HMAC_SHA1_32', 'the ACK\'s answer turned SRTP on with the suite it chose');
    await late.bye();

    const wrong = await strict.caller();
    const answered = await wrong.invite(strict.pod.sipPort, APP_ID, {
      delayedOffer: 'answer-in-ack',
      media: { port: 40004, proto: 'RTP/SAVP', lines: [`a=crypto:7 AES_CM_128_HMAC_SHA1_80 inline:${randomBytes(30).toString('base64')}`] },
    });
    assert.equal(answered.status, 200);
    const bye = await wrong.byeFromPod();
    assert.match(getHeader(bye.request, 'Reason') ?? '', /9050|No Usable SDP Answer/i);
  } finally {
    await strict.close();
  }
});

test('an application with security.requireSrtp refuses plain RTP with 488 and answers RTP/SAVP, on a pod whose own policy is optional', async () => {
  const answer = await startTestAnswerServer();
  const pod = await startTestPod({
    manifests: `${manifestsFor(answer.url)}---
apiVersion: sipflow.io/v1alpha1
kind: SipApplication
metadata: { name: srtp-only, namespace: default }
spec:
  answerUrl: ${answer.url}/answer
  sipAuth: { type: IpAcl, ipAclRefs: [{ name: loopback }] }
  security: { requireSrtp: true }
`,
  });
  const uacs: TestUac[] = [];
  try {
    answer.route('/answer', '<Response><Speak>Hello</Speak><Wait length="10"/></Response>');
    const plain = await TestUac.start(); uacs.push(plain);
    const refused = await plain.invite(pod.sipPort, 'srtp-only');
    assert.equal(refused.status, 488);
    assert.match(getHeader(refused, 'Warning') ?? '', /SRTP is required/);
    const plainElsewhere = await TestUac.start(); uacs.push(plainElsewhere);
    assert.equal((await plainElsewhere.invite(pod.sipPort, APP_ID)).status, 200, 'the pod\'s other application still takes plain RTP');
    await plainElsewhere.bye();
    const secure = await TestUac.start(); uacs.push(secure);
    const ok = await secure.invite(pod.sipPort, 'srtp-only', {
      media: { port: 40000, proto: 'RTP/SAVP', lines: [`a=crypto:1 AES_CM_128_HMAC_SHA1_32 inline:${randomBytes(30).toString('base64')}`] },
    });
    assert.equal(ok.status, 200);
    assert.match(ok.body.toString('utf8'), /^a=crypto:1 AES_CM_128_HMAC_SHA1_32 inline:/m);
    await secure.bye();
  } finally {
    for (const u of uacs) u.close();
    await pod.stop();
    await answer.close();
  }
});
