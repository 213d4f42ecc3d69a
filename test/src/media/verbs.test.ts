/**
 * Plivo's media verbs through real calls from the in-test caller, checked on the RTP it
 * receives and the callbacks the answer server records: Speak, Play (and a Play that 404s),
 * GetDigits with caller DTMF, DTMF to the caller, PreAnswer early media, Wait, media timeout.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import plivo from 'plivo';
import { markedToneFrames, rmsDbfs, tone, toneShare, ulawDecode, ulawEncode, wavFile } from './audio.js';
import { startFileServer, startMediaRig, APP_ID, type FileServer, type MediaRig } from './harness.js';
import { streamBreaks, type ReceivedRtp, type TestUac } from './uac.js';
import { metricValue } from '../support/sip-trace.js';

let rig: MediaRig;
let files: FileServer;
before(async () => { rig = await startMediaRig(); files = await startFileServer(); });
after(async () => { await files.close(); await rig.close(); });

const SILENCE = Buffer.alloc(160, 0xff);

function isSilent(p: Uint8Array): boolean {
  return ulawDecode(p).every((s) => Math.abs(s) <= 16);
}
const audio = (pkts: readonly ReceivedRtp[]): ReceivedRtp[] => pkts.filter((p) => p.payloadType === 0);

/**
 * Checks that `frames` carry `pcm` sample for sample, within G.711 quantisation (half a step,
 * a whole one where encoders legitimately differ on a decision boundary, e.g. 14-bit truncation).
 */
function assertCarries(frames: readonly Uint8Array[], pcm: Int16Array): void {
  assert.equal(frames.length, Math.ceil(pcm.length / 160), `${frames.length} RTP frames for ${pcm.length} samples`);
  const got = ulawDecode(Buffer.concat(frames));
  for (let i = 0; i < got.length; i++) {
    const want = i < pcm.length ? pcm[i]! : 0;
    const err = Math.abs(got[i]! - want);
    if (err > Math.abs(want) / 15 + 16) assert.fail(`sample ${i} (frame ${Math.floor(i / 160)}): got ${got[i]}, file has ${want}`);
  }
}

async function call(xml: string, opts: { sendAudio?: boolean } = {}): Promise<TestUac> {
  rig.answer.route('/answer', xml);
  const uac = await rig.caller();
  const final = await uac.invite(rig.pod.sipPort, APP_ID);
  assert.equal(final.status, 200, `answered: ${final.status} ${final.reason}`);
  if (opts.sendAudio ?? true) uac.startSending(() => SILENCE);
  return uac;
}

async function hangupOf(callUuid: string): Promise<Record<string, string>> {
  return (await rig.answer.waitFor('/hangup', (r) => r.params.CallUUID === callUuid, 15_000)).params;
}

async function lastCallUuid(): Promise<string> {
  const reqs = rig.answer.requests.filter((r) => r.path === '/answer');
  const last = reqs[reqs.length - 1];
  assert.ok(last, 'answer_url was requested');
  return last.params.CallUUID!;
}

test('<Speak> plays synthesized speech: non-silent PCMU for a plausible duration, then the call ends 4010 with a BYE', async (t) => {
  const r = plivo.Response();
  r.addSpeak('Hello from sipflow. This is a test of the speech engine.');
  const uac = await call(r.toXML());
  const uuid = await lastCallUuid();
  await uac.byeFromPod(30_000);
  assert.ok(audio(uac.rtpIn).every((p) => p.payload.length === 160), 'all frames 160 bytes');
  // The speech, without the digital silence before (synthesis) and after it (the hang-up).
  const rtp = uac.playedRtp();
  const voiced = rtp.filter((p) => !isSilent(p.payload));
  const speech = ulawDecode(Buffer.concat(rtp.map((p) => p.payload)));
  t.diagnostic(`${rtp.length} frames (${rtp.length * 20} ms), ${voiced.length} voiced, ${rmsDbfs(speech).toFixed(1)} dBFS`);
  // Eleven words of speech: between 1 and 12 s, most of it voiced, at a normal speaking level.
  assert.ok(rtp.length * 20 >= 1000 && rtp.length * 20 <= 12_000, `speech lasted ${rtp.length * 20} ms`);
  assert.ok(voiced.length >= rtp.length / 2, `${voiced.length} of ${rtp.length} frames voiced`);
  assert.ok(rmsDbfs(speech) > -40, `speech level ${rmsDbfs(speech).toFixed(1)} dBFS`);
  const h = await hangupOf(uuid);
  assert.equal(h.HangupCauseCode, '4010');
});

