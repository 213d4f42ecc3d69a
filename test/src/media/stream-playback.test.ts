/**
 * The agent's side of a bidirectional stream, through a real call: what the agent plays comes
 * back to the caller as RTP byte for byte at the 20 ms cadence, in the place of the digital
 * silence the pod sends while the agent is silent (one continuous stream), checkpoints are
 * acknowledged in order and only once their audio went out, and clearAudio stops playback within
 * a frame.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import plivo from 'plivo';
import { gaps, markedToneFrames, median, ulawDecode, ulawEncode } from './audio.js';
import { openStreamCall, startMediaRig, type MediaRig } from './harness.js';
import { isDigitalSilence, streamBreaks } from './uac.js';
import { metricValue } from '../support/sip-trace.js';

let rig: MediaRig;
before(async () => { rig = await startMediaRig(); });
after(async () => { await rig.close(); });

function streamXml(): string {
  const r = plivo.Response();
  r.addStream(`${rig.agent.baseUrl}/agent`, { bidirectional: true, keepCallAlive: true, contentType: 'audio/x-mulaw;rate=8000' });
  return r.toXML();
}

test('playAudio from the agent reaches the caller as PCMU RTP: same bytes, in order, 160-byte frames, seq +1 and ts +160, paced at 20 ms', async (t) => {
  const { uac, conn } = await openStreamCall(rig, streamXml());
  const frames = markedToneFrames(100);
  for (const f of frames) assert.ok(ulawEncode(ulawDecode(f)).equals(f), 'test frames survive a μ-law round trip');
  const sendAt = performance.now();
  // 2 s in 320-byte messages (pipecat's size), then a checkpoint to know when playout finished.
  conn.playAudio(Buffer.concat(frames), { chunkBytes: 320 });
  conn.checkpoint('end-of-tone');
  const played = await conn.waitFor((m) => m.event === 'playedStream', 15_000);
  await uac.waitUntil(() => uac.audioRtp().length >= frames.length, 3000, 'the last frame');
  await uac.rtpQuietFor(200);

  const rtp = uac.audioRtp();
  assert.equal(rtp.length, frames.length, `RTP packets ${rtp.length} for ${frames.length} frames played`);
  rtp.forEach((p, i) => {
    assert.equal(p.payload.length, 160);
    assert.ok(p.payload.equals(frames[i]!), `RTP packet ${i} carries frame ${i}`);
  });
  assert.equal(new Set(rtp.map((p) => p.ssrc)).size, 1, 'one SSRC');
  for (let i = 1; i < rtp.length; i++) {
    assert.equal((rtp[i]!.sequenceNumber - rtp[i - 1]!.sequenceNumber) & 0xffff, 1, `seq step at ${i}`);
    assert.equal((rtp[i]!.timestamp - rtp[i - 1]!.timestamp) >>> 0, 160, `timestamp step at ${i}`);
  }
  // The tone took the place of digital silence in one stream that began at the answer: silence
  // before it and after it, the marker bit only on the stream's very first packet.
  const all = uac.mediaRtp();
  assert.deepEqual(streamBreaks(all, { stalled: rig.stalled() }), [], 'one continuous stream, silence and tone');
  assert.equal(new Set(all.map((p) => p.ssrc)).size, 1, 'silence and tone share the SSRC');
  const first = all.indexOf(rtp[0]!);
  assert.ok(first >= 0 && all.slice(0, first).every(isDigitalSilence), 'digital silence before the tone');
  assert.ok(all.length > first + rtp.length && all.slice(first + rtp.length).every(isDigitalSilence), 'digital silence after it');
  assert.equal(all[0]!.marker, true, 'the stream\'s first packet carries the marker bit');
  assert.ok(all.slice(1).every((p) => !p.marker), 'no marker after it: the tone continues the stream');
  assert.equal(rtp[0]!.from.port, uac.remoteMedia!.port, 'RTP comes from the port in the SDP answer');

  const g = gaps(rtp.map((p) => p.at));
  const med = median(g);
  t.diagnostic(`median RTP gap ${med.toFixed(2)} ms; first packet ${(rtp[0]!.at - sendAt).toFixed(1)} ms after playAudio`);
  assert.ok(med >= 10 && med <= 30, `median RTP inter-arrival ${med.toFixed(1)} ms`);
  const span = rtp[rtp.length - 1]!.at - rtp[0]!.at;
  assert.ok(span > 99 * 20 * 0.7 && span < 99 * 20 * 1.5, `100 frames played out over ${span.toFixed(0)} ms (real time is 1980 ms)`);
  // The checkpoint came after the audio: at most the last frame could still be on its way.
  const sentBefore = rtp.filter((p) => p.at <= played.at).length;
  assert.ok(sentBefore >= frames.length - 1, `playedStream arrived when only ${sentBefore} of ${frames.length} frames had`);
  assert.equal((played.json!).name, 'end-of-tone');
  await uac.bye();
});

test('checkpoints are acknowledged in order, each only after the audio queued before it was sent', async () => {
  const { uac, conn } = await openStreamCall(rig, streamXml());
  const frames = markedToneFrames(90);
  conn.playAudio(Buffer.concat(frames.slice(0, 30)), { chunkBytes: 800 });
  conn.checkpoint('first');
  conn.playAudio(Buffer.concat(frames.slice(30, 60)), { chunkBytes: 800 });
  conn.checkpoint('second');
  conn.playAudio(Buffer.concat(frames.slice(60)), { chunkBytes: 800 });
  conn.checkpoint('third');
  await conn.waitFor((m) => m.event === 'playedStream' && m.json!.name === 'third', 15_000);
  await uac.rtpQuietFor(200);
  const acks = conn.byEvent('playedStream');
  assert.deepEqual(acks.map((m) => m.json!.name), ['first', 'second', 'third']);
  const rtp = uac.audioRtp();
  assert.equal(rtp.length, 90);
  rtp.forEach((p, i) => assert.ok(p.payload.equals(frames[i]!), `packet ${i}`));
  // Audio queued back to back plays back to back: no silence slips in at a checkpoint.
  assert.deepEqual(streamBreaks(rtp, { stalled: rig.stalled() }), [], 'the three batches are one talkspurt');
  const at = (n: number): number => rtp.filter((p) => p.at <= acks[n]!.at).length;
  // Each ack follows its audio (one frame may be in flight) and precedes most of the next batch.
  assert.ok(at(0) >= 29 && at(0) <= 45, `'first' acknowledged with ${at(0)} packets received`);
  assert.ok(at(1) >= 59 && at(1) <= 75, `'second' acknowledged with ${at(1)} packets received`);
  assert.ok(at(2) >= 89, `'third' acknowledged with ${at(2)} packets received`);
  for (const a of acks) assert.equal(a.json!.streamId, conn.streamId);
  await uac.bye();
});

test('a pod that cannot run for 250 ms mid-sentence pauses the agent\'s audio and resumes it where it stopped: every frame reaches the caller, in order, with the gap in the timestamps', async (t) => {
  const { uac, conn, callUuid } = await openStreamCall(rig, streamXml());
  const frames = markedToneFrames(100);
  const m0 = await rig.pod.metrics();
  const logs0 = rig.logs().length;
  conn.playAudio(Buffer.concat(frames), { chunkBytes: 1600 });
  conn.checkpoint('end');
  await uac.waitUntil(() => uac.audioRtp().length >= 20, 5000, '20 frames of the tone');
  // The pod runs in this process: a busy loop here is a stall there.
  const until = Date.now() + 250;
  while (Date.now() < until) { /* blocked */ }
  await conn.waitFor((m) => m.event === 'playedStream' && m.json!.name === 'end', 15_000);
  await uac.rtpQuietFor(200);
  const stalls = rig.logs().slice(logs0).filter((l) => l.msg === 'media clock stalled; calls paused');
  assert.ok(stalls.length >= 1, 'the pod saw the stall');
  const rtp = uac.audioRtp();
  assert.equal(rtp.length, frames.length, `${rtp.length} of ${frames.length} frames reached the caller`);
  rtp.forEach((p, i) => assert.ok(p.payload.equals(frames[i]!), `packet ${i} is frame ${i}`));
  // One talkspurt on the wire (no sequence gap), with the stall as a timestamp jump and a marker.
  const jumps = rtp.slice(1).map((p, i) => ({ i: i + 1, dTs: (p.timestamp - rtp[i]!.timestamp) >>> 0, dSeq: (p.sequenceNumber - rtp[i]!.sequenceNumber) & 0xffff, marker: p.marker }));
  assert.ok(jumps.every((j) => j.dSeq === 1), 'sequence numbers continue');
  const gapsAt = jumps.filter((j) => j.dTs !== 160);
  const skippedTicks = stalls.reduce((n, l) => n + (l.skippedTicks as number), 0);
  t.diagnostic(`timestamp jumps ${JSON.stringify(gapsAt)}; the pod skipped ${skippedTicks} ticks`);
  assert.ok(gapsAt.length >= 1 && gapsAt.every((j) => j.dTs % 160 === 0 && j.marker), 'each jump is whole frames, marked');
  assert.equal(gapsAt.reduce((n, j) => n + j.dTs / 160 - 1, 0), skippedTicks, 'the jumps add up to the skipped ticks');
  const m1 = await rig.pod.metrics();
  assert.equal(metricValue(m1, 'sipflow_media_frames_dropped_total') - metricValue(m0, 'sipflow_media_frames_dropped_total'), 0);
  assert.ok(metricValue(m1, 'sipflow_media_frames_skipped_total') - metricValue(m0, 'sipflow_media_frames_skipped_total') >= skippedTicks);
  await uac.bye();
  await uac.waitUntil(() => rig.logs().some((l) => l.msg === 'call ended' && l.callUuid === callUuid), 5000, 'the call-end line');
  const media = rig.logs().find((l) => l.msg === 'call ended' && l.callUuid === callUuid)!.media as Record<string, number>;
  assert.equal(media.stallHeld, skippedTicks, 'the call-end line counts the ticks playback was held back');
  assert.equal(media.stallDropped, 0);
});

