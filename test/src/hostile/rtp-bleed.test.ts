/**
 * RTP bleed: a stranger who finds a call's media port (they are a guessable range) and sends RTP
 * to it must neither receive the call's audio (the agent's voice) nor get its own audio into the
 * agent's stream, and junk datagrams must cost nothing but a counter. Real pod, real caller sending
 * RTP every 20 ms, real agent speaking; the stranger sends from another loopback address.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import plivo from 'plivo';
import { markedToneFrames } from '../media/audio.js';
import { openStreamCall, SILENCE_FRAME, startMediaRig, type MediaRig } from '../media/harness.js';
import { rtpPacket } from '../support/pcap.js';
import { metricValue } from '../support/sip-trace.js';

const STRANGER_ADDRESS = '127.0.0.66';
/** What the stranger sends: a payload the caller never sends (it sends μ-law silence, 0xFF). */
const STRANGER_FRAME = Buffer.alloc(160, 0x13);
const STRANGER_PACKETS = 300;
const JUNK_DATAGRAMS = 100;

let rig: MediaRig;
before(async () => { rig = await startMediaRig(); });
after(async () => { await rig.close(); });

test('a stranger flooding the call\'s RTP port with a stream of its own and with junk gets none of the call\'s audio and puts none into the agent\'s stream', async () => {
  const r = plivo.Response();
  r.addStream(`${rig.agent.baseUrl}/agent`, { bidirectional: true, keepCallAlive: true, contentType: 'audio/x-mulaw;rate=8000' });
  const { uac, conn, callUuid } = await openStreamCall(rig, r.toXML());
  const port = uac.remoteMedia!.port;
  const droppedBefore = metricValue(await rig.pod.metrics(), 'sipflow_rtp_packets_total', { kind: 'dropped' });

  const stranger = dgram.createSocket('udp4');
  await new Promise<void>((resolve) => stranger.bind(0, STRANGER_ADDRESS, resolve));
  const strangerGot: Buffer[] = [];
  stranger.on('message', (m) => strangerGot.push(m));
  try {
    // The agent talks while the stranger sends: 25 frames, half a second.
    const voice = markedToneFrames(25);
    conn.playAudio(Buffer.concat(voice));
    conn.checkpoint('voice');
    // An in-sequence stream of its own, ten packets per burst (enough to move a naive latch), then junk.
    const ssrc = randomBytes(4).readUInt32BE(0);
    for (let i = 0; i < STRANGER_PACKETS; i++) {
      stranger.send(rtpPacket({ payloadType: 0, sequenceNumber: i, timestamp: i * 160, ssrc, payload: STRANGER_FRAME }), port, '127.0.0.1');
      if (i % 10 === 9) await sleep(3);
    }
    for (let i = 0; i < JUNK_DATAGRAMS; i++) {
      const junk = randomBytes(1 + ((i * 37) % 300));
      if (i % 2 === 0) junk[0] = 0x80 | (junk[0]! & 0x3f); // half of them look like RTP or RTCP at first glance
      stranger.send(junk, port, '127.0.0.1');
    }
    await conn.waitFor((m) => m.event === 'playedStream', 10_000);
    // The caller keeps talking after the flood: its frames still reach the agent.
    const heard = conn.byEvent('media').length;
    await conn.waitFor(() => conn.byEvent('media').length >= heard + 25, 5000);
    await uac.bye();

    // The agent's voice went to the caller, all of it, in order, and none of it to the stranger.
    const played = uac.audioRtp();
    assert.equal(played.length, voice.length, 'every frame of the agent reached the caller');
    played.forEach((p, k) => assert.ok(p.payload.equals(voice[k]!), `frame ${k} byte for byte`));
    await sleep(200);
    assert.equal(strangerGot.length, 0, 'nothing of the call reached the stranger');

    // Nothing of the stranger's reached the agent: every media frame it got is the caller's silence.
    const strangerPayload = STRANGER_FRAME.toString('base64');
    const media = conn.byEvent('media');
    assert.ok(media.length >= 25);
    assert.ok(media.every((m) => (m.json!.media as { payload: string }).payload !== strangerPayload), 'no stranger audio in the stream');

    // The call stayed with the caller; the pod said once why it ignored the stranger, and counted it all.
    // (The RTP session logs with the SIP Call-ID; this rig has had only this call.)
    const logs = rig.logs();
    assert.ok(!logs.some((l) => l.msg === 'RTP source moved'), 'the latch never moved');
    const ignored = logs.filter((l) => l.msg === 'RTP from another source ignored: it does not continue the call\'s stream');
    assert.equal(ignored.length, 1, 'said once, not per packet');
    assert.match(String(ignored[0]!.from), new RegExp(`^${STRANGER_ADDRESS.replaceAll('.', '\\.')}:\\d+$`));
    const ended = await waitForLog(() => rig.logs().find((l) => l.msg === 'call ended' && l.callUuid === callUuid));
    const summary = ended.media as { foreign: number; invalid: number; latchedTo: string };
    assert.equal(summary.latchedTo.split(':')[0], '127.0.0.1');
    assert.ok(summary.foreign + summary.invalid >= STRANGER_PACKETS, JSON.stringify(summary));
    const droppedAfter = metricValue(await rig.pod.metrics(), 'sipflow_rtp_packets_total', { kind: 'dropped' });
    assert.ok(droppedAfter - droppedBefore >= STRANGER_PACKETS, `dropped ${droppedAfter - droppedBefore}`);
  } finally {
    stranger.close();
  }
});

