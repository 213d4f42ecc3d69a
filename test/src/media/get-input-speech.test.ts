/**
 * <GetInput inputType="speech"> through real calls, with a real recognizer: the media pod runs with
 * --speech-recognizer-url pointing at test/python/asr_server.py (CMU PocketSphinx, offline). The
 * caller speaks words synthesized by the pod's own speech engine, as μ-law RTP after some silence;
 * the pod finds the utterance, the recognizer matches it against the GetInput's hints, and the
 * answer server receives the action with InputType=speech and what was said (and, before it, the
 * interim transcripts at interimSpeechResultsCallback).
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { createInterface } from 'node:readline';
import plivo from 'plivo';
import { FliteSpeechEngine } from '@sipflow/media-pod/speech/flite-engine';
import { speechToPcm8k } from '@sipflow/media-pod/speech/engine';
import { repoRoot } from '../support/repo.js';
import { venvPython, venvSkipReason } from '../support/python-venv.js';
import { ulawEncode } from './audio.js';
import { APP_ID, frames160, startMediaRig, type MediaRig } from './harness.js';

const REQUIRED_BY = ['SIPFLOW_REQUIRE_ASR', 'SIPFLOW_REQUIRE_PYTHON_AGENTS'];
const skip = await venvSkipReason('setup-asr.sh', 'the test speech recognizer', REQUIRED_BY);
const T = { timeout: 90_000, skip: skip ?? false };

let asr: ChildProcess | undefined;
let rig: MediaRig;
const results: Array<Record<string, unknown>> = [];
const SILENCE = Buffer.alloc(160, 0xff);
/** What the caller says, as 20 ms μ-law frames. */
const words = new Map<string, Buffer[]>();

async function startRecognizer(): Promise<number> {
  const v = await venvPython('setup-asr.sh');
  if (!('python' in v)) throw new Error(v.problem);
  const child = spawn(v.python, [path.join(repoRoot(), 'test', 'python', 'asr_server.py'), '--port', '0'], { stdio: ['ignore', 'pipe', 'pipe'] });
  asr = child;
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => { stderr = (stderr + d.toString()).slice(-4000); });
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`recognizer did not start: ${stderr}`)), 30_000);
    child.once('exit', (code) => { clearTimeout(t); reject(new Error(`recognizer exited ${code}: ${stderr}`)); });
    createInterface({ input: child.stdout! }).on('line', (line) => {
      if (line.startsWith('LISTENING ')) { clearTimeout(t); resolve(Number(line.slice(10))); }
      if (line.startsWith('RESULT ')) results.push(JSON.parse(line.slice(7)) as Record<string, unknown>);
    });
  });
}

before(async () => {
  if (skip) return;
  const port = await startRecognizer();
  rig = await startMediaRig({ extraArgs: ['--speech-recognizer-url', `ws://127.0.0.1:${port}/asr`] });
  const tts = new FliteSpeechEngine({});
  try {
    for (const [word, voice] of [['support', 'MAN'], ['billing', 'WOMAN']] as const) {
      words.set(word, frames160(ulawEncode(speechToPcm8k(await tts.synthesize(word, { voice, language: 'en-US' })))));
    }
  } finally { await tts.close(); }
});

after(async () => {
  if (skip) return;
  await rig.close();
  asr?.kill('SIGTERM');
});

/** Answers with `xml`, calls in, and from `speakAfterMs` sends `word` between stretches of silence. */
async function callAndSay(xml: string, word: string, speakAfterMs: number): Promise<string> {
  rig.answer.route('/answer', xml);
  const uac = await rig.caller();
  const final = await uac.invite(rig.pod.sipPort, APP_ID);
  assert.equal(final.status, 200);
  const speech = words.get(word)!;
  const lead = Math.round(speakAfterMs / 20);
  let n = 0;
  uac.startSending(() => { const i = n++ - lead; return i >= 0 && i < speech.length ? speech[i]! : SILENCE; });
  const reqs = rig.answer.requests.filter((r) => r.path === '/answer');
  return reqs[reqs.length - 1]!.params.CallUUID!;
}