test('clearAudio stops playback within a frame, answers clearedAudio, and drops the pending checkpoint', async (t) => {
  const { uac, conn } = await openStreamCall(rig, streamXml());
  const frames = markedToneFrames(250); // 5 s
  conn.playAudio(Buffer.concat(frames), { chunkBytes: 8000 });
  conn.checkpoint('never');
  await uac.waitUntil(() => uac.audioRtp().length >= 25, 5000, '25 frames of the tone');
  const before = conn.messages.length;
  conn.clearAudio();
  const cleared = await conn.waitFor((m) => m.event === 'clearedAudio', 5000, before);
  assert.equal(cleared.json!.streamId, conn.streamId);
  assert.equal(typeof cleared.json!.sequenceNumber, 'number');
  await uac.rtpQuietFor(300);
  const rtp = uac.audioRtp();
  const late = rtp.filter((p) => p.at > cleared.at).length;
  t.diagnostic(`${rtp.length} frames played before the clear took effect; ${late} arrived after clearedAudio`);
  assert.ok(late <= 2, `${late} tone packets arrived after clearedAudio`);
  // After the clear the caller hears digital silence, not nothing.
  const afterClear = uac.mediaRtp().filter((p) => p.at > rtp[rtp.length - 1]!.at);
  assert.ok(afterClear.length > 0 && afterClear.every(isDigitalSilence), 'only digital silence after the clear');
  assert.ok(rtp.length < 100, `playback went on for ${rtp.length} frames`);
  rtp.forEach((p, i) => assert.ok(p.payload.equals(frames[i]!), `packet ${i} is frame ${i}`));

  // The queue works again after a clear, and the dropped checkpoint never comes.
  const again = markedToneFrames(20, 100);
  const mark = uac.rtpIn.length;
  conn.playAudio(Buffer.concat(again));
  conn.checkpoint('after-clear');
  await conn.waitFor((m) => m.event === 'playedStream' && m.json!.name === 'after-clear', 5000);
  await uac.rtpQuietFor(200);
  const replay = uac.audioRtp(mark);
  assert.equal(replay.length, 20);
  replay.forEach((p, i) => assert.ok(p.payload.equals(again[i]!), `replayed packet ${i}`));
  assert.deepEqual(streamBreaks(replay, { stalled: rig.stalled() }), [], 'the replay is one talkspurt');
  assert.deepEqual(conn.byEvent('playedStream').map((m) => m.json!.name), ['after-clear']);
  // RTP stays continuous across the clear: one SSRC, one stream of tone, silence, tone.
  const all = uac.mediaRtp();
  assert.equal(new Set(all.map((p) => p.ssrc)).size, 1);
  assert.deepEqual(streamBreaks(all, { stalled: rig.stalled() }), []);
  await uac.bye();
});

