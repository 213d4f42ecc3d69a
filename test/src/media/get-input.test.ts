/**
 * Plivo's <GetInput> for key presses through real calls: the answer XML is built with the plivo
 * npm SDK, the in-test caller keys in RFC 4733 digits after hearing the prompt, and the answer
 * server records the action request. Also: no input, log="false" keeping digits out of the
 * pod's logs, and inputType="speech" refused with a cause that says why when the pod has no
 * recognizer (get-input-speech.test.ts has one).
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import plivo from 'plivo';
import { startMediaRig, APP_ID, type MediaRig } from './harness.js';
import { isDigitalSilence, type ReceivedRtp, type TestUac } from './uac.js';

let rig: MediaRig;
before(async () => { rig = await startMediaRig(); });
after(async () => { await rig.close(); });

const SILENCE = Buffer.alloc(160, 0xff);
/** Packets carrying something other than the pod's idle digital silence. */
const sound = (pkts: readonly ReceivedRtp[]): ReceivedRtp[] => pkts.filter((p) => p.payloadType === 0 && !isDigitalSilence(p));

async function call(xml: string): Promise<{ uac: TestUac; uuid: string }> {
  rig.answer.route('/answer', xml);
  const uac = await rig.caller();
  const final = await uac.invite(rig.pod.sipPort, APP_ID);
  assert.equal(final.status, 200, `answered: ${final.status} ${final.reason}`);
  uac.startSending(() => SILENCE);
  const reqs = rig.answer.requests.filter((r) => r.path === '/answer');
  return { uac, uuid: reqs[reqs.length - 1]!.params.CallUUID! };
}

async function hangupOf(uuid: string): Promise<Record<string, string>> {
  return (await rig.answer.waitFor('/hangup', (r) => r.params.CallUUID === uuid, 15_000)).params;
}

test('<GetInput inputType="dtmf"> with a nested <Speak>: the caller\'s 3, 5, # reach the action as InputType=dtmf, Digits=35; its XML runs next', async () => {
  rig.answer.route('/input', '<Response><Hangup/></Response>');
  const r = plivo.Response();
  r.addGetInput({ action: `${rig.answer.url}/input`, method: 'POST', inputType: 'dtmf', executionTimeout: 15, digitEndTimeout: 5 })
    .addSpeak('Please key in your account number, then press the pound key.');
  r.addSpeak('This is never reached.');
  const { uac, uuid } = await call(r.toXML());
  await uac.waitUntil(() => sound(uac.rtpIn).length > 5, 10_000, 'the prompt');
  await uac.sendDtmf('35#');
  const action = await rig.answer.waitFor('/input', (q) => q.params.CallUUID === uuid, 15_000);
  assert.equal(action.params.InputType, 'dtmf');
  assert.equal(action.params.Digits, '35');
  assert.equal(action.params.From !== undefined && action.params.To !== undefined, true, 'the standard call parameters come along');
  await uac.byeFromPod(10_000);
  assert.equal((await hangupOf(uuid)).HangupCauseCode, '4000', 'the action\'s <Hangup/> ended the call');
});

test('<GetInput> with no key pressed within executionTimeout: no action request, the next element plays', async () => {
  const r = plivo.Response();
  r.addGetInput({ action: `${rig.answer.url}/never`, inputType: 'dtmf', executionTimeout: 5 }).addSpeak('Press one.');
  r.addHangup({ reason: 'busy' });
  const { uac, uuid } = await call(r.toXML());
  await uac.byeFromPod(30_000);
  assert.equal((await hangupOf(uuid)).HangupCauseCode, '4000', 'the <Hangup> after the GetInput ended the call');
  assert.ok(!rig.answer.requests.some((q) => q.path === '/never'), 'no action request without input');
});

test('<GetInput log="false">: the digits reach the action but no pod log line carries them', async () => {
  rig.answer.route('/pin', '<Response><Hangup/></Response>');
  const r = plivo.Response();
  r.addGetInput({ action: `${rig.answer.url}/pin`, inputType: 'dtmf', numDigits: 4, log: false }).addSpeak('Your PIN, please.');
  const { uac, uuid } = await call(r.toXML());
  await uac.waitUntil(() => sound(uac.rtpIn).length > 5, 10_000, 'the prompt');
  const before = rig.logs().length;
  await uac.sendDtmf('7094');
  const action = await rig.answer.waitFor('/pin', (q) => q.params.CallUUID === uuid, 15_000);
  assert.equal(action.params.Digits, '7094', 'numDigits=4 ends the input without a finish key');
  await uac.byeFromPod(10_000);
  const lines = rig.logs().slice(before);
  const dtmf = lines.filter((l) => l.msg === 'dtmf received');
  assert.equal(dtmf.length, 4, 'each key press is still logged (debug) ...');
  assert.ok(dtmf.every((l) => !/[0-9]/.test(String(l.digit))), `... without its digit: ${dtmf.map((l) => String(l.digit)).join(', ')}`);
});

test('<GetInput inputType="speech"> on a pod without a recognizer ends the call with 9010, naming the missing recognizer', async () => {
  const r = plivo.Response();
  r.addSpeak('Hello.');
  r.addGetInput({ action: `${rig.answer.url}/speech`, inputType: 'speech' }).addSpeak('Say something.');
  const { uac, uuid } = await call(r.toXML());
  await uac.byeFromPod(10_000);
  const h = await hangupOf(uuid);
  assert.equal(h.HangupCauseCode, '9010');
  const line = rig.logs().find((l) => String(l.detail ?? l.msg).includes('needs a speech recognizer'));
  assert.ok(line, 'the log says why the call ended');
});