async function waitForLog(find: () => Record<string, unknown> | undefined): Promise<Record<string, unknown>> {
  for (let i = 0; i < 100; i++) {
    const line = find();
    if (line) return line;
    await sleep(50);
  }
  throw new Error('the call-end log line did not appear');
}

test('a stranger who sends a stream before the caller\'s first packet loses the call to it (the caller is at the address its SDP and INVITE named)', async () => {
  const r = plivo.Response();
  r.addStream(`${rig.agent.baseUrl}/agent`, { bidirectional: true, keepCallAlive: true, contentType: 'audio/x-mulaw;rate=8000' });
  const { uac, conn } = await openStreamCall(rig, r.toXML(), { sendSilence: false });
  const port = uac.remoteMedia!.port;
  const stranger = dgram.createSocket('udp4');
  await new Promise<void>((resolve) => stranger.bind(0, STRANGER_ADDRESS, resolve));
  const strangerGot: Buffer[] = [];
  stranger.on('message', (m) => strangerGot.push(m));
  try {
    const ssrc = randomBytes(4).readUInt32BE(0);
    let seq = 0;
    const burst = async (n: number): Promise<void> => {
      for (let i = 0; i < n; i++, seq++) stranger.send(rtpPacket({ payloadType: 0, sequenceNumber: seq, timestamp: seq * 160, ssrc, payload: STRANGER_FRAME }), port, '127.0.0.1');
      await sleep(20);
    };
    await burst(10); // the stranger latches: nobody else has sent yet
    uac.startSending(() => SILENCE_FRAME);
    for (let i = 0; i < 20; i++) await burst(2); // and keeps sending while the caller talks
    const voice = markedToneFrames(10);
    conn.playAudio(Buffer.concat(voice));
    conn.checkpoint('voice');
    await conn.waitFor((m) => m.event === 'playedStream', 10_000);
    await sleep(100);
    const played = uac.audioRtp();
    assert.equal(played.length, voice.length, 'the agent\'s frames went to the caller');
    const before = strangerGot.length;
    await burst(10);
    await sleep(200);
    assert.equal(strangerGot.length, before, 'nothing more went to the stranger once the caller was heard');
    const moved = rig.logs().filter((l) => l.msg === 'RTP source moved');
    assert.ok(moved.some((l) => String(l.from).startsWith(`${STRANGER_ADDRESS}:`) && String(l.to).startsWith('127.0.0.1:')), JSON.stringify(moved));
    await uac.bye();
  } finally {
    stranger.close();
  }
});
