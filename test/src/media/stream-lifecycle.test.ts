/**
 * What happens to the call around a <Stream>, with real calls: keepCallAlive=true holds the XML
 * until the agent closes the socket (then the next verb runs, or the call ends 4010),
 * keepCallAlive=false moves on at once; and an L16 16 kHz stream carries little-endian PCM
 * both ways with the tone's frequency intact; an unreachable agent does not cost the call, and
 * a PCMA caller is transcoded to and from a μ-law stream.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import net, { type AddressInfo } from 'node:net';
import plivo from 'plivo';
import { alawDecode, alawEncode, markedToneFrames, tone, tonePower, toneShare, ulawDecode, ulawEncode } from './audio.js';
import { APP_ID, cycle, openStreamCall, startMediaRig, type MediaRig } from './harness.js';
import { isDigitalSilence, streamBreaks, type ReceivedRtp } from './uac.js';

let rig: MediaRig;
before(async () => { rig = await startMediaRig(); });
after(async () => { await rig.close(); });

const audio = (pkts: readonly ReceivedRtp[]): ReceivedRtp[] => pkts.filter((p) => p.payloadType === 0);
const audible = (p: ReceivedRtp): boolean => ulawDecode(p.payload).some((s) => Math.abs(s) > 64);

function streamXml(o: { keepCallAlive: boolean; contentType?: string; then?: (r: ReturnType<typeof plivo.Response>) => void }): string {
  const r = plivo.Response();
  r.addStream(`${rig.agent.baseUrl}/agent`, { bidirectional: true, keepCallAlive: o.keepCallAlive, contentType: o.contentType ?? 'audio/x-mulaw;rate=8000' });
  o.then?.(r);
  return r.toXML();
}

async function hangupCause(callUuid: string): Promise<string | undefined> {
  return (await rig.answer.waitFor('/hangup', (q) => q.params.CallUUID === callUuid, 15_000)).params.HangupCauseCode;
}

test('keepCallAlive=true: the next verb waits for the agent to close the socket, then runs', async () => {
  const { uac, conn, callUuid } = await openStreamCall(rig, streamXml({ keepCallAlive: true, then: (r) => r.addSpeak('The agent has left.') }));
  // While the socket is open the Speak must not start: nothing but silence from the pod.
  await new Promise((r) => setTimeout(r, 700));
  assert.equal(audio(uac.rtpIn).filter(audible).length, 0, 'no prompt while the stream is open');
  assert.ok(uac.mediaRtp().length > 0 && uac.audioRtp().length === 0, 'digital silence while the stream is open');
  assert.ok(conn.isOpen);
  const closedAt = performance.now();
  conn.close(1000, 'bot done');
  await uac.waitUntil(() => audio(uac.rtpIn).filter(audible).length >= 10, 15_000, 'the Speak after the stream');
  assert.ok(audio(uac.rtpIn).filter(audible).every((p) => p.at > closedAt), 'the prompt started only after the close');
  await uac.byeFromPod(20_000);
  assert.equal(await hangupCause(callUuid), '4010');
});

test('keepCallAlive=true with nothing after the Stream: the agent closing ends the call with 4010 and a BYE', async () => {
  const { uac, conn, callUuid } = await openStreamCall(rig, streamXml({ keepCallAlive: true }));
  await new Promise((r) => setTimeout(r, 300));
  assert.equal(uac.requests.filter((q) => q.request.method === 'BYE').length, 0, 'the call stays up while the stream is open');
  const closedAt = performance.now();
  conn.close(1000);
  const bye = await uac.byeFromPod(10_000);
  assert.ok(bye.at > closedAt);
  assert.match(bye.request.headers.find((h) => h.name === 'Reason')?.value ?? '', /End Of XML Instructions/i);
  assert.equal(await hangupCause(callUuid), '4010');
});

test('keepCallAlive=true, the agent says goodbye and closes at once: the caller hears all of it before the BYE (4010)', async () => {
  const { uac, conn, callUuid } = await openStreamCall(rig, streamXml({ keepCallAlive: true }));
  const goodbye = ulawEncode(tone(700, 8000, { amplitude: 9000 })); // 1 s, 50 frames
  conn.playAudio(goodbye, { chunkBytes: 1600 });
  conn.close(1000, 'conversation over');
  const bye = await uac.byeFromPod(15_000);
  const heard = audio(uac.rtpIn).filter((p) => p.at < bye.at && audible(p));
  assert.ok(heard.length >= 48, `the goodbye played out before the hang-up: ${heard.length} of 50 audible frames`);
  assert.equal(await hangupCause(callUuid), '4010');
});

test('keepCallAlive=false with the Stream last: the call ends with 4010 right after the stream opens, and the stream is stopped', async () => {
  const { uac, conn, callUuid } = await openStreamCall(rig, streamXml({ keepCallAlive: false }));
  await uac.byeFromPod(10_000);
  const closed = await conn.closed;
  assert.equal(closed.code, 1000);
  const events = conn.messages.map((m) => m.event);
  assert.equal(events[0], 'start');
  assert.equal(events[events.length - 1], 'stop');
  assert.equal(await hangupCause(callUuid), '4010');
});

test('keepCallAlive=false followed by <Speak>: the verb runs while the stream stays open, and hearing the caller continues', async () => {
  const frames = markedToneFrames(25);
  const { uac, conn, callUuid } = await openStreamCall(rig, streamXml({ keepCallAlive: false, then: (r) => r.addSpeak('Streaming in the background.') }));
  uac.startSending(cycle(frames));
  await uac.waitUntil(() => audio(uac.rtpIn).filter(audible).length >= 10, 15_000, 'the Speak');
  assert.ok(conn.isOpen, 'the stream is still open during the Speak');
  const mediaNow = conn.byEvent('media').length;
  await new Promise((r) => setTimeout(r, 300));
  assert.ok(conn.byEvent('media').length > mediaNow, 'caller audio keeps flowing to the agent during the Speak');
  await uac.byeFromPod(20_000);
  assert.equal(await hangupCause(callUuid), '4010');
  assert.equal(conn.messages[conn.messages.length - 1]!.event, 'stop');
});

test('L16 16 kHz stream: 640-byte little-endian media with the caller\'s 1 kHz intact, and agent L16 audio comes back as a 1 kHz tone', async (t) => {
  const { uac, conn } = await openStreamCall(rig, streamXml({ keepCallAlive: true, contentType: 'audio/x-l16;rate=16000' }), { sendSilence: false });
  const start = conn.messages[0]!.json!.start as Record<string, unknown>;
  assert.deepEqual(start.mediaFormat, { encoding: 'audio/x-l16', sampleRate: 16000 });
  uac.startSending(cycle(markedToneFrames(50), 50)); // 1 s of 1 kHz
  await conn.waitFor(() => conn.byEvent('media').length >= 45, 10_000);
  const payloads = conn.byEvent('media').map((m) => Buffer.from(String((m.json!.media as Record<string, unknown>).payload), 'base64'));
  assert.ok(payloads.every((p) => p.length === 640), `payload sizes ${[...new Set(payloads.map((p) => p.length))].join(',')}`);
  const le = new Int16Array(payloads.length * 320);
  const be = new Int16Array(payloads.length * 320);
  payloads.forEach((p, f) => { for (let i = 0; i < 320; i++) { le[f * 320 + i] = p.readInt16LE(2 * i); be[f * 320 + i] = p.readInt16BE(2 * i); } });
  // Skip the resampler's first frames (filter warm-up), then the tone must dominate.
  const steadyLe = le.subarray(3 * 320);
  const shareLe = toneShare(steadyLe, 1000, 16000);
  const shareBe = toneShare(be.subarray(3 * 320), 1000, 16000);
  t.diagnostic(`1 kHz share: little-endian ${shareLe.toFixed(3)}, big-endian reading ${shareBe.toFixed(3)}`);
  assert.ok(shareLe > 0.9, `1 kHz share read little-endian ${shareLe.toFixed(3)}`);
  // Read little-endian, the level is the caller's (amplitude 8000); read big-endian it would not be a clean tone.
  const amplitude = Math.sqrt(4 * tonePower(steadyLe, 1000, 16000));
  assert.ok(amplitude > 6000 && amplitude < 10_000, `1 kHz amplitude ${amplitude.toFixed(0)} (caller sent 8000)`);
  assert.ok(shareBe < 0.9, `read big-endian the 1 kHz share is only ${shareBe.toFixed(3)}`);
  assert.ok(toneShare(steadyLe, 2000, 16000) < 0.05, 'no energy moved to another frequency');

  // The agent answers in the stream's format: 1 s of 1 kHz L16 at 16 kHz, little-endian.
  const pcm16 = tone(1000, 16000, { rate: 16000, amplitude: 8000 });
  const bytes = Buffer.alloc(pcm16.length * 2);
  pcm16.forEach((s, i) => bytes.writeInt16LE(s, 2 * i));
  const mark = uac.rtpIn.length;
  conn.playAudio(bytes, { contentType: 'audio/x-l16', sampleRate: 16000, chunkBytes: 6400 });
  conn.checkpoint('l16-done');
  await conn.waitFor((m) => m.event === 'playedStream', 10_000);
  await uac.rtpQuietFor(200);
  const back = uac.audioRtp(mark);
  assert.ok(back.length >= 48 && back.length <= 52, `${back.length} RTP frames for 1 s of agent audio`);
  assert.deepEqual(streamBreaks(back, { stalled: rig.stalled() }), [], 'played back to back');
  const heard = ulawDecode(Buffer.concat(back.slice(2).map((p) => p.payload)));
  assert.ok(toneShare(heard, 1000) > 0.9, `1 kHz share of the played-back audio ${toneShare(heard, 1000).toFixed(3)}`);
  await uac.bye();
});

test('a caller packetizing at 30 ms: the agent gets 20 ms frames (160 bytes) carrying every byte of the caller\'s audio, in order', async () => {
  const { uac, conn } = await openStreamCall(rig, streamXml({ keepCallAlive: true }), { sendSilence: false });
  const sent = Buffer.concat(markedToneFrames(60)); // 1.2 s
  const packets: Buffer[] = [];
  for (let o = 0; o < sent.length; o += 240) packets.push(sent.subarray(o, o + 240));
  // Two 30 ms packets per three 20 ms ticks: real time.
  let tick = 0; let next = 0;
  uac.startSending(() => (tick++ % 3 === 2 ? null : packets[next++] ?? null));
  const payloads = (): Buffer[] => conn.byEvent('media').map((m) => Buffer.from(String((m.json!.media as Record<string, unknown>).payload), 'base64'));
  const callerBytes = (): Buffer => Buffer.concat(payloads().filter((p) => !p.every((b) => b === 0xff)));
  await conn.waitFor(() => callerBytes().length >= sent.length, 10_000);
  assert.ok(payloads().every((p) => p.length === 160), `media sizes ${[...new Set(payloads().map((p) => p.length))].join(',')}`);
  assert.ok(callerBytes().equals(sent), 'every byte the caller sent, once, in order');
  await uac.bye();
});

test('a <Stream> whose agent cannot be reached: the XML goes on to the next verb, and the log says why', async () => {
  // A port that was just free: nothing listens there.
  const dead = await new Promise<number>((resolve) => {
    const s = net.createServer();
    s.listen(0, '127.0.0.1', () => { const p = (s.address() as AddressInfo).port; s.close(() => resolve(p)); });
  });
  const r = plivo.Response();
  r.addStream(`ws://127.0.0.1:${dead}/agent`, { bidirectional: true, keepCallAlive: true, contentType: 'audio/x-mulaw;rate=8000' });
  r.addSpeak('The agent is not available.');
  rig.answer.route('/answer', r.toXML());
  const uac = await rig.caller();
  assert.equal((await uac.invite(rig.pod.sipPort, APP_ID)).status, 200);
  uac.startSending(() => Buffer.alloc(160, 0xff));
  await uac.waitUntil(() => audio(uac.rtpIn).filter(audible).length >= 10, 15_000, 'the Speak after the failed stream');
  const line = rig.logs().find((l) => String(l.msg).includes('stream could not be opened'));
  assert.ok(line, 'a warning says the stream could not be opened');
  assert.match(String(line.error), new RegExp(`127\\.0\\.0\\.1:${dead}`));
  await uac.byeFromPod(20_000);
});

test('a PCMA caller on a μ-law stream: the caller\'s A-law tone reaches the agent as μ-law, and the agent\'s μ-law comes back as A-law', async () => {
  rig.answer.route('/answer', streamXml({ keepCallAlive: true }));
  const uac = await rig.caller();
  const connecting = rig.agent.nextConnection(15_000);
  assert.equal((await uac.invite(rig.pod.sipPort, APP_ID, { codec: 'PCMA' })).status, 200);
  assert.equal(uac.remoteMedia!.payloadType, 8, 'the pod answered PCMA');
  const conn = await connecting;
  const aframe = alawEncode(tone(1000, 160, { amplitude: 8000 }));
  uac.startSending(cycle([aframe], 50));
  await conn.waitFor(() => conn.byEvent('media').length >= 45, 10_000);
  const inbound = ulawDecode(Buffer.concat(conn.byEvent('media').map((m) => Buffer.from(String((m.json!.media as Record<string, unknown>).payload), 'base64'))));
  assert.ok(toneShare(inbound, 1000) > 0.95, `the agent hears 1 kHz (share ${toneShare(inbound, 1000).toFixed(3)})`);
  // While the agent said nothing the caller got A-law digital silence (0xD5), not μ-law's 0xFF.
  const idle = uac.mediaRtp();
  assert.ok(idle.length > 0 && idle.every(isDigitalSilence), 'A-law digital silence while the agent is silent');
  const frames = markedToneFrames(25);
  const mark = uac.rtpIn.length;
  conn.playAudio(Buffer.concat(frames));
  conn.checkpoint('pcma');
  await conn.waitFor((m) => m.event === 'playedStream', 5000);
  await uac.rtpQuietFor(200);
  const back = uac.audioRtp(mark);
  assert.equal(back.length, 25);
  assert.ok(back.every((p) => p.payloadType === 8));
  assert.deepEqual(streamBreaks(uac.mediaRtp(), { stalled: rig.stalled() }), [], 'one A-law stream, silence and the agent\'s audio');
  const heard = alawDecode(Buffer.concat(back.map((p) => p.payload)));
  const sent = ulawDecode(Buffer.concat(frames));
  let worst = 0;
  for (let i = 0; i < sent.length; i++) worst = Math.max(worst, Math.abs(heard[i]! - sent[i]!) - Math.abs(sent[i]!) / 15);
  assert.ok(worst <= 32, `A-law playback follows the agent's samples (worst excess error ${worst.toFixed(0)})`);
  await uac.bye();
});
