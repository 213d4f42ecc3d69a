/**
 * <Stream noiseCancellation="true"> on real calls: the caller sends steady background noise, then
 * noise with a tone standing in for a voice, and the agent must receive the noise well attenuated
 * and the tone intact; the same call without the attribute receives the noise as sent.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { rmsDbfs, tonePower, ulawDecode, ulawEncode } from './audio.js';
import { openStreamCall, startMediaRig, type MediaRig } from './harness.js';

let rig: MediaRig;
before(async () => { rig = await startMediaRig(); });
after(async () => { await rig.close(); });

const NOISE_FRAMES = 150; // 3 s of noise alone
const TONE_FRAMES = 50; // then 1 s of noise with a tone
const TONE_HZ = 600;

/** The caller's frames: white noise at about -36 dBFS, a -16 dBFS 600 Hz tone on top after 3 s. */
function callerFrames(): Buffer[] {
  let seed = 12345;
  const rnd = (): number => { seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0; return seed / 2 ** 32 - 0.5; };
  const frames: Buffer[] = [];
  for (let f = 0; f < NOISE_FRAMES + TONE_FRAMES; f++) {
    const pcm = new Int16Array(160);
    for (let i = 0; i < 160; i++) {
      const n = f * 160 + i;
      const noise = rnd() * 1800; // uniform ±900: RMS about 520, -36 dBFS
      const voice = f >= NOISE_FRAMES ? 7000 * Math.sin((2 * Math.PI * TONE_HZ * n) / 8000) : 0;
      pcm[i] = Math.round(noise + voice);
    }
    frames.push(ulawEncode(pcm));
  }
  return frames;
}

/**
 * Streams the caller's frames to the agent and returns what the agent received over two
 * windows: the last second of noise alone (the suppressor has had 2 s to learn it) and the tone.
 */
async function streamNoise(attrs: string): Promise<{ sentNoiseDb: number; noiseDb: number; toneDb: number; sentToneDb: number }> {
  const xml = `<Response><Stream bidirectional="false" keepCallAlive="true" contentType="audio/x-mulaw;rate=8000" ${attrs}>${rig.agent.baseUrl}/agent</Stream></Response>`;
  const { uac, conn } = await openStreamCall(rig, xml, { sendSilence: false });
  const frames = callerFrames();
  const sentAt: number[] = [];
  let i = 0;
  uac.startSending(() => {
    if (i >= frames.length) return Buffer.alloc(160, 0xff);
    sentAt.push(performance.now());
    return frames[i++]!;
  });
  await uac.waitUntil(() => i >= frames.length && performance.now() - sentAt[sentAt.length - 1]! > 300, 20_000, 'all frames sent');
  const received = (from: number, to: number): Int16Array => {
    const parts = conn.byEvent('media')
      .filter((m) => m.at >= sentAt[from]! && m.at < sentAt[to]!)
      .map((m) => ulawDecode(Buffer.from(String((m.json!.media as Record<string, unknown>).payload), 'base64')));
    const out = new Int16Array(parts.reduce((n, p) => n + p.length, 0));
    let at = 0;
    for (const p of parts) { out.set(p, at); at += p.length; }
    return out;
  };
  const sent = (from: number, to: number): Int16Array => ulawDecode(Buffer.concat(frames.slice(from, to)));
  const noise = received(NOISE_FRAMES - 50, NOISE_FRAMES - 2);
  const tone = received(NOISE_FRAMES + 10, NOISE_FRAMES + TONE_FRAMES - 2);
  assert.ok(noise.length >= 160 * 40 && tone.length >= 160 * 30, `enough audio received (${noise.length}, ${tone.length} samples)`);
  conn.close(1000);
  await uac.byeFromPod(10_000);
  const db = (p: number): number => 10 * Math.log10(p);
  return {
    sentNoiseDb: rmsDbfs(sent(NOISE_FRAMES - 50, NOISE_FRAMES)),
    noiseDb: rmsDbfs(noise),
    sentToneDb: db(tonePower(sent(NOISE_FRAMES + 10, NOISE_FRAMES + TONE_FRAMES), TONE_HZ)),
    toneDb: db(tonePower(tone, TONE_HZ)),
  };
}

test('noiseCancellation="true": steady noise reaches the agent at least 10 dB quieter, a tone over it within 3 dB', async (t) => {
  const r = await streamNoise('noiseCancellation="true"');
  t.diagnostic(`noise sent ${r.sentNoiseDb.toFixed(1)} dBFS, received ${r.noiseDb.toFixed(1)} dBFS; tone power sent ${r.sentToneDb.toFixed(1)} dB, received ${r.toneDb.toFixed(1)} dB`);
  assert.ok(r.noiseDb <= r.sentNoiseDb - 10, `noise attenuated by ${(r.sentNoiseDb - r.noiseDb).toFixed(1)} dB`);
  assert.ok(Math.abs(r.toneDb - r.sentToneDb) <= 3, `tone changed by ${(r.toneDb - r.sentToneDb).toFixed(1)} dB`);
});

test('without noiseCancellation the agent gets the noise as the caller sent it; the level attribute alone changes nothing', async (t) => {
  const r = await streamNoise('noiseCancellationLevel="100"');
  t.diagnostic(`noise sent ${r.sentNoiseDb.toFixed(1)} dBFS, received ${r.noiseDb.toFixed(1)} dBFS`);
  assert.ok(Math.abs(r.noiseDb - r.sentNoiseDb) <= 0.5, `noise level kept (${r.sentNoiseDb.toFixed(1)} → ${r.noiseDb.toFixed(1)} dBFS)`);
});