test('sendDTMF from the agent reaches the caller as RFC 4733 events', async () => {
  const { uac, conn } = await openStreamCall(rig, streamXml());
  conn.sendDtmf('1#');
  const events = await uac.waitUntil(() => {
    const ends = uac.rtpIn.filter((p) => p.payloadType === uac.remoteMedia!.telephoneEventPt && (p.payload[1]! & 0x80) !== 0);
    return new Set(ends.map((p) => p.timestamp)).size >= 2 ? ends : undefined;
  }, 5000, 'two complete RFC 4733 presses');
  const byTs = new Map<number, number>();
  for (const e of events) byTs.set(e.timestamp, e.payload[0]!);
  assert.deepEqual([...byTs.values()], [1, 11]);
  await uac.bye();
});

test('pipecat-style agent messages: sampleRate as a string, streamId on playAudio, unknown events ignored without closing', async () => {
  const { uac, conn } = await openStreamCall(rig, streamXml());
  const frames = markedToneFrames(20);
  conn.send({ event: 'mark', name: 'not-a-plivo-event' });
  conn.send('this is not JSON');
  conn.playAudio(Buffer.concat(frames), { sampleRate: '8000', withStreamId: true, chunkBytes: 320 });
  conn.checkpoint('done');
  await conn.waitFor((m) => m.event === 'playedStream', 5000);
  await uac.rtpQuietFor(200);
  const rtp = uac.audioRtp();
  assert.equal(rtp.length, 20);
  rtp.forEach((p, i) => assert.ok(p.payload.equals(frames[i]!), `packet ${i}`));
  assert.ok(conn.isOpen, 'the pod did not close the stream over the odd messages');
  await uac.bye();
  assert.equal((await conn.closed).code, 1000);
});
