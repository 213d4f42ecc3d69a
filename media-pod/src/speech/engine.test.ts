import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CachingSpeechEngine, FallbackSpeechEngine, SpeechError, speechToPcm8k, type SpeechEngine, type SpeechOptions, type SynthesizedSpeech } from './engine.js';
import { chooseFliteVoice, isEnglish } from './voices.js';

class CountingEngine implements SpeechEngine {
  calls: Array<[string, SpeechOptions]> = [];
  async synthesize(text: string, opts: SpeechOptions): Promise<SynthesizedSpeech> {
    this.calls.push([text, opts]);
    await Promise.resolve();
    return { pcm: Int16Array.from({ length: 1600 }, (_, i) => (i % 2 ? 1000 : -1000) * (text.length % 3 + 1)), sampleRate: 16000 };
  }
}

test('CachingSpeechEngine: hits by (voice, language, text), stores 8 kHz, shares concurrent syntheses', async () => {
  const inner = new CountingEngine();
  const engine = new CachingSpeechEngine(inner, { maxTotalSamples: 2000 });
  const opts = { voice: 'WOMAN', language: 'en-US' };
  const [a, b] = await Promise.all([engine.synthesize('Press one', opts), engine.synthesize('Press one', opts)]);
  assert.equal(inner.calls.length, 1);
  assert.equal(a.sampleRate, 8000);
  assert.equal(a.pcm.length, 800);
  assert.equal(a.pcm, b.pcm);
  const c = await engine.synthesize('Press one', opts);
  assert.equal(c.pcm, a.pcm);
  assert.equal(inner.calls.length, 1);
  assert.equal(engine.cacheStats().hits, 1);
  await engine.synthesize('Press one', { voice: 'MAN', language: 'en-US' });
  await engine.synthesize('Press one', { voice: 'WOMAN', language: 'en-GB' });
  assert.equal(inner.calls.length, 3, 'voice and language are part of the key');
  // Budget of 2000 samples at 8 kHz holds two 800-sample prompts: the oldest was evicted.
  assert.equal(engine.cacheStats().entries, 2);
  await engine.synthesize('Press one', opts);
  assert.equal(inner.calls.length, 4);
});

test('speechToPcm8k passes 8 kHz through and resamples the rest', () => {
  const pcm = new Int16Array(160);
  assert.equal(speechToPcm8k({ pcm, sampleRate: 8000 }), pcm);
  assert.equal(speechToPcm8k({ pcm: new Int16Array(22050), sampleRate: 22050 }).length, 8000);
});

test('Plivo voices map onto flite voices', () => {
  assert.deepEqual(chooseFliteVoice('WOMAN'), { voice: 'slt' });
  assert.deepEqual(chooseFliteVoice('man'), { voice: 'rms' });
  assert.deepEqual(chooseFliteVoice('awb'), { voice: 'awb' });
  assert.deepEqual(chooseFliteVoice('Polly.Matthew'), { voice: 'slt', substitution: 'polly_voice' });
  assert.deepEqual(chooseFliteVoice('Robot'), { voice: 'slt', substitution: 'unknown_voice' });
  assert.equal(isEnglish('en-US'), true);
  assert.equal(isEnglish('en_IN'), true);
  assert.equal(isEnglish('es-ES'), false);
  assert.equal(isEnglish('eng'), false);
});

test('FallbackSpeechEngine: the primary while it works; the fallback (reported) when it fails; a too-long text is not retried', async () => {
  const fallback = new CountingEngine();
  let mode: 'ok' | 'down' | 'long' = 'ok';
  const primary: SpeechEngine = {
    synthesize: (text) => mode === 'ok' ? Promise.resolve({ pcm: new Int16Array([7, 7]), sampleRate: 8000 })
      : Promise.reject(mode === 'down' ? new SpeechError('unavailable', 'connection refused') : new SpeechError('text_too_long', `${text.length} chars`)),
  };
  const reported: string[] = [];
  const e = new FallbackSpeechEngine(primary, fallback, (err) => reported.push(err.message));
  const opts = { voice: 'WOMAN', language: 'en-US' };
  assert.deepEqual([...(await e.synthesize('hi', opts)).pcm], [7, 7]);
  assert.equal(fallback.calls.length, 0);
  mode = 'down';
  assert.equal((await e.synthesize('hi', opts)).pcm.length, 1600);
  assert.deepEqual(fallback.calls, [['hi', opts]]);
  assert.deepEqual(reported, ['connection refused']);
  mode = 'long';
  await assert.rejects(e.synthesize('very long', opts), (err: unknown) => err instanceof SpeechError && err.cause === 'text_too_long');
  assert.equal(fallback.calls.length, 1);
});
