/**
 * What the caller receives while a bidirectional <Stream>'s agent says nothing. By default, digital
 * μ-law silence every 20 ms in one continuous RTP stream, so a carrier's SBC that ends calls after
 * RTP inactivity keeps the call, and the agent's audio takes the place of silence packets byte for
 * byte; with --rtp-send-silence=false, no RTP at all, and each burst of audio is a talkspurt that
 * starts with the marker bit. Real pod, real caller, real agent.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import plivo from 'plivo';
import { markedToneFrames } from './audio.js';
import { openStreamCall, startMediaRig, type MediaRig } from './harness.js';
import { isDigitalSilence, streamBreaks } from './uac.js';

let rig: MediaRig;
before(async () => { rig = await startMediaRig(); });
after(async () => { await rig.close(); });

function streamXml(on: MediaRig): string {
  const r = plivo.Response();
  r.addStream(`${on.agent.baseUrl}/agent`, { bidirectional: true, keepCallAlive: true, contentType: 'audio/x-mulaw;rate=8000' });
  return r.toXML();
}

test('by default an agent that listens still gives the caller a continuous RTP stream of silence; its audio takes its place', async () => {
  const { uac, conn } = await openStreamCall(rig, streamXml(rig));
  // The agent is silent: silence keeps coming, half a second of it.
  await uac.waitUntil(() => uac.mediaRtp().length >= 25, 5000, '25 packets while the agent says nothing');
  const quiet = uac.mediaRtp();
  assert.ok(quiet.every(isDigitalSilence), 'all of them digital silence');

  const from = uac.rtpIn.length;
  const voice = markedToneFrames(5);
  conn.playAudio(Buffer.concat(voice));
  conn.checkpoint('voice');
  await conn.waitFor((m) => m.event === 'playedStream', 5000);
  // Silence again after the agent's audio, for a while.
  await uac.waitUntil(() => {
    const after = uac.mediaRtp(from);
    const last = after.findLastIndex((p) => !isDigitalSilence(p));
    return last >= 0 && after.length - last > 10;
  }, 5000, 'silence after the agent\'s audio');
  await uac.bye();

  const all = uac.mediaRtp();
  // One stream from the first packet to the last: sequence +1, timestamp +160, the marker only first.
  assert.deepEqual(streamBreaks(all, { stalled: rig.stalled() }), []);
  assert.equal(new Set(all.map((p) => p.ssrc)).size, 1, 'one SSRC');
  assert.equal(all[0]!.marker, true);
  assert.equal(all.filter((p) => p.marker).length, 1);
  // The agent's five frames, whole and in order, back to back between silence.
  const after = uac.mediaRtp(from);
  const voiced = after.map((p, i) => ({ i, p })).filter((x) => !isDigitalSilence(x.p));
  assert.equal(voiced.length, 5);
  assert.ok(voiced.every((x, k) => k === 0 || x.i === voiced[k - 1]!.i + 1), 'back to back');
  voiced.forEach((x, k) => assert.ok(x.p.payload.equals(voice[k]!), `frame ${k} byte for byte`));
  assert.ok(after.slice(voiced[4]!.i + 1).every(isDigitalSilence), 'silence again after it');
});

test('--rtp-send-silence=false: no RTP while the agent says nothing; each burst of its audio starts with the marker bit', async () => {
  const off = await startMediaRig({ extraArgs: ['--rtp-send-silence=false'] });
  try {
    const { uac, conn } = await openStreamCall(off, streamXml(off));
    const callerFrames = (): number => conn.byEvent('media').length;
    // Half a second of the caller's audio reaches the agent, and nothing comes back.
    await conn.waitFor(() => callerFrames() >= 25, 5000);
    assert.equal(uac.mediaRtp().length, 0, 'no RTP to the caller while the agent is silent');

    const first = markedToneFrames(5);
    conn.playAudio(Buffer.concat(first));
    conn.checkpoint('first');
    await conn.waitFor((m) => m.event === 'playedStream' && m.json!.name === 'first', 5000);
    await uac.waitUntil(() => uac.mediaRtp().length >= 5, 5000, 'the first burst');
    // The agent is silent again for another half second of the caller's audio: still only the five.
    const seen = callerFrames();
    await conn.waitFor(() => callerFrames() >= seen + 25, 5000);
    assert.equal(uac.mediaRtp().length, 5, 'nothing after the burst');

    const second = markedToneFrames(3, 50);
    conn.playAudio(Buffer.concat(second));
    conn.checkpoint('second');
    await conn.waitFor((m) => m.event === 'playedStream' && m.json!.name === 'second', 5000);
    await uac.waitUntil(() => uac.mediaRtp().length >= 8, 5000, 'the second burst');
    await uac.bye();

    const all = uac.mediaRtp();
    assert.equal(all.length, 8);
    all.forEach((p, i) => assert.ok(p.payload.equals(i < 5 ? first[i]! : second[i - 5]!), `packet ${i} byte for byte`));
    assert.equal(new Set(all.map((p) => p.ssrc)).size, 1, 'one SSRC');
    assert.deepEqual(all.map((p) => p.marker), [true, false, false, false, false, true, false, false], 'the marker starts each talkspurt');
    assert.deepEqual(streamBreaks(all.slice(0, 5), { stalled: off.stalled() }), []);
    assert.deepEqual(streamBreaks(all.slice(5), { stalled: off.stalled() }), []);
    // Across the pause the sequence goes on by one, while the timestamp ran on with the clock.
    assert.equal(all[5]!.sequenceNumber, (all[4]!.sequenceNumber + 1) & 0xffff);
    const jump = (all[5]!.timestamp - all[4]!.timestamp) >>> 0;
    assert.ok(jump > 160 && jump % 160 === 0, `timestamp +${jump} across the pause`);
  } finally {
    await off.close();
  }
});
