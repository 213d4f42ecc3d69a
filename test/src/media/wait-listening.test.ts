/**
 * <Wait silence="true"> and <Wait beep="true"> on real calls: the in-test caller talks (or plays
 * a voicemail greeting and beep) as RTP, and the prompt after the Wait must start only once the
 * caller has gone quiet (or the beep is over), long before the Wait's length.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import plivo from 'plivo';
import { tone, ulawEncode, wavFile } from './audio.js';
import { startFileServer, startMediaRig, APP_ID, type FileServer, type MediaRig } from './harness.js';
import { isDigitalSilence, type ReceivedRtp } from './uac.js';

let rig: MediaRig;
let files: FileServer;
before(async () => { rig = await startMediaRig(); files = await startFileServer(); });
after(async () => { await files.close(); await rig.close(); });

const SILENCE = Buffer.alloc(160, 0xff);
/** μ-law frames of 400 Hz: the prompt the pod plays after the Wait. */
const PROMPT = tone(400, 8000, { amplitude: 6000 });
const sound = (pkts: readonly ReceivedRtp[]): ReceivedRtp[] => pkts.filter((p) => p.payloadType === 0 && !isDigitalSilence(p));

/** 20 ms μ-law frames of a voice-like signal: two moving partials, about -20 dBFS. */
function talking(frames: number): Buffer[] {
  return Array.from({ length: frames }, (_, f) => {
    const pcm = new Int16Array(160);
    for (let i = 0; i < 160; i++) {
      const n = f * 160 + i;
      pcm[i] = Math.round(4000 * Math.sin(n * 0.31) * Math.sin(n * 0.0127) + 2500 * Math.sin(n * 0.77 + Math.sin(n * 0.002)));
    }
    return ulawEncode(pcm);
  });
}

/**
 * Calls in with `xml`; once the pod answers, the caller sends `script` frame by frame (20 ms each),
 * then digital silence. Resolves with when the last script frame and the first silent frame were
 * sent, and when the first packet of the prompt arrived.
 */
async function callAndWaitForPrompt(xml: string, script: Buffer[]): Promise<{ lastScriptAt: number; scriptEnded: number; promptAt: number }> {
  files.put('/prompt.wav', wavFile(PROMPT), 'audio/wav');
  rig.answer.route('/answer', xml);
  const uac = await rig.caller();
  const final = await uac.invite(rig.pod.sipPort, APP_ID);
  assert.equal(final.status, 200);
  let i = 0;
  let lastScriptAt = 0;
  let scriptEnded = 0;
  uac.startSending(() => {
    if (i < script.length) { lastScriptAt = performance.now(); return script[i++]!; }
    if (scriptEnded === 0) scriptEnded = performance.now();
    return SILENCE;
  });
  const first = await uac.waitUntil(() => sound(uac.rtpIn)[0], 15_000, 'the prompt after the Wait');
  await uac.byeFromPod(15_000);
  return { lastScriptAt, scriptEnded, promptAt: first.at };
}

test('<Wait silence="true">: the caller talks for 1.5 s, then is quiet; the next element starts after minSilence of quiet, not during the talking', async () => {
  const r = plivo.Response();
  r.addWait({ length: 30, silence: true, minSilence: 600 });
  r.addPlay(`${files.url}/prompt.wav`);
  const { lastScriptAt, scriptEnded, promptAt } = await callAndWaitForPrompt(r.toXML(), talking(75));
  assert.ok(scriptEnded > 0 && promptAt > scriptEnded, 'the prompt did not start while the caller was talking');
  // The pod heard the last word no earlier than it was sent, and waits minSilence from there.
  assert.ok(promptAt - lastScriptAt >= 600 - 1, `quiet for ${(promptAt - lastScriptAt).toFixed(0)} ms after the last word before the prompt (minSilence 600)`);
  const line = rig.logs().find((l) => l.msg === 'call ended');
  assert.ok(line, 'the call ended normally after the prompt');
});

test('<Wait beep="true">: a greeting, then a 1 kHz beep; the next element starts once the beep is over', async () => {
  const beep = tone(1000, 8 * 450, { amplitude: 9000 });
  const beepFrames = Array.from({ length: Math.ceil(beep.length / 160) }, (_, f) => ulawEncode(beep.subarray(f * 160, f * 160 + 160)));
  const r = plivo.Response();
  r.addWait({ length: 30, beep: true });
  r.addPlay(`${files.url}/prompt.wav`);
  const { scriptEnded, promptAt } = await callAndWaitForPrompt(r.toXML(), [...talking(100), ...beepFrames]);
  assert.ok(scriptEnded > 0 && promptAt > scriptEnded, 'the prompt came after the beep ended, not during the greeting or the beep');
  assert.ok(rig.logs().some((l) => l.msg === 'Wait: voicemail beep heard'), 'the pod logs the beep');
});
