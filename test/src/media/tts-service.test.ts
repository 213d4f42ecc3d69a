/**
 * <Speak> through an external TTS service (--tts-url), with real calls: the pod posts the text,
 * voice and language with the configured Authorization header, and the caller hears what the
 * service returned (here a 16 kHz WAV of a 440 Hz tone, so it is told apart from any voice). When
 * the service fails, the built-in voice speaks instead, the call goes on, and the fallback is
 * logged and counted; the service's prompts are cached, the fallback's are not mixed in.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import plivo from 'plivo';
import { tone, toneShare, ulawDecode, wavFile } from './audio.js';
import { APP_ID, startMediaRig, type MediaRig } from './harness.js';
import { isDigitalSilence, type ReceivedRtp } from './uac.js';

interface TtsRequest { body: Record<string, unknown>; authorization: string | undefined }

let rig: MediaRig;
let server: http.Server;
const requests: TtsRequest[] = [];
let failing = false;
const TONE_WAV = wavFile(tone(440, 16000 * 1.2, { rate: 16000, amplitude: 9000 }), 16000);

before(async () => {
  server = http.createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (d: string) => { body += d; });
    req.on('end', () => {
      requests.push({ body: JSON.parse(body) as Record<string, unknown>, authorization: req.headers.authorization });
      if (failing) { res.writeHead(503).end('overloaded'); return; }
      res.writeHead(200, { 'content-type': 'audio/wav' }).end(TONE_WAV);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/synthesize`;
  rig = await startMediaRig({ extraArgs: ['--tts-url', url, '--tts-authorization', 'Bearer test-key-123'] });
});

after(async () => {
  await rig.close();
  await new Promise<void>((r) => server.close(() => r()));
});

const heard = (pkts: readonly ReceivedRtp[]): Int16Array[] => pkts.filter((p) => p.payloadType === 0 && !isDigitalSilence(p)).map((p) => ulawDecode(p.payload));

async function speakCall(text: string): Promise<{ frames: Int16Array[]; uuid: string }> {
  const r = plivo.Response();
  r.addSpeak(text, { voice: 'MAN', language: 'en-GB' });
  rig.answer.route('/answer', r.toXML());
  const uac = await rig.caller();
  const final = await uac.invite(rig.pod.sipPort, APP_ID);
  assert.equal(final.status, 200);
  uac.startSending(() => Buffer.alloc(160, 0xff));
  await uac.byeFromPod(20_000);
  const reqs = rig.answer.requests.filter((q) => q.path === '/answer');
  return { frames: heard(uac.rtpIn), uuid: reqs[reqs.length - 1]!.params.CallUUID! };
}

test('the service makes the prompt: text, voice and language posted with the Authorization header; the caller hears its audio', async () => {
  const before = requests.length;
  const { frames } = await speakCall('Welcome to the service desk.');
  assert.equal(requests.length, before + 1);
  assert.deepEqual(requests.at(-1), { body: { text: 'Welcome to the service desk.', voice: 'MAN', language: 'en-GB' }, authorization: 'Bearer test-key-123' });
  const toneFrames = frames.filter((f) => toneShare(f, 440) > 0.8);
  assert.ok(toneFrames.length >= 50, `the service's 1.2 s tone reached the caller: ${toneFrames.length} of ${frames.length} frames`);
  // The same prompt again comes from the cache.
  await speakCall('Welcome to the service desk.');
  assert.equal(requests.length, before + 1, 'a repeated prompt is not synthesized twice');
  assert.ok(!rig.logs().some((l) => JSON.stringify(l).includes('test-key-123')), 'the key is never logged');
});

test('a failing service: the built-in voice speaks instead, the call ends normally, the fallback is logged and counted', async () => {
  failing = true;
  try {
    const { frames, uuid } = await speakCall('Please hold while we connect you.');
    assert.ok(frames.length >= 40, `the built-in voice spoke: ${frames.length} frames`);
    assert.ok(frames.filter((f) => toneShare(f, 440) > 0.8).length < 5, 'not the service\'s audio');
    const hangup = await rig.answer.waitFor('/hangup', (q) => q.params.CallUUID === uuid, 15_000);
    assert.equal(hangup.params.HangupCauseCode, '4010', 'the document ran to its end');
    const warn = rig.logs().find((l) => l.msg === 'TTS service failed; the built-in voice speaks instead');
    assert.match(String(warn?.error), /503/);
    assert.match(await rig.pod.metrics(), /^sipflow_tts_fallbacks_total\{cause="failed"\} [1-9]/m);
  } finally { failing = false; }
  // The service is back: the fallback's audio was not cached as the service's.
  const { frames } = await speakCall('Please hold while we connect you.');
  assert.ok(frames.filter((f) => toneShare(f, 440) > 0.8).length >= 50, 'the service speaks again once it is back');
});