test('<Play> of a WAV from an HTTP server plays the file\'s samples as PCMU, frame for frame', async () => {
  const pcm = tone(440, 8050, { amplitude: 6000 }); // 1 s and a partial frame
  files.put('/prompt.wav', wavFile(pcm), 'audio/wav');
  const r = plivo.Response();
  r.addPlay(`${files.url}/prompt.wav`);
  const uac = await call(r.toXML());
  const uuid = await lastCallUuid();
  await uac.byeFromPod(15_000);
  // The file and nothing else, with no silence slipped in between its frames.
  assertCarries(uac.playedRtp().map((p) => p.payload), pcm);
  assert.ok(uac.mediaRtp().every((p) => p.payload.length === 160), 'all frames 160 bytes');
  assert.equal((await hangupOf(uuid)).HangupCauseCode, '4010');
});

test('<Play> of a URL that answers 404 logs why and the XML goes on to the next element', async () => {
  const marked = markedToneFrames(25);
  const pcm = ulawDecode(Buffer.concat(marked));
  files.put('/after.wav', wavFile(pcm), 'audio/wav');
  const r = plivo.Response();
  r.addPlay(`${files.url}/missing.wav`);
  r.addPlay(`${files.url}/after.wav`);
  const uac = await call(r.toXML());
  await uac.byeFromPod(15_000);
  assert.ok(files.hits.includes('/missing.wav'), 'the missing file was requested');
  const line = rig.logs().find((l) => l.level === 'warn' && String(l.msg).includes('Play failed') && String(l.url).endsWith('/missing.wav'));
  assert.ok(line, 'a warning names the URL that failed');
  assert.match(String(line.error), /404/);
  // The second file and nothing else: only digital silence while the first one failed.
  const got = uac.playedRtp();
  assert.equal(got.length, marked.length);
  got.forEach((p, i) => assert.ok(p.payload.equals(marked[i]!), `frame ${i} is the second file`));
});

test('<GetDigits> with a nested <Speak>: the caller\'s RFC 4733 1, 2, # reach the action URL as Digits=12', async () => {
  rig.answer.route('/digits', '<Response><Hangup/></Response>');
  const r = plivo.Response();
  const gd = r.addGetDigits({ action: `${rig.answer.url}/digits`, method: 'POST', timeout: 10, finishOnKey: '#', numDigits: 5 });
  gd.addSpeak('Please enter your code, then press the pound key.');
  const uac = await call(r.toXML());
  const uuid = await lastCallUuid();
  // Key in once the prompt is audible, as a person would.
  await uac.waitUntil(() => uac.audioRtp().length > 5, 10_000, 'the prompt');
  await uac.sendDtmf('12#');
  const action = await rig.answer.waitFor('/digits', (q) => q.params.CallUUID === uuid, 15_000);
  assert.equal(action.params.Digits, '12');
  await uac.byeFromPod(10_000);
  assert.equal((await hangupOf(uuid)).HangupCauseCode, '4000');
});

test('<GetDigits> with key presses sent as SIP INFO (application/dtmf-relay and application/dtmf): Digits=4*7', async () => {
  rig.answer.route('/digits', '<Response><Hangup/></Response>');
  const r = plivo.Response();
  r.addGetDigits({ action: `${rig.answer.url}/digits`, method: 'POST', timeout: 10, finishOnKey: '#', numDigits: 5 }).addSpeak('Enter your code.');
  const uac = await call(r.toXML());
  const uuid = await lastCallUuid();
  await uac.waitUntil(() => uac.audioRtp().length > 5, 10_000, 'the prompt');
  for (const [type, body] of [
    ['application/dtmf-relay', 'Signal=4\r\nDuration=160\r\n'], ['application/dtmf', '*'],
    ['application/dtmf-relay', 'Signal= 7\r\nDuration= 100\r\n'], ['application/x-unrelated', 'Signal=9'], ['application/dtmf-relay', 'Signal=11\r\n'],
  ] as const) {
    assert.equal((await uac.info(type, body)).status, 200);
  }
  const action = await rig.answer.waitFor('/digits', (q) => q.params.CallUUID === uuid, 15_000);
  assert.equal(action.params.Digits, '4*7', 'the unrelated INFO is ignored and event code 11 is #');
  await uac.byeFromPod(10_000);
});

