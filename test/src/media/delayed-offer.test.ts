/**
 * INVITEs without SDP (delayed offer, as some PBXs and SBCs send them): the pod puts its offer in
 * the 200 OK and takes the caller's answer from the ACK. Checked with real calls from the in-test
 * caller: media flows both ways after the ACK, PreAnswer is skipped (no early media without an
 * offer), and an ACK without an answer ends the call with a BYE and a cause that says why.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import plivo from 'plivo';
import { markedToneFrames, ulawDecode } from './audio.js';
import { APP_ID, cycle, startMediaRig, type MediaRig } from './harness.js';
import type { ReceivedRtp } from './uac.js';

let rig: MediaRig;
before(async () => { rig = await startMediaRig(); });
after(async () => { await rig.close(); });

const audio = (pkts: readonly ReceivedRtp[]): ReceivedRtp[] => pkts.filter((p) => p.payloadType === 0);
const voiced = (p: ReceivedRtp): boolean => ulawDecode(p.payload).some((s) => Math.abs(s) > 256);

async function hangupOf(callUuid: string): Promise<Record<string, string>> {
  return (await rig.answer.waitFor('/hangup', (r) => r.params.CallUUID === callUuid, 20_000)).params;
}

function lastCallUuid(): string {
  const reqs = rig.answer.requests.filter((r) => r.path === '/answer');
  return reqs[reqs.length - 1]?.params.CallUUID ?? '';
}

test('INVITE without SDP: the 200 OK carries our offer (PCMU, PCMA, telephone-event), the ACK\'s answer starts media, <Speak> is heard', async () => {
  const r = plivo.Response();
  r.addSpeak('Delayed offer works.');
  rig.answer.route('/answer', r.toXML());
  const uac = await rig.caller();
  const final = await uac.invite(rig.pod.sipPort, APP_ID, { delayedOffer: 'answer-in-ack' });
  assert.equal(final.status, 200);
  const offer = final.body.toString('utf8');
  assert.match(offer, /^m=audio \d+ RTP\/AVP 0 8 101\r?$/m, offer);
  assert.match(offer, /^a=rtpmap:101 telephone-event\/8000\r?$/m);
  assert.match(offer, /^a=sendrecv\r?$/m);
  const uuid = lastCallUuid();
  await uac.byeFromPod(30_000);
  const heard = audio(uac.rtpIn);
  assert.ok(heard.filter(voiced).length >= 10, `${heard.filter(voiced).length} voiced PCMU frames of the Speak`);
  assert.equal((await hangupOf(uuid)).HangupCauseCode, '4010');
  const applied = rig.logs().find((l) => l.msg === 'SDP answer from the ACK applied' && l.callUuid === uuid);
  assert.equal(applied?.codec, 'PCMU');
});

test('INVITE without SDP into a bidirectional <Stream>: the caller\'s audio reaches the agent and the agent\'s comes back', async () => {
  const r = plivo.Response();
  r.addStream(`${rig.agent.baseUrl}/agent`, { bidirectional: true, keepCallAlive: true, contentType: 'audio/x-mulaw;rate=8000' });
  rig.answer.route('/answer', r.toXML());
  const uac = await rig.caller();
  const connecting = rig.agent.nextConnection(15_000);
  const final = await uac.invite(rig.pod.sipPort, APP_ID, { delayedOffer: 'answer-in-ack' });
  assert.equal(final.status, 200);
  const conn = await connecting;
  await conn.waitForEvent('start');
  const frames = markedToneFrames(25);
  uac.startSending(cycle(frames, 25));
  await conn.waitFor(() => conn.byEvent('media').filter((m) => {
    const p = Buffer.from(String((m.json!.media as Record<string, unknown>).payload), 'base64');
    return frames.some((f) => f.equals(p));
  }).length >= 20, 10_000);
  const mark = uac.rtpIn.length;
  conn.playAudio(Buffer.concat(frames.slice(0, 10)));
  await uac.waitUntil(() => audio(uac.rtpIn.slice(mark)).filter(voiced).length >= 10 || undefined, 10_000, 'the agent\'s audio at the caller');
  await uac.bye();
});

test('INVITE without SDP and <PreAnswer>: no 183 (there is no offer to answer yet), the PreAnswer is skipped and the rest of the XML runs', async () => {
  const r = plivo.Response();
  r.addPreAnswer().addSpeak('early words that cannot be heard');
  r.addSpeak('After the answer.');
  rig.answer.route('/answer', r.toXML());
  const uac = await rig.caller();
  const final = await uac.invite(rig.pod.sipPort, APP_ID, { delayedOffer: 'answer-in-ack' });
  assert.equal(final.status, 200);
  assert.equal(uac.responsesWith(183).length, 0, 'no 183 Session Progress');
  const uuid = lastCallUuid();
  await uac.byeFromPod(30_000);
  assert.ok(audio(uac.rtpIn).filter(voiced).length >= 10, 'the Speak after the PreAnswer was heard');
  assert.ok(rig.logs().some((l) => String(l.msg).startsWith('PreAnswer skipped') && l.callUuid === uuid), 'the log says why');
});

test('INVITE without SDP and an ACK without an answer: the pod hangs up with a BYE, cause 9050, and sends no media', async () => {
  rig.answer.route('/answer', '<Response><Speak>never heard</Speak></Response>');
  const uac = await rig.caller();
  const final = await uac.invite(rig.pod.sipPort, APP_ID, { delayedOffer: 'no-answer-in-ack' });
  assert.equal(final.status, 200);
  const uuid = lastCallUuid();
  const bye = await uac.byeFromPod(15_000);
  assert.match(bye.request.headers.find((h) => h.name.toLowerCase() === 'reason')?.value ?? '', /No Usable SDP Answer/i);
  const h = await hangupOf(uuid);
  assert.equal(h.HangupCauseCode, '9050');
  assert.equal(h.HangupCauseName, 'No Usable SDP Answer');
  assert.equal(audio(uac.rtpIn).length, 0, 'no RTP without a negotiated destination');
});
