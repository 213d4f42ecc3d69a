/**
 * <Record> on real calls: a voicemail (greeting, beep, the caller's message ended by a key) and a
 * session recording of both directions, uploaded by the pod to a recording store (an HTTP server
 * in the test) whose WAVs are then checked for what the caller sent and what the pod played.
 * Real pod, real caller sending RTP, real answer server.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import plivo from 'plivo';
import { markedToneFrames, meanSquare, tone, tonePower, ulawDecode, ulawEncode } from './audio.js';
import { APP_ID, cycle, frames160, startMediaRig, type MediaRig } from './harness.js';
import type { TestUac } from './uac.js';

const STORE_KEY = 'Bearer store-Key-2718';
const CALLER_HZ = 500;

interface Stored { path: string; authorization: string | undefined; body: Buffer }

let rig: MediaRig;
let store: http.Server;
let storeUrl = '';
const stored: Stored[] = [];

before(async () => {
  store = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      if (req.method === 'PUT') stored.push({ path: req.url ?? '', authorization: req.headers.authorization, body: Buffer.concat(chunks) });
      res.writeHead(req.method === 'PUT' ? 201 : 405);
      res.end();
    });
  });
  await new Promise<void>((r) => store.listen(0, '127.0.0.1', r));
  storeUrl = `http://127.0.0.1:${(store.address() as AddressInfo).port}/rec`;
  rig = await startMediaRig({ extraArgs: ['--recording-url', storeUrl, '--recording-authorization', STORE_KEY] });
});
after(async () => {
  await rig.close();
  await new Promise<void>((r) => store.close(() => r()));
});

/** The caller's voice: a steady 500 Hz tone, 20 ms μ-law frames. */
const callerFrames = frames160(ulawEncode(tone(CALLER_HZ, 8000, { amplitude: 6000 })));

async function callWith(xml: string): Promise<{ uac: TestUac; callUuid: string }> {
  rig.answer.route('/answer', xml);
  const uac = await rig.caller();
  const final = await uac.invite(rig.pod.sipPort, APP_ID);
  assert.equal(final.status, 200);
  uac.startSending(cycle(callerFrames));
  const answer = rig.answer.requests.filter((r) => r.path === '/answer').at(-1)!;
  return { uac, callUuid: answer.params.CallUUID! };
}

/** 16-bit PCM samples of a stored WAV, per channel. */
function channels(body: Buffer): Int16Array[] {
  assert.equal(body.subarray(0, 4).toString('latin1'), 'RIFF');
  assert.equal(body.readUInt32LE(24), 8000, 'sample rate');
  assert.equal(body.readUInt16LE(34), 16, 'bits per sample');
  const n = body.readUInt16LE(22);
  assert.equal(body.readUInt32LE(40), body.length - 44, 'data size in the header');
  const all = new Int16Array(body.buffer.slice(body.byteOffset + 44, body.byteOffset + body.length));
  return Array.from({ length: n }, (_, c) => all.filter((_, i) => i % n === c));
}

test('voicemail: greeting, beep, the caller\'s message until the finish key; the WAV is in the store before the action gets its RecordUrl', async () => {
  const r = plivo.Response();
  r.addSpeak('Please leave a message.');
  r.addRecord({ action: `${rig.answer.url}/recorded`, timeout: 5, maxLength: 20, finishOnKey: '#', callbackUrl: `${rig.answer.url}/recorded-cb`, fileFormat: 'wav' });
  rig.answer.route('/recorded', '<Response><Speak>Thank you.</Speak></Response>');
  const before = stored.length;
  const { uac, callUuid } = await callWith(r.toXML());
  // The beep: a 1 kHz frame from the pod after the greeting.
  await uac.waitUntil(() => uac.audioRtp().some((p) => tonePower(ulawDecode(p.payload), 1000) > 1e6), 15_000, 'the beep');
  await new Promise((res) => setTimeout(res, 1500));
  await uac.sendDtmf('#');
  const action = await rig.answer.waitFor('/recorded', (q) => q.params.CallUUID === callUuid, 15_000);
  // Stored first: the application can fetch the file the moment it hears of it.
  assert.equal(stored.length, before + 1);
  const file = stored.at(-1)!;
  const id = action.params.RecordingID!;
  assert.match(id, /^[0-9a-f-]{36}$/);
  assert.equal(file.path, `/rec/${id}.wav`);
  assert.equal(file.authorization, STORE_KEY);
  assert.equal(action.params.RecordUrl, `${storeUrl}/${id}.wav`);
  assert.equal(action.params.Digits, '#');
  const ms = Number(action.params.RecordingDurationMs);
  assert.ok(ms >= 1000 && ms <= 5000, `duration ${ms} ms`);
  assert.ok(Number(action.params.RecordingEndMs) - Number(action.params.RecordingStartMs) >= ms - 100);

  const [mono, more] = channels(file.body);
  assert.equal(more, undefined, 'mono');
  assert.ok(Math.abs(mono!.length / 8 - ms) <= 40, `${mono!.length} samples for ${ms} ms`);
  // The caller's tone, not the beep or the greeting (they are the pod's, not the caller's).
  const p500 = tonePower(mono!, CALLER_HZ);
  assert.ok(p500 > 0.5 * meanSquare(mono!) / 2, 'the recording is the caller\'s 500 Hz tone');
  assert.ok(p500 > 100 * tonePower(mono!, 1000));

  const cb = await rig.answer.waitFor('/recorded-cb', (q) => q.params.RecordingID === id, 5000);
  assert.equal(cb.params.RecordUrl, action.params.RecordUrl);
  const hangup = await rig.answer.waitFor('/hangup', (q) => q.params.CallUUID === callUuid, 15_000);
  assert.equal(hangup.params.HangupCauseCode, '4010', 'the action\'s Speak ran, then the end of the XML');
  assert.ok(!JSON.stringify(rig.logs()).includes('store-Key'), 'the store key is never logged');
});