test('<GetDigits> from a caller without telephone-event: its in-band key tones (after G.711) are detected, Digits=3 with # to finish', async () => {
  rig.answer.route('/digits', '<Response><Hangup/></Response>');
  const r = plivo.Response();
  r.addGetDigits({ action: `${rig.answer.url}/digits`, method: 'POST', timeout: 10, finishOnKey: '#', numDigits: 5 }).addSpeak('Enter your code.');
  rig.answer.route('/answer', r.toXML());
  const uac = await rig.caller();
  const final = await uac.invite(rig.pod.sipPort, APP_ID, { telephoneEvent: false });
  assert.equal(final.status, 200);
  assert.doesNotMatch(final.body.toString('utf8'), /telephone-event/, 'no telephone-event in the answer');
  const uuid = await lastCallUuid();
  await uac.waitUntil(() => uac.audioRtp().length > 5, 10_000, 'the prompt');
  // 100 ms per key at about −13 dBFS per tone, 80 ms apart, as a phone's keypad sends them.
  const key = (lo: number, hi: number): Buffer[] => {
    const high = tone(hi, 800, { amplitude: 7000 });
    const pcm = tone(lo, 800, { amplitude: 7000 }).map((v, i) => v + high[i]!);
    return Array.from({ length: 5 }, (_, f) => ulawEncode(pcm.subarray(f * 160, f * 160 + 160)));
  };
  const plan = [...key(697, 1477), ...Array<Buffer>(4).fill(SILENCE), ...key(941, 1477)];
  let i = 0;
  uac.startSending(() => plan[i++] ?? SILENCE);
  const action = await rig.answer.waitFor('/digits', (q) => q.params.CallUUID === uuid, 15_000);
  assert.equal(action.params.Digits, '3');
  await uac.byeFromPod(10_000);
});

test('the call-end log line sums up the media both ways; an answered call that never got RTP is flagged with a hint and a metric', async () => {
  const r = plivo.Response();
  r.addSpeak('One moment.');
  r.addWait({ length: 2 });
  const withMedia = await call(r.toXML());
  const uuid1 = await lastCallUuid();
  await withMedia.byeFromPod(15_000);
  const ended1 = rig.logs().find((l) => l.msg === 'call ended' && l.callUuid === uuid1);
  const m1 = ended1?.media as Record<string, unknown> | undefined;
  assert.ok(m1, 'a media summary on the call-end line');
  assert.ok((m1.packetsIn as number) >= 100 && (m1.packetsOut as number) >= 100, JSON.stringify(m1));
  assert.equal(m1.lost, 0);
  assert.match(String(m1.latchedTo), /^127\.0\.0\.1:\d+$/);
  const before = metricValue(await rig.pod.metrics(), 'sipflow_calls_without_inbound_rtp_total');

  const silent = await call(r.toXML(), { sendAudio: false });
  const uuid2 = await lastCallUuid();
  await silent.byeFromPod(15_000);
  const warn = rig.logs().find((l) => l.msg === 'no RTP ever arrived from the caller' && l.callUuid === uuid2);
  assert.ok(warn, 'the silent call is flagged');
  assert.match(String(warn.advertised), /:\d+$/);
  assert.equal(metricValue(await rig.pod.metrics(), 'sipflow_calls_without_inbound_rtp_total'), before + 1);
  assert.ok(!rig.logs().some((l) => l.msg === 'no RTP ever arrived from the caller' && l.callUuid === uuid1), 'the call with media is not');
  assert.ok(metricValue(await rig.pod.metrics(), 'sipflow_rtp_packets_total', { kind: 'received' }) >= (m1.packetsIn as number));
});

