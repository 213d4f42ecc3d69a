import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setImmediate as tick } from 'node:timers/promises';
import { FakeClock } from '../clock.js';
import { rms } from '../audio/test-fixtures.js';
import { SpeechError } from './engine.js';
import { FliteSpeechEngine } from './flite-engine.js';
import { recordingLogger } from './test-logger.js';

test('flite speaks "Hello from sipflow" with both voices, off the main thread', async () => {
  const log = recordingLogger();
  const engine = new FliteSpeechEngine({ logger: log });
  try {
    const woman = await engine.synthesize('Hello from sipflow', { voice: 'WOMAN', language: 'en-US' });
    assert.equal(woman.sampleRate, 16000);
    const seconds = woman.pcm.length / woman.sampleRate;
    assert.ok(seconds > 0.7 && seconds < 4, `implausible duration ${seconds} s`);
    assert.ok(rms(woman.pcm) > 500, `speech too quiet: rms ${rms(woman.pcm)}`);

    const man = await engine.synthesize('Hello from sipflow', { voice: 'MAN', language: 'en-GB' });
    assert.equal(man.sampleRate, 16000);
    assert.ok(man.pcm.length / man.sampleRate > 0.7);
    assert.ok(rms(man.pcm) > 500);
    assert.notDeepEqual(man.pcm, woman.pcm, 'MAN and WOMAN are different voices');

    // Polly voices are not available: the default (female) voice speaks, with a debug note.
    const polly = await engine.synthesize('Hello from sipflow', { voice: 'Polly.Joanna', language: 'en-US' });
    assert.deepEqual(polly.pcm, woman.pcm);
    assert.ok(log.entries.some((e) => e.level === 'debug' && e.fields.requested === 'Polly.Joanna'));

    // Other languages: spoken with the English voice, logged once per language.
    await engine.synthesize('Hola', { voice: 'WOMAN', language: 'es-ES' });
    await engine.synthesize('Adios', { voice: 'WOMAN', language: 'es-ES' });
    assert.equal(log.entries.filter((e) => e.level === 'warn' && e.fields.language === 'es-ES').length, 1);

    const blank = await engine.synthesize(' \n\t ', { voice: 'WOMAN', language: 'en-US' });
    assert.equal(blank.pcm.length, 0);
  } finally {
    await engine.close();
  }
});

test('text length, queue depth and closed state are enforced with typed errors', async () => {
  const engine = new FliteSpeechEngine({ maxTextLength: 20, maxQueue: 1 });
  const isCause = (cause: string) => (e: unknown): boolean => e instanceof SpeechError && e.cause === cause;
  try {
    await assert.rejects(engine.synthesize('x'.repeat(21), { voice: 'WOMAN', language: 'en-US' }), isCause('text_too_long'));
    // The first request waits in the queue while the worker starts, so the second finds it full.
    const first = engine.synthesize('one', { voice: 'WOMAN', language: 'en-US' });
    await assert.rejects(engine.synthesize('two', { voice: 'WOMAN', language: 'en-US' }), isCause('overloaded'));
    assert.ok((await first).pcm.length > 0);
  } finally {
    await engine.close();
  }
  await assert.rejects(engine.synthesize('three', { voice: 'WOMAN', language: 'en-US' }), isCause('unavailable'));
});

test('a synthesis past its deadline is killed and the next request gets a fresh worker', async () => {
  const clock = new FakeClock();
  const engine = new FliteSpeechEngine({ clock, timeoutMs: 10_000, logger: recordingLogger() });
  try {
    const slow = engine.synthesize('This sentence is being synthesized while the clock runs out.', { voice: 'MAN', language: 'en-US' });
    // Wait (bounded) until the job has been handed to a worker, which arms the deadline timer.
    for (let i = 0; i < 10_000 && clock.pending() === 0; i++) await tick();
    assert.equal(clock.pending(), 1);
    clock.advance(10_000);
    await assert.rejects(slow, (e: unknown) => e instanceof SpeechError && e.cause === 'timeout');
    const next = await engine.synthesize('Still here', { voice: 'WOMAN', language: 'en-US' });
    assert.ok(next.pcm.length > 0);
  } finally {
    await engine.close();
  }
});