test('recordSession: the whole call in the background, the caller on the left and what the pod played on the right; stored when the call ends', async () => {
  const r = plivo.Response();
  r.addRecord({ recordSession: true, callbackUrl: `${rig.answer.url}/session-cb` });
  r.addSpeak('This call is recorded for quality.');
  r.addWait({ length: 1 });
  const before = stored.length;
  const { callUuid } = await callWith(r.toXML());
  const cb = await rig.answer.waitFor('/session-cb', (q) => q.params.CallUUID === callUuid, 20_000);
  assert.equal(stored.length, before + 1);
  const file = stored.at(-1)!;
  assert.equal(cb.params.RecordUrl, `${storeUrl}/${cb.params.RecordingID}.wav`);
  const [left, right] = channels(file.body);
  assert.ok(right, 'stereo');
  const ms = Number(cb.params.RecordingDurationMs);
  assert.ok(ms >= 1500, `the speech and the wait: ${ms} ms`);
  assert.ok(Math.abs(left!.length / 8 - ms) <= 40);
  // Left: the caller's tone. Right: the pod's speech, with none of the caller's tone in it.
  assert.ok(tonePower(left!, CALLER_HZ) > 0.25 * meanSquare(left!), 'left is the caller');
  assert.ok(meanSquare(right!) > 1e4, 'right has the spoken prompt');
  assert.ok(tonePower(right!, CALLER_HZ) < 0.05 * meanSquare(right!), 'right is not the caller');
});

test('recordSession across a 300 ms stall of the pod: every frame the caller sent is in the recording, once and in order', async (t) => {
  const r = plivo.Response();
  r.addRecord({ recordSession: true, callbackUrl: `${rig.answer.url}/stall-cb` });
  r.addWait({ length: 3 });
  const before = stored.length;
  const marked = markedToneFrames(256);
  // Each frame is known by its first samples (the marks); decode the table once.
  const byMark = new Map(marked.map((f, k) => { const pcm = ulawDecode(f); return [`${pcm[0]},${pcm[4]}`, k] as const; }));
  rig.answer.route('/answer', r.toXML());
  const uac = await rig.caller();
  assert.equal((await uac.invite(rig.pod.sipPort, APP_ID)).status, 200);
  uac.startSending(cycle(marked));
  const callUuid = rig.answer.requests.filter((q) => q.path === '/answer').at(-1)!.params.CallUUID!;
  await new Promise((res) => setTimeout(res, 1200));
  const logs0 = rig.logs().length;
  // The pod runs in this process: a busy loop here is a stall there. The caller's sender, held up
  // too, catches up afterwards, so the pod gets the missed packets late, in a burst.
  const until = Date.now() + 300;
  while (Date.now() < until) { /* blocked */ }
  const cb = await rig.answer.waitFor('/stall-cb', (q) => q.params.CallUUID === callUuid, 20_000);
  assert.ok(rig.logs().slice(logs0).some((l) => l.msg === 'media clock stalled; calls paused'), 'the pod stalled');
  assert.equal(stored.length, before + 1);
  const [left] = channels(stored.at(-1)!.body);
  const ks: number[] = [];
  let silent = 0;
  for (let off = 0; off + 160 <= left!.length; off += 160) {
    // A tick that came before the caller's delayed packets did is silence on the caller's side.
    if (left!.subarray(off, off + 160).every((v) => v === 0)) { silent++; continue; }
    const k = byMark.get(`${left![off]},${left![off + 4]}`);
    if (k !== undefined) ks.push(k);
  }
  const breaks = ks.slice(1).map((k, i) => ({ at: i + 1, from: ks[i]!, to: k })).filter((b) => b.to !== ((b.from + 1) & 0xff));
  t.diagnostic(`${ks.length} caller frames and ${silent} silent ones in ${left!.length / 160} recorded; breaks ${JSON.stringify(breaks)}`);
  assert.ok(ks.length >= 140, `${ks.length} caller frames recorded in a 3 s Wait`);
  assert.deepEqual(breaks, [], 'the caller\'s frames follow each other without a gap or a repeat');
  assert.ok(silent <= 10, `${silent} silent frames on the caller's side`);
  assert.ok(Math.abs(left!.length / 8 - Number(cb.params.RecordingDurationMs)) <= 40);
});