function pressesOf(uac: TestUac): Array<{ code: number; end: boolean; marker: boolean }> {
  const te = uac.remoteMedia!.telephoneEventPt!;
  const presses = new Map<number, { code: number; end: boolean; marker: boolean }>();
  for (const e of uac.rtpIn.filter((p) => p.payloadType === te)) {
    const prev = presses.get(e.timestamp);
    presses.set(e.timestamp, { code: e.payload[0]!, end: (prev?.end ?? false) || (e.payload[1]! & 0x80) !== 0, marker: (prev?.marker ?? false) || e.marker });
  }
  return [...presses.values()];
}

test('<DTMF>12</DTMF> as the only element: the caller receives RFC 4733 events for 1 and 2 before the 4010 hangup', async () => {
  const r = plivo.Response();
  r.addDTMF('12');
  const uac = await call(r.toXML());
  const uuid = await lastCallUuid();
  await uac.byeFromPod(15_000);
  const presses = pressesOf(uac);
  assert.deepEqual(presses.map((p) => p.code), [1, 2], 'both digits went out before the call ended');
  assert.ok(presses.every((p) => p.end && p.marker), 'each press starts with the marker and ends with the E bit');
  assert.equal((await hangupOf(uuid)).HangupCauseCode, '4010');
});

test('<DTMF>1#</DTMF> followed by <Wait>: both digits reach the caller', async () => {
  const r = plivo.Response();
  r.addDTMF('1#');
  r.addWait({ length: 1 });
  const uac = await call(r.toXML());
  await uac.byeFromPod(15_000);
  assert.deepEqual(pressesOf(uac).map((p) => p.code), [1, 11]);
});

test('<PreAnswer><Speak> sends 183 with SDP and early media before the 200 OK', async () => {
  const r = plivo.Response();
  const pre = r.addPreAnswer();
  pre.addSpeak('This is early media.');
  r.addSpeak('Now answered.');
  const uac = await call(r.toXML());
  const p183 = uac.responsesWith(183)[0];
  assert.ok(p183, 'a 183 Session Progress arrived');
  assert.match(String(p183.response.headers.find((h) => h.name.toLowerCase() === 'content-type')?.value), /application\/sdp/);
  assert.ok(p183.response.body.toString().includes('m=audio'), '183 carries an SDP answer');
  const ok = uac.responsesWith(200)[0]!;
  assert.ok(ok.at > p183.at);
  const early = audio(uac.rtpIn).filter((p) => p.at < ok.at);
  assert.ok(early.length >= 25, `${early.length} RTP packets before the 200 OK`);
  assert.ok(early.filter((p) => !isSilent(p.payload)).length >= 10, 'the early media is audible');
  await uac.byeFromPod(20_000);
});

test('<Wait length="2"> after answer: two seconds of silence between the prompts, then the next verb', async (t) => {
  const a = markedToneFrames(25);
  const b = markedToneFrames(25, 100, 12000);
  files.put('/a.wav', wavFile(ulawDecode(Buffer.concat(a))), 'audio/wav');
  files.put('/b.wav', wavFile(ulawDecode(Buffer.concat(b))), 'audio/wav');
  const r = plivo.Response();
  r.addPlay(`${files.url}/a.wav`);
  r.addWait({ length: 2 });
  r.addPlay(`${files.url}/b.wav`);
  const uac = await call(r.toXML());
  await uac.byeFromPod(15_000);
  const rtp = audio(uac.rtpIn);
  const lastA = rtp.findIndex((p) => p.payload.equals(a[a.length - 1]!));
  const firstB = rtp.findIndex((p) => p.payload.equals(b[0]!));
  assert.ok(lastA >= 0 && firstB > lastA, 'both prompts played, in order');
  const between = rtp.slice(lastA + 1, firstB);
  const quietMs = rtp[firstB]!.at - rtp[lastA]!.at;
  t.diagnostic(`${between.length} packets, ${quietMs.toFixed(0)} ms between the prompts`);
  assert.ok(between.every((p) => isSilent(p.payload)), 'nothing audible during the Wait');
  // The Wait's 100 frames, then idle silence while the second file loads (bounded by quietMs below);
  // a stalled media clock skips frames rather than sending them late.
  assert.ok(between.length >= (rig.stalled() ? 80 : 100), `${between.length} packets during a 2 s Wait`);
  assert.deepEqual(streamBreaks(rtp, { stalled: rig.stalled() }), [], 'prompt, silence and prompt are one RTP stream');
  assert.ok(quietMs >= 1600 && quietMs <= 8000, `${quietMs.toFixed(0)} ms between the prompts for a 2 s Wait`);
  rtp.slice(firstB, firstB + b.length).forEach((p, i) => assert.ok(p.payload.equals(b[i]!), `second prompt frame ${i}`));
  assert.ok(toneShare(ulawDecode(Buffer.concat(rtp.slice(firstB, firstB + b.length).map((p) => p.payload))), 1000) > 0.9);
});