test('the caller says "support": the action gets InputType=speech, Speech=support and a confidence; its XML runs next', T, async () => {
  rig.answer.route('/speech', '<Response><Hangup/></Response>');
  rig.answer.route('/interim', '');
  const r = plivo.Response();
  r.addGetInput({
    action: `${rig.answer.url}/speech`, inputType: 'speech', hints: 'sales, support, billing', executionTimeout: 15, speechEndTimeout: 'auto',
    interimSpeechResultsCallback: `${rig.answer.url}/interim`,
  })
    .addSpeak('Which department?');
  r.addSpeak('This is never reached.');
  const uuid = await callAndSay(r.toXML(), 'support', 2500);
  const action = await rig.answer.waitFor('/speech', (q) => q.params.CallUUID === uuid, 30_000);
  assert.equal(action.params.InputType, 'speech');
  assert.equal(action.params.Speech, 'support', `recognized: ${JSON.stringify(results.at(-1))}`);
  const confidence = Number(action.params.SpeechConfidenceScore);
  assert.ok(confidence > 0 && confidence <= 1, `SpeechConfidenceScore ${action.params.SpeechConfidenceScore}`);
  assert.equal(action.params.Digits, undefined);
  // The pod sent the utterance, not the whole call: the word is under a second, plus pre-roll and the end-of-speech second.
  const sentMs = Number(results.at(-1)?.audioMs);
  assert.ok(sentMs > 500 && sentMs < 2500, `audio sent to the recognizer: ${sentMs} ms`);
  const hangup = await rig.answer.waitFor('/hangup', (q) => q.params.CallUUID === uuid, 15_000);
  assert.equal(hangup.params.HangupCauseCode, '4000', 'the action\'s <Hangup/> ended the call');
  assert.match(await rig.pod.metrics(), /^sipflow_speech_recognitions_total\{outcome="recognized"\} [1-9]/m);
  // The recognizer reports the transcript so far every 500 ms of audio; the pod relays each one.
  const interims = rig.answer.requests.filter((q) => q.path === '/interim' && q.params.CallUUID === uuid);
  assert.ok(interims.length >= 1, 'at least one interim result');
  assert.deepEqual(interims.map((q) => q.params.SequenceNumber), interims.map((_, i) => String(i + 1)));
  assert.ok(interims.every((q) => q.params.UnstableSpeech !== '' && q.params.StableSpeech !== undefined && Number(q.params.Stability) >= 0));
});

test('"dtmf speech" and another word: "billing" wins as speech; a caller who says nothing gets the next element', T, async () => {
  rig.answer.route('/either', '<Response><Hangup/></Response>');
  const r = plivo.Response();
  r.addGetInput({ action: `${rig.answer.url}/either`, inputType: 'dtmf speech', hints: 'sales,support,billing', redirect: true });
  const uuid = await callAndSay(r.toXML(), 'billing', 500);
  const action = await rig.answer.waitFor('/either', (q) => q.params.CallUUID === uuid, 30_000);
  assert.deepEqual([action.params.InputType, action.params.Speech], ['speech', 'billing']);

  const quiet = plivo.Response();
  quiet.addGetInput({ action: `${rig.answer.url}/never`, inputType: 'speech', hints: 'sales', executionTimeout: 5 });
  quiet.addHangup({ reason: 'busy' });
  const uuid2 = await callAndSay(quiet.toXML(), 'support', 60_000); // speaks long after the window
  const hangup = await rig.answer.waitFor('/hangup', (q) => q.params.CallUUID === uuid2, 30_000);
  assert.equal(hangup.params.HangupCauseCode, '4000');
  assert.ok(!rig.answer.requests.some((q) => q.path === '/never'), 'no action without speech');
});