test('media timeout: when the caller stops sending RTP the call ends with 6020 and the pod sends BYE', async (t) => {
  const own = await startMediaRig({ extraArgs: ['--media-timeout', '2'] });
  try {
    const r = plivo.Response();
    r.addSpeak('Hold on.');
    r.addWait({ length: 30 });
    own.answer.route('/answer', r.toXML());
    const uac = await own.caller();
    assert.equal((await uac.invite(own.pod.sipPort, APP_ID)).status, 200);
    let sent = 0;
    uac.startSending(() => (sent++ < 50 ? SILENCE : null)); // 1 s of RTP, then nothing
    const bye = await uac.byeFromPod(15_000);
    const lastSent = uac.rtpOut[uac.rtpOut.length - 1]!.at;
    t.diagnostic(`BYE ${(bye.at - lastSent).toFixed(0)} ms after the last RTP packet`);
    assert.equal(sent >= 50, true, 'the caller sent its second of audio first');
    assert.ok(bye.at - lastSent >= 1500, `BYE came ${(bye.at - lastSent).toFixed(0)} ms after the last packet`);
    assert.ok(bye.at - lastSent < 10_000, 'and not only at the end of the 30 s Wait');
    const ans = own.answer.requests.find((q) => q.path === '/answer')!;
    const h = await own.answer.waitFor('/hangup', (q) => q.params.CallUUID === ans.params.CallUUID);
    assert.equal(h.params.HangupCauseCode, '6020');
  } finally {
    await own.close();
  }
});

test('a pod that cannot run for 250 ms (the event loop blocked) skips the ticks it missed, counts the stall and the ticks in its metrics, and logs it; the Wait\'s silence is held back, not dropped', async () => {
  const r = plivo.Response();
  r.addSpeak('One moment.');
  r.addWait({ length: 3 });
  const uac = await call(r.toXML());
  await uac.waitUntil(() => uac.mediaRtp().length >= 10, 5000, 'the pod is sending');
  const before = await rig.pod.metrics();
  const stalls0 = metricValue(before, 'sipflow_media_clock_stalls_total');
  const frames0 = metricValue(before, 'sipflow_media_frames_skipped_total');
  const dropped0 = metricValue(before, 'sipflow_media_frames_dropped_total');
  const logs0 = rig.logs().length;
  // The pod runs in this process: a busy loop here is a stall there.
  const until = Date.now() + 250;
  while (Date.now() < until) { /* blocked */ }
  const stalled = (): Array<Record<string, unknown>> => rig.logs().slice(logs0).filter((l) => l.msg === 'media clock stalled; calls paused');
  await uac.waitUntil(() => stalled().some((l) => (l.lagMs as number) >= 200), 5000, 'the stall logged');
  const after = await rig.pod.metrics();
  const logged = stalled();
  assert.equal(metricValue(after, 'sipflow_media_clock_stalls_total') - stalls0, logged.length);
  const skipped = metricValue(after, 'sipflow_media_frames_skipped_total') - frames0;
  assert.equal(skipped, logged.reduce((n, l) => n + (l.skippedTicks as number) * (l.streams as number), 0), 'frames = skipped ticks × calls');
  assert.ok(skipped >= 10, `${skipped} frames skipped for 250 ms of one call`);
  assert.equal(metricValue(after, 'sipflow_media_frames_dropped_total') - dropped0, 0, 'under the 1 s hold-back limit nothing is dropped');
  await uac.byeFromPod(15_000);
});
