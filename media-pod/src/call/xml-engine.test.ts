/**
 * Unit tests of the XML engine against a scripted CallControl stand-in: what it asks the call to
 * do, in which order, for GetDigits, GetInput, PreAnswer, scheduled Hangup, Stream, loops, redirects and
 * failures. No sockets; time is a FakeClock.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FakeClock } from '../clock.js';
import { recordingLogger } from '../speech/test-logger.js';
import type { CallControl, DigitCollection, FrameSource, HangupCause, StreamHandle, XmlFetchResult } from './control.js';
import { XmlEngine } from './xml-engine.js';
import type { InterimResult, RecognitionOptions, RecognitionResult, RecognitionSession, SpeechRecognizer } from '../speech/recognizer.js';
import type { FinishedRecording, RecordingSink, RecordingStore } from '../recording/store.js';

interface LabeledSource extends FrameSource { label: string }

function labeled(label: string, frames = 1): LabeledSource {
  let n = frames;
  return { label, pullFrame: () => (n-- > 0 ? new Int16Array(160) : null) };
}

interface Fetch { url: string; method: string; extra: Record<string, string>; purpose: string }

/** Digits a caller "presses" for one collectDigits(): a string per next(), null = that wait times out. */
type DigitScript = Array<string | null>;

class ScriptedDigits implements DigitCollection {
  closed = false;
  constructor(private readonly script: DigitScript, private readonly timeouts: number[],
    private readonly onWait: (timeoutMs: number, digit: string | null) => void, private readonly promptPlaying: () => Promise<void>) {}
  next(timeoutMs: number): Promise<string | null> {
    this.timeouts.push(timeoutMs);
    const d = this.script.length > 0 ? this.script.shift() ?? null : null;
    this.onWait(timeoutMs, d);
    return Promise.resolve(d);
  }
  pending(): number { let n = 0; while (typeof this.script[n] === 'string') n++; return n; }
  /** A digit at the head of the script is pressed once a prompt is playing (barge-in). */
  whenAny(): Promise<void> { return typeof this.script[0] === 'string' ? this.promptPlaying() : new Promise(() => {}); }
  close(): void { this.closed = true; }
}

/** A call that records what the engine asked of it and answers from scripts. */
class ScriptedCall implements CallControl {
  readonly callUuid = '00000000-0000-4000-8000-000000000001';
  answered = false;
  readonly events: string[] = [];
  readonly fetches: Fetch[] = [];
  readonly digitTimeouts: number[] = [];
  readonly digitScripts: DigitScript[] = [];
  readonly collectors: ScriptedDigits[] = [];
  /** The redact option of every collectDigits(), in order. */
  readonly redactions: boolean[] = [];
  /** Called with each wait's timeout before a digit (or null) is taken (lets a test move a clock). */
  onDigitWait: ((timeoutMs: number, digit: string | null) => void) | undefined;
  /** What fetchXml returns per URL (a function can vary the answer per call). */
  readonly documents = new Map<string, string | ((f: Fetch) => XmlFetchResult)>();
  readonly brokenAudio = new Set<string>();
  /** When true, play() blocks until interrupted (call ended or `until` aborted). */
  playBlocks = false;
  /** When true, only unlabeled sources (silence, as <Wait> plays) block like that. */
  silenceBlocks = false;
  /** Listeners of the caller's audio (listen()). */
  readonly listeners = new Set<(pcm: Int16Array) => void>();
  speechRecognizer: SpeechRecognizer | undefined;
  recordings: RecordingStore | undefined;
  /** Recording taps (record()). */
  readonly taps = new Set<(caller: Int16Array, played: Int16Array) => void>();
  /** Ends the call after this many plays (for infinite loops). */
  endAfterPlays = Infinity;
  ended: HangupCause | undefined;
  rejected: { status: number; reason: string } | undefined;
  stream: { verb: unknown; close: (by: 'agent' | 'platform' | 'error') => void } | undefined;
  private plays = 0;
  private earlyMedia = false;
  private readonly playingWaiters: Array<() => void> = [];
  private readonly ac = new AbortController();

  get signal(): AbortSignal { return this.ac.signal; }

  answer(): Promise<void> { if (!this.answered) { this.answered = true; this.events.push('answer'); } return Promise.resolve(); }
  noEarlyMedia = false;
  preAnswer(): Promise<boolean> {
    if (this.noEarlyMedia) return Promise.resolve(false);
    if (!this.earlyMedia) { this.earlyMedia = true; this.events.push('preAnswer'); }
    return Promise.resolve(true);
  }

  /** Peak sample of every unlabeled source played (0 for silence), in order. */
  readonly peaks: number[] = [];

  async play(source: FrameSource, until?: AbortSignal): Promise<boolean> {
    if (this.signal.aborted || until?.aborted) return false;
    const label = (source as Partial<LabeledSource>).label;
    if (this.playBlocks || (this.silenceBlocks && label === undefined)) {
      this.events.push(`play:${label ?? 'silence'}`);
      for (const w of this.playingWaiters.splice(0)) w();
      await new Promise<void>((resolve) => {
        this.signal.addEventListener('abort', () => resolve(), { once: true });
        until?.addEventListener('abort', () => resolve(), { once: true });
      });
      return false;
    }
    if (label === undefined) {
      let frames = 0;
      let peak = 0;
      for (let f = source.pullFrame(); f && frames < 1_000_000; f = source.pullFrame(), frames++) {
        for (const v of f) peak = Math.max(peak, Math.abs(v));
      }
      this.peaks.push(peak);
      this.events.push(peak === 0 ? `silence:${frames * 20}ms` : `tone:${frames * 20}ms`);
    } else {
      while (source.pullFrame()) { /* a labeled source is drained, its frames not looked at */ }
      this.events.push(`play:${label}`);
    }
    await Promise.resolve();
    if (++this.plays >= this.endAfterPlays) this.hangup({ code: 4000, name: 'Normal Hangup', legacy: 'NORMAL_CLEARING', source: 'Caller' });
    return !this.signal.aborted && !until?.aborted;
  }

  speech(text: string): Promise<FrameSource> { return Promise.resolve(labeled(`speak:${text}`)); }

  audioFile(url: string): Promise<FrameSource> {
    return this.brokenAudio.has(url) ? Promise.reject(new Error(`cannot fetch ${url}`)) : Promise.resolve(labeled(`file:${url}`));
  }

  collectDigits(opts?: { redact?: boolean }): DigitCollection {
    this.redactions.push(opts?.redact === true);
    const c = new ScriptedDigits(this.digitScripts.shift() ?? [], this.digitTimeouts, (ms, d) => this.onDigitWait?.(ms, d),
      () => new Promise<void>((resolve) => { this.playingWaiters.push(resolve); }));
    this.collectors.push(c);
    this.events.push('collect');
    return c;
  }

  sendDtmf(digits: string): Promise<void> { this.events.push(`dtmf:${digits}`); return Promise.resolve(); }

  readonly notifications: Array<{ url: string; method: string; extra: Record<string, string>; purpose: string }> = [];
  notify(url: string, method: 'GET' | 'POST', extra: Record<string, string>, purpose: string): void {
    this.notifications.push({ url, method, extra, purpose });
  }

  startStream(verb: unknown): Promise<StreamHandle> {
    this.events.push('stream');
    let close!: (by: 'agent' | 'platform' | 'error') => void;
    const closed = new Promise<{ by: 'agent' | 'platform' | 'error' }>((resolve) => { close = (by) => resolve({ by }); });
    this.stream = { verb, close };
    return Promise.resolve({ closed });
  }

  fetchXml(url: string, method: 'GET' | 'POST', extra: Record<string, string>, purpose: 'redirect' | 'action'): Promise<XmlFetchResult> {
    const f = { url, method, extra, purpose };
    this.fetches.push(f);
    this.events.push(`fetch:${purpose}:${url}`);
    const doc = this.documents.get(url);
    if (doc === undefined) return Promise.resolve({ ok: false, cause: 'http_status', detail: `404 from ${url}` });
    return Promise.resolve(typeof doc === 'string' ? { ok: true, xml: doc } : doc(f));
  }

  hangup(cause: HangupCause): void {
    if (this.ended) return;
    this.ended = cause;
    this.events.push(`hangup:${cause.code}`);
    this.ac.abort();
  }

  reject(status: number, reason: string, cause: HangupCause): void {
    this.rejected = { status, reason };
    this.events.push(`reject:${status}`);
    this.hangup(cause);
  }

  sleep(ms: number): Promise<boolean> { this.events.push(`sleep:${ms}`); return Promise.resolve(!this.signal.aborted); }

  listen(onAudio: (pcm: Int16Array) => void): () => void {
    this.listeners.add(onAudio);
    this.events.push('listen');
    return () => { if (this.listeners.delete(onAudio)) this.events.push('unlisten'); };
  }

  record(onFrame: (caller: Int16Array, played: Int16Array) => void): () => void {
    this.taps.add(onFrame);
    this.events.push('record');
    return () => { if (this.taps.delete(onFrame)) this.events.push('unrecord'); };
  }

  /** `count` 20 ms ticks of the recording taps: the caller's `caller(n)` and the played `played(n)`. */
  tick(clock: FakeClock, count: number, caller: (n: number) => number, played: (n: number) => number = () => 0): void {
    for (let f = 0; f < count; f++) {
      const c = new Int16Array(160); const p = new Int16Array(160);
      for (let i = 0; i < 160; i++) { c[i] = Math.round(caller(f * 160 + i)); p[i] = Math.round(played(f * 160 + i)); }
      for (const t of this.taps) t(c, p);
      clock.advance(20);
    }
  }

  /** The caller sends `count` 20 ms frames of `fn(sampleIndex)`, the clock moving 20 ms per frame. */
  hear(clock: FakeClock, count: number, fn: (n: number) => number): void {
    for (let f = 0; f < count; f++) {
      const pcm = new Int16Array(160);
      for (let i = 0; i < 160; i++) pcm[i] = Math.round(fn(f * 160 + i));
      for (const l of this.listeners) l(pcm);
      clock.advance(20);
    }
  }
}

/** A recording store in memory: each sink keeps its samples; `fail` makes storing fail. */
class MemoryStore implements RecordingStore {
  readonly sinks: MemorySink[] = [];
  fail = false;
  start(id: string, channels: 1 | 2): MemorySink { const s = new MemorySink(id, channels, this); this.sinks.push(s); return s; }
}

class MemorySink implements RecordingSink {
  readonly samples: number[] = [];
  finished = false;
  constructor(readonly id: string, readonly channels: 1 | 2, private readonly store: MemoryStore) {}
  get durationMs(): number { return (this.samples.length / this.channels) / 8; }
  write(pcm: Int16Array): void { assert.equal(this.channels, 1); for (const v of pcm) this.samples.push(v); }
  writeStereo(l: Int16Array, r: Int16Array): void { assert.equal(this.channels, 2); for (let i = 0; i < l.length; i++) this.samples.push(l[i]!, r[i]!); }
  finish(): Promise<FinishedRecording> {
    this.finished = true;
    return this.store.fail ? Promise.reject(new Error('the recording store answered 503')) : Promise.resolve({ url: `http://store/rec/${this.id}.wav`, durationMs: this.durationMs });
  }
}

const doc = (body: string): string => `<?xml version="1.0" encoding="utf-8"?><Response>${body}</Response>`;

async function run(call: ScriptedCall, xml: string, clock = new FakeClock()): Promise<ReturnType<typeof recordingLogger>> {
  const logger = recordingLogger();
  await new XmlEngine(call, logger, clock).run(xml);
  return logger;
}

/** Lets pending promise callbacks run (the engine awaits between verbs). */
async function settle(): Promise<void> { for (let i = 0; i < 20; i++) await new Promise<void>((r) => setImmediate(r)); }

// ---------- document flow ----------

test('verbs run in order after answering; the end of the document hangs up with 4010 from Answer XML', async () => {
  const call = new ScriptedCall();
  await run(call, doc('<Speak>one</Speak><Play>http://x/a.wav</Play><Wait length="2"/><DTMF>12w</DTMF>'));
  assert.deepEqual(call.events, ['answer', 'play:speak:one', 'play:file:http://x/a.wav', 'silence:2000ms', 'dtmf:12w', 'hangup:4010']);
  assert.equal(call.ended?.source, 'Answer XML');
  assert.equal(call.ended?.name, 'End Of XML Instructions');
});

test('an empty <Response/> ends the call at once with 4010 and never answers', async () => {
  const call = new ScriptedCall();
  await run(call, doc(''));
  assert.deepEqual(call.events, ['hangup:4010']);
});

test('<Wait> as the first element sleeps before answering; later Waits play silence on the answered call', async () => {
  const call = new ScriptedCall();
  await run(call, doc('<Wait length="3"/><Speak>hi</Speak><Wait length="1"/>'));
  assert.deepEqual(call.events, ['sleep:3000', 'answer', 'play:speak:hi', 'silence:1000ms', 'hangup:4010']);
});

// ---------- Wait silence / beep ----------

const voiceLike = (n: number): number => 4000 * Math.sin(n * 0.31) * Math.sin(n * 0.0127) + 2500 * Math.sin(n * 0.77);
const beep1k = (n: number): number => 8000 * Math.sin((2 * Math.PI * 1000 * n) / 8000);

test('Wait silence="true": ends once the caller has made no sound for minSilence ms, not while they talk', async () => {
  const clock = new FakeClock();
  const call = new ScriptedCall();
  call.silenceBlocks = true;
  const done = run(call, doc('<Speak>hello</Speak><Wait length="30" silence="true" minSilence="1000"/><Speak>after</Speak>'), clock);
  await settle();
  assert.deepEqual(call.events, ['answer', 'play:speak:hello', 'listen', 'play:silence']);
  call.hear(clock, 100, voiceLike); // 2 s of talking: longer than minSilence, the wait goes on
  // The last voiced frame arrived 20 ms ago; then 800 ms of digital silence, then no packets at
  // all for 170 ms: 990 ms without sound.
  call.hear(clock, 40, () => 0);
  clock.advance(170);
  await settle();
  assert.ok(!call.events.includes('play:speak:after'), 'still waiting 10 ms short of minSilence');
  clock.advance(10);
  await done;
  assert.deepEqual(call.events.slice(3), ['play:silence', 'unlisten', 'play:speak:after', 'hangup:4010']);
});

test('Wait silence="true" as the first element answers first (it needs the caller\'s audio); a silent caller ends it after minSilence', async () => {
  const clock = new FakeClock();
  const call = new ScriptedCall();
  call.silenceBlocks = true;
  const done = run(call, doc('<Wait length="10" silence="true"/><Speak>go</Speak>'), clock);
  await settle();
  assert.deepEqual(call.events, ['answer', 'listen', 'play:silence']);
  clock.advance(2000); // minSilence defaults to 2000 ms
  await done;
  assert.deepEqual(call.events, ['answer', 'listen', 'play:silence', 'unlisten', 'play:speak:go', 'hangup:4010']);
});

test('Wait beep="true": ends when a voicemail beep is over, not on the greeting before it', async () => {
  const clock = new FakeClock();
  const call = new ScriptedCall();
  call.silenceBlocks = true;
  const done = run(call, doc('<Speak>x</Speak><Wait length="30" beep="true"/><Speak>leave a message</Speak>'), clock);
  await settle();
  call.hear(clock, 150, voiceLike); // 3 s of greeting
  call.hear(clock, 25, beep1k); // a 500 ms beep
  await settle();
  assert.ok(!call.events.includes('play:speak:leave a message'), 'the beep is still sounding');
  call.hear(clock, 1, () => 0);
  await done;
  assert.deepEqual(call.events.slice(-3), ['unlisten', 'play:speak:leave a message', 'hangup:4010']);
});

test('Wait beep="true" with no beep and Wait without listening attributes: the full length as silence', async () => {
  const call = new ScriptedCall();
  await run(call, doc('<Speak>x</Speak><Wait length="2" beep="true"/><Wait length="1"/>'));
  assert.deepEqual(call.events, ['answer', 'play:speak:x', 'listen', 'silence:2000ms', 'unlisten', 'silence:1000ms', 'hangup:4010']);
});

test('loop counts: Speak loop=3 plays three times, Play loop=2 twice, loop=0 repeats until the call ends', async () => {
  const call = new ScriptedCall();
  await run(call, doc('<Speak loop="3">again</Speak><Play loop="2">http://x/b.mp3</Play>'));
  assert.deepEqual(call.events.filter((e) => e.startsWith('play:')), [
    'play:speak:again', 'play:speak:again', 'play:speak:again', 'play:file:http://x/b.mp3', 'play:file:http://x/b.mp3',
  ]);
  const forever = new ScriptedCall();
  forever.endAfterPlays = 7;
  await run(forever, doc('<Speak loop="0">forever</Speak><Speak>never</Speak>'));
  assert.equal(forever.events.filter((e) => e === 'play:speak:forever').length, 7);
  assert.ok(!forever.events.includes('play:speak:never'));
  assert.equal(forever.ended?.code, 4000, 'the caller ended it, not the engine');
});

test('a Play whose file cannot be fetched is skipped and the next element runs', async () => {
  const call = new ScriptedCall();
  call.brokenAudio.add('http://x/missing.wav');
  const log = await run(call, doc('<Play>http://x/missing.wav</Play><Speak>after</Speak>'));
  assert.deepEqual(call.events, ['answer', 'play:speak:after', 'hangup:4010']);
  assert.ok(log.entries.some((e) => e.msg === 'Play failed; continuing with the next element'));
});

// ---------- Hangup ----------

test('<Hangup/> first rejects without answering: 603 Decline by default (3020), 486 Busy Here for reason="busy" (3010)', async () => {
  const rejected = new ScriptedCall();
  await run(rejected, doc('<Hangup/><Speak>never</Speak>'));
  assert.deepEqual(rejected.rejected, { status: 603, reason: 'Decline' });
  assert.equal(rejected.ended?.code, 3020);
  assert.ok(!rejected.events.includes('answer'));
  const busy = new ScriptedCall();
  await run(busy, doc('<Hangup reason="busy"/>'));
  assert.deepEqual(busy.rejected, { status: 486, reason: 'Busy Here' });
  assert.equal(busy.ended?.code, 3010);
  assert.equal(busy.ended?.source, 'Answer XML');
});

test('<Hangup/> after answering hangs up with 4000 from Answer XML; later elements do not run', async () => {
  const call = new ScriptedCall();
  await run(call, doc('<Speak>bye</Speak><Hangup/><Speak>never</Speak>'));
  assert.deepEqual(call.events, ['answer', 'play:speak:bye', 'hangup:4000']);
  assert.equal(call.ended?.source, 'Answer XML');
});

test('scheduled Hangup: later elements keep running and the call ends with 6000 when the schedule is due', async () => {
  const clock = new FakeClock();
  const call = new ScriptedCall();
  call.playBlocks = true;
  const done = run(call, doc('<Hangup schedule="5"/><Speak>long prompt</Speak><Speak>never</Speak>'), clock);
  await settle();
  assert.deepEqual(call.events, ['answer', 'play:speak:long prompt']);
  clock.advance(4999);
  assert.ok(!call.events.some((e) => e.startsWith('hangup:')), 'not yet');
  clock.advance(1);
  await done;
  assert.equal(call.ended?.code, 6000);
  assert.equal(call.ended?.name, 'Scheduled Hangup');
  assert.ok(!call.events.includes('play:speak:never'));
  assert.equal(clock.pending(), 0);
});

test('a scheduled Hangup is cancelled when the document ends first (4010, nothing fires later)', async () => {
  const clock = new FakeClock();
  const call = new ScriptedCall();
  await run(call, doc('<Hangup schedule="30"/><Speak>short</Speak>'), clock);
  assert.equal(call.ended?.code, 4010);
  assert.equal(clock.pending(), 0);
});

// ---------- PreAnswer ----------

test('PreAnswer: early media before the 200, then the rest of the document answers the call', async () => {
  const call = new ScriptedCall();
  await run(call, doc('<PreAnswer><Speak>early</Speak><Wait length="1"/></PreAnswer><Speak>late</Speak>'));
  assert.deepEqual(call.events, ['preAnswer', 'play:speak:early', 'silence:1000ms', 'answer', 'play:speak:late', 'hangup:4010']);
});

test('PreAnswer on a call that cannot have early media (no SDP in the INVITE): skipped, the rest runs', async () => {
  const call = new ScriptedCall();
  call.noEarlyMedia = true;
  await run(call, doc('<PreAnswer><Speak>early</Speak></PreAnswer><Speak>late</Speak>'));
  assert.deepEqual(call.events, ['answer', 'play:speak:late', 'hangup:4010']);
});

test('PreAnswer alone: the call is never answered and ends with 4010', async () => {
  const call = new ScriptedCall();
  await run(call, doc('<PreAnswer><Speak>early only</Speak></PreAnswer>'));
  assert.deepEqual(call.events, ['preAnswer', 'play:speak:early only', 'hangup:4010']);
});

// ---------- GetDigits ----------

test('GetDigits with no input: waits `timeout` seconds (default 5), then continues with the next element', async () => {
  const call = new ScriptedCall();
  await run(call, doc('<GetDigits action="http://x/act"><Speak>press</Speak></GetDigits><Speak>no input</Speak>'));
  assert.deepEqual(call.digitTimeouts, [5000]);
  assert.deepEqual(call.fetches, []);
  assert.deepEqual(call.events, ['answer', 'collect', 'play:speak:press', 'play:speak:no input', 'hangup:4010']);
  assert.ok(call.collectors.every((c) => c.closed));
  const custom = new ScriptedCall();
  await run(custom, doc('<GetDigits timeout="3"/>'));
  assert.deepEqual(custom.digitTimeouts, [3000]);
});

test('GetDigits finishOnKey: digits before the key go to the action as Digits (the key excluded); digitTimeout between digits', async () => {
  const call = new ScriptedCall();
  call.digitScripts.push(['1', '2', '#', '9']);
  call.documents.set('http://x/act', doc('<Speak>got it</Speak>'));
  await run(call, doc('<GetDigits action="http://x/act" timeout="4" digitTimeout="2"><Speak>press</Speak></GetDigits><Speak>skipped</Speak>'));
  assert.deepEqual(call.digitTimeouts, [4000, 2000, 2000]);
  assert.deepEqual(call.fetches, [{ url: 'http://x/act', method: 'POST', extra: { Digits: '12' }, purpose: 'action' }]);
  // redirect defaults to true: the action's XML replaces the document.
  assert.deepEqual(call.events.slice(-2), ['play:speak:got it', 'hangup:4010']);
  assert.ok(!call.events.includes('play:speak:skipped'));
});

test('GetDigits finishOnKey="none": # is an ordinary digit', async () => {
  const call = new ScriptedCall();
  call.digitScripts.push(['1', '#', null]);
  await run(call, doc('<GetDigits action="http://x/act" method="GET" finishOnKey="none" redirect="false"/>'));
  assert.deepEqual(call.fetches.map((f) => [f.method, f.extra.Digits]), [['GET', '1#']]);
});

test('GetDigits numDigits: collection stops at that many digits', async () => {
  const call = new ScriptedCall();
  call.digitScripts.push(['4', '5', '6', '7']);
  await run(call, doc('<GetDigits action="http://x/act" numDigits="3" redirect="false"/>'));
  assert.equal(call.fetches[0]?.extra.Digits, '456');
  assert.equal(call.digitTimeouts.length, 3, 'no fourth wait');
});

test('GetDigits validDigits: an invalid key plays invalidDigitsSound and retries; the retry succeeds', async () => {
  const call = new ScriptedCall();
  call.digitScripts.push(['1', '9'], [null, '2', '#']);
  call.documents.set('http://x/act', doc('<Speak>thanks</Speak>'));
  // Attempt 1: 1 is valid, 9 is not, so the attempt fails; attempt 2 times out before any key.
  await run(call, doc('<GetDigits action="http://x/act" validDigits="123" retries="2" invalidDigitsSound="http://x/invalid.wav"><Speak>menu</Speak></GetDigits><Speak>fell through</Speak>'));
  assert.ok(call.events.includes('play:file:http://x/invalid.wav'));
  assert.equal(call.events.filter((e) => e === 'collect').length, 2);
  // Both attempts used up without valid input: the next element runs.
  assert.deepEqual(call.fetches, []);
  assert.ok(call.events.includes('play:speak:fell through'));

  const ok = new ScriptedCall();
  ok.digitScripts.push(['9'], ['3', '#']);
  ok.documents.set('http://x/act', doc('<Speak>thanks</Speak>'));
  await run(ok, doc('<GetDigits action="http://x/act" validDigits="123" retries="2"/>'));
  assert.deepEqual(ok.fetches.map((f) => f.extra.Digits), ['3']);
  assert.ok(ok.events.includes('play:speak:thanks'));
});

test('GetDigits retries: with no input the prompt is replayed `retries` times, then the next element runs', async () => {
  const call = new ScriptedCall();
  await run(call, doc('<GetDigits action="http://x/act" retries="3"><Speak>menu</Speak></GetDigits><Speak>goodbye</Speak>'));
  assert.equal(call.events.filter((e) => e === 'play:speak:menu').length, 3);
  assert.deepEqual(call.digitTimeouts, [5000, 5000, 5000]);
  assert.deepEqual(call.events.slice(-2), ['play:speak:goodbye', 'hangup:4010']);
});

test('GetDigits redirect="false": the action URL is requested and execution continues after the GetDigits', async () => {
  const call = new ScriptedCall();
  call.digitScripts.push(['7', '#']);
  call.documents.set('http://x/act', doc('<Speak>ignored</Speak>'));
  await run(call, doc('<GetDigits action="http://x/act" redirect="false"/><Speak>continued</Speak>'));
  assert.deepEqual(call.fetches.map((f) => [f.url, f.extra.Digits, f.purpose]), [['http://x/act', '7', 'action']]);
  assert.ok(call.events.includes('play:speak:continued'));
  assert.ok(!call.events.includes('play:speak:ignored'));
});

test('GetDigits without action: digits are collected and the document continues', async () => {
  const call = new ScriptedCall();
  call.digitScripts.push(['5', '#']);
  await run(call, doc('<GetDigits/><Speak>next</Speak>'));
  assert.deepEqual(call.fetches, []);
  assert.ok(call.events.includes('play:speak:next'));
});

test('GetDigits barge-in: a key pressed during the prompt cuts the prompt short', async () => {
  const call = new ScriptedCall();
  call.playBlocks = true;
  call.digitScripts.push(['1', '#']);
  call.documents.set('http://x/act', doc('<Hangup/>'));
  await run(call, doc('<GetDigits action="http://x/act"><Speak>long menu</Speak><Speak>second prompt</Speak></GetDigits>'));
  assert.ok(call.events.includes('play:speak:long menu'));
  assert.ok(!call.events.includes('play:speak:second prompt'), 'later prompts skipped after barge-in');
  assert.equal(call.fetches[0]?.extra.Digits, '1');
  assert.equal(call.ended?.code, 4000);
});

test('GetDigits action that fails (redirect=true) ends the call with 8012', async () => {
  const call = new ScriptedCall();
  call.digitScripts.push(['1', '#']);
  await run(call, doc('<GetDigits action="http://x/gone"/>'));
  assert.equal(call.ended?.code, 8012);
  assert.match(call.ended?.detail ?? '', /http:\/\/x\/gone/);
});

test('GetDigits playBeep: a tone after the prompts, before the wait for digits; none after a barge-in; log="false" redacts', async () => {
  const call = new ScriptedCall();
  await run(call, doc('<GetDigits action="http://x/act" playBeep="true" log="false"><Speak>menu</Speak></GetDigits>'));
  assert.deepEqual(call.events, ['answer', 'collect', 'play:speak:menu', 'tone:260ms', 'hangup:4010']);
  assert.ok(call.peaks[0]! > 4000 && call.peaks[0]! < 9000, `a clear beep below full scale (peak ${call.peaks[0]})`);
  assert.deepEqual(call.redactions, [true]);

  const barged = new ScriptedCall();
  barged.playBlocks = true;
  barged.digitScripts.push(['5', '#']);
  await run(barged, doc('<GetDigits action="http://x/act" playBeep="true" redirect="false"><Speak>menu</Speak></GetDigits>'));
  assert.ok(!barged.events.some((e) => e.startsWith('play:silence') || e.startsWith('tone:')), barged.events.join(' '));
  assert.equal(barged.fetches[0]?.extra.Digits, '5');
  assert.deepEqual(barged.redactions, [false]);
});

// ---------- GetInput ----------

test('GetInput dtmf: prompts, then digits until finishOnKey go to the action with InputType=dtmf; digitEndTimeout auto is 5 s', async () => {
  const call = new ScriptedCall();
  call.digitScripts.push(['4', '2', '#', '9']);
  call.documents.set('http://x/in', doc('<Speak>thanks</Speak>'));
  await run(call, doc('<GetInput action="http://x/in" inputType="dtmf"><Speak>enter your code</Speak></GetInput><Speak>skipped</Speak>'));
  assert.deepEqual(call.fetches, [{ url: 'http://x/in', method: 'POST', extra: { InputType: 'dtmf', Digits: '42' }, purpose: 'action' }]);
  // executionTimeout (default 15 s) for the first digit, then the auto gap between digits.
  assert.deepEqual(call.digitTimeouts, [15000, 5000, 5000]);
  assert.deepEqual(call.events, ['answer', 'collect', 'play:speak:enter your code', 'fetch:action:http://x/in', 'play:speak:thanks', 'hangup:4010']);
  assert.ok(call.collectors.every((c) => c.closed));
  assert.deepEqual(call.redactions, [false]);
});

test('GetInput numDigits, finishOnKey="none", digitEndTimeout, method and redirect="false"', async () => {
  const call = new ScriptedCall();
  call.digitScripts.push(['1', '#', '3', '4']);
  await run(call, doc('<GetInput action="http://x/in" method="GET" inputType="dtmf" numDigits="3" finishOnKey="none" digitEndTimeout="3" executionTimeout="20" redirect="false" log="false"/><Speak>continued</Speak>'));
  assert.deepEqual(call.fetches.map((f) => [f.method, f.extra.Digits, f.extra.InputType]), [['GET', '1#3', 'dtmf']]);
  assert.deepEqual(call.digitTimeouts, [20000, 3000, 3000]);
  assert.deepEqual(call.events.slice(-2), ['play:speak:continued', 'hangup:4010']);
  assert.deepEqual(call.redactions, [true], 'log="false" keeps the digits out of the logs');
});

test('GetInput with no input within executionTimeout: no action request, the next element runs', async () => {
  const call = new ScriptedCall();
  await run(call, doc('<GetInput action="http://x/in" inputType="dtmf" executionTimeout="7"><Play>http://x/menu.wav</Play></GetInput><Speak>no input</Speak>'));
  assert.deepEqual(call.digitTimeouts, [7000]);
  assert.deepEqual(call.fetches, []);
  assert.deepEqual(call.events, ['answer', 'collect', 'play:file:http://x/menu.wav', 'play:speak:no input', 'hangup:4010']);
});

test('GetInput executionTimeout bounds the whole input: a caller still typing at the deadline is cut off and what they typed is sent', async () => {
  const clock = new FakeClock();
  const call = new ScriptedCall();
  // Each digit arrives 4 s after the wait began; the 5 s execution window ends during the second wait.
  call.digitScripts.push(['1', '2', '3']);
  call.onDigitWait = (ms, d) => clock.advance(d === null ? ms : Math.min(ms, 4000));
  await run(call, doc('<GetInput action="http://x/in" inputType="dtmf" executionTimeout="5" digitEndTimeout="10" redirect="false"/>'), clock);
  assert.deepEqual(call.digitTimeouts, [5000, 1000]);
  assert.equal(call.fetches[0]?.extra.Digits, '12');
});

test('GetInput barge-in: a key during the prompts stops them; the key counts as input', async () => {
  const call = new ScriptedCall();
  call.playBlocks = true;
  call.digitScripts.push(['7', null]);
  call.documents.set('http://x/in', doc('<Hangup/>'));
  await run(call, doc('<GetInput action="http://x/in" inputType="dtmf"><Speak>long menu</Speak><Speak>more</Speak></GetInput>'));
  assert.ok(!call.events.includes('play:speak:more'));
  assert.equal(call.fetches[0]?.extra.Digits, '7');
  assert.equal(call.ended?.code, 4000);
});

test('GetInput speech without a recognizer: refused with 9010 naming the missing recognizer; "dtmf speech" collects digits with a warning', async () => {
  const speech = new ScriptedCall();
  await run(speech, doc('<Speak>hello</Speak>\n<GetInput action="http://x/in" inputType="speech"/>'));
  assert.equal(speech.ended?.code, 9010);
  assert.match(speech.ended?.detail ?? '', /<GetInput inputType="speech"> \(line 2\) needs a speech recognizer/);
  assert.deepEqual(speech.fetches, []);

  const both = new ScriptedCall();
  both.digitScripts.push(['9', '#']);
  const log = await run(both, doc('<GetInput action="http://x/in" inputType="dtmf speech" redirect="false"/>'));
  assert.deepEqual(both.fetches[0]?.extra, { InputType: 'dtmf', Digits: '9' });
  assert.ok(log.entries.some((e) => e.level === 'warn' && /no speech recognizer/.test(e.msg) && e.fields.inputType === 'dtmf speech'));
});

/** A recognizer that records what it was sent and answers `result` when the utterance ends. */
class ScriptedRecognizer implements SpeechRecognizer {
  readonly sessions: Array<{ opts: RecognitionOptions; peaks: number[]; finished: boolean; aborted: boolean }> = [];
  result: RecognitionResult | undefined = { text: 'talk to sales', confidence: 0.8765 };
  /** Sent as interim results after this many frames each (frame count → result). */
  readonly interims = new Map<number, InterimResult>();
  start(opts: RecognitionOptions, onInterim?: (r: InterimResult) => void): RecognitionSession {
    const s = { opts, peaks: [] as number[], finished: false, aborted: false };
    this.sessions.push(s);
    return {
      write: (pcm) => {
        let p = 0; for (const v of pcm) p = Math.max(p, Math.abs(v));
        s.peaks.push(p);
        const i = this.interims.get(s.peaks.length);
        if (i) onInterim?.(i);
      },
      finish: () => { s.finished = true; return Promise.resolve(this.result); },
      abort: () => { s.aborted = true; },
    };
  }
}

const speechLike = (n: number): number => 6000 * Math.sin((2 * Math.PI * 220 * n) / 8000);

test('GetInput speech: the utterance from its onset (with pre-roll) to speechEndTimeout of quiet goes to the recognizer; the text to the action', async () => {
  const clock = new FakeClock();
  const call = new ScriptedCall();
  const rec = new ScriptedRecognizer();
  call.speechRecognizer = rec;
  call.documents.set('http://x/in', doc('<Speak>routing you</Speak>'));
  const done = run(call, doc('<GetInput action="http://x/in" inputType="speech" hints="sales, support ,, billing" language="en-GB" speechEndTimeout="2"><Speak>how can I help</Speak></GetInput><Speak>skipped</Speak>'), clock);
  await settle();
  assert.deepEqual(call.events, ['answer', 'collect', 'listen', 'play:speak:how can I help']);
  call.hear(clock, 20, () => 0); // 400 ms of silence: no utterance yet
  assert.equal(rec.sessions.length, 0);
  call.hear(clock, 2, speechLike); // a 40 ms blip is not speech
  call.hear(clock, 5, () => 0);
  assert.equal(rec.sessions.length, 0, 'too short to be speech');
  call.hear(clock, 50, speechLike); // 1 s of speech
  assert.equal(rec.sessions.length, 1);
  assert.deepEqual(rec.sessions[0]!.opts, { language: 'en-GB', hints: ['sales', 'support', 'billing'], speechModel: 'default', profanityFilter: false });
  call.hear(clock, 98, () => 0); // 1.98 s since the last voiced frame arrived: not yet
  await settle();
  assert.equal(rec.sessions[0]!.finished, false);
  call.hear(clock, 1, () => 0);
  await done;
  const s = rec.sessions[0]!;
  assert.equal(s.finished, true);
  assert.equal(s.aborted, false);
  // 15 frames of pre-roll (the end of the silence, the blip and the onset), then the rest of the
  // speech and the quiet after it.
  assert.equal(s.peaks.length, 15 + 47 + 99);
  assert.ok(s.peaks.slice(12, 62).every((p) => p > 5000), 'the speech itself');
  assert.ok(s.peaks.slice(0, 12).some((p) => p > 5000) && s.peaks.slice(0, 12).some((p) => p === 0), 'the pre-roll holds what came just before');
  assert.deepEqual(call.fetches, [{ url: 'http://x/in', method: 'POST', extra: { InputType: 'speech', Speech: 'talk to sales', SpeechConfidenceScore: '0.877' }, purpose: 'action' }]);
  assert.deepEqual(call.events.slice(-4), ['unlisten', 'fetch:action:http://x/in', 'play:speak:routing you', 'hangup:4010']);
});

test('GetInput speech: executionTimeout cuts a long utterance off and sends it; with no speech at all, or nothing recognized, the next element runs', async () => {
  const clock = new FakeClock();
  const call = new ScriptedCall();
  const rec = new ScriptedRecognizer();
  call.speechRecognizer = rec;
  const done = run(call, doc('<GetInput action="http://x/in" inputType="speech" executionTimeout="5" redirect="false"/><Speak>next</Speak>'), clock);
  await settle();
  call.hear(clock, 300, speechLike); // 6 s of talking against a 5 s window
  await done;
  assert.equal(rec.sessions[0]?.finished, true);
  assert.ok(rec.sessions[0]!.peaks.length <= 250, `no audio after the deadline: ${rec.sessions[0]!.peaks.length} frames`);
  assert.equal(call.fetches[0]?.extra.Speech, 'talk to sales');

  const quiet = new ScriptedCall();
  quiet.speechRecognizer = new ScriptedRecognizer();
  const clock2 = new FakeClock();
  const done2 = run(quiet, doc('<GetInput action="http://x/in" inputType="speech" executionTimeout="5"/><Speak>no input</Speak>'), clock2);
  await settle();
  clock2.advance(5000);
  await done2;
  assert.deepEqual(quiet.fetches, []);
  assert.deepEqual(quiet.events.slice(-3), ['unlisten', 'play:speak:no input', 'hangup:4010']);

  const unrecognized = new ScriptedCall();
  const rec3 = new ScriptedRecognizer();
  rec3.result = { text: '', confidence: 0 };
  unrecognized.speechRecognizer = rec3;
  const clock3 = new FakeClock();
  const done3 = run(unrecognized, doc('<GetInput action="http://x/in" inputType="speech"/><Speak>sorry</Speak>'), clock3);
  await settle();
  unrecognized.hear(clock3, 30, speechLike);
  unrecognized.hear(clock3, 60, () => 0);
  await done3;
  assert.deepEqual(unrecognized.fetches, []);
  assert.deepEqual(unrecognized.events.slice(-2), ['play:speak:sorry', 'hangup:4010']);
});

test('GetInput interimSpeechResultsCallback gets each transcript in progress, numbered; none without the attribute', async () => {
  const clock = new FakeClock();
  const call = new ScriptedCall();
  const rec = new ScriptedRecognizer();
  rec.interims.set(20, { stable: '', unstable: 'talk', stability: 0.3 });
  rec.interims.set(40, { stable: 'talk', unstable: 'to sales', stability: 0.81234 });
  call.speechRecognizer = rec;
  const done = run(call, doc('<GetInput action="http://x/in" inputType="speech" redirect="false" interimSpeechResultsCallback="http://x/interim" interimSpeechResultsCallbackMethod="GET"/>'), clock);
  await settle();
  call.hear(clock, 50, speechLike);
  call.hear(clock, 60, () => 0);
  await done;
  assert.deepEqual(call.notifications, [
    { url: 'http://x/interim', method: 'GET', extra: { StableSpeech: '', UnstableSpeech: 'talk', Stability: '0.3', SequenceNumber: '1' }, purpose: 'interim-speech' },
    { url: 'http://x/interim', method: 'GET', extra: { StableSpeech: 'talk', UnstableSpeech: 'to sales', Stability: '0.812', SequenceNumber: '2' }, purpose: 'interim-speech' },
  ]);
  assert.equal(call.fetches[0]?.extra.Speech, 'talk to sales');

  const plain = new ScriptedCall();
  const rec2 = new ScriptedRecognizer();
  rec2.interims.set(20, { stable: '', unstable: 'talk', stability: 0.3 });
  plain.speechRecognizer = rec2;
  const clock2 = new FakeClock();
  const done2 = run(plain, doc('<GetInput action="http://x/in" inputType="speech" redirect="false"/>'), clock2);
  await settle();
  plain.hear(clock2, 50, speechLike);
  plain.hear(clock2, 60, () => 0);
  await done2;
  assert.deepEqual(plain.notifications, []);
});

test('GetInput speech barge-in: speaking during the prompts stops them, and the utterance is the input', async () => {
  const clock = new FakeClock();
  const call = new ScriptedCall();
  const rec = new ScriptedRecognizer();
  call.speechRecognizer = rec;
  call.playBlocks = true;
  const done = run(call, doc('<GetInput action="http://x/in" inputType="speech" redirect="false"><Speak>a long menu</Speak><Speak>more options</Speak></GetInput>'), clock);
  await settle();
  assert.deepEqual(call.events, ['answer', 'collect', 'listen', 'play:speak:a long menu']);
  call.hear(clock, 30, speechLike); // the caller talks over the menu
  await settle();
  assert.ok(!call.events.includes('play:speak:more options'), 'the prompts stopped at the onset');
  call.hear(clock, 50, () => 0);
  await done;
  assert.equal(rec.sessions.length, 1);
  assert.equal(call.fetches[0]?.extra.Speech, 'talk to sales');
});

test('GetInput "dtmf speech": a key before any speech makes it digit input; the recognizer is never started', async () => {
  const call = new ScriptedCall();
  const rec = new ScriptedRecognizer();
  call.speechRecognizer = rec;
  call.playBlocks = true;
  call.digitScripts.push(['5', '#']);
  call.documents.set('http://x/in', doc('<Hangup/>'));
  await run(call, doc('<GetInput action="http://x/in" inputType="dtmf speech"><Speak>say or press</Speak></GetInput>'));
  assert.equal(rec.sessions.length, 0);
  assert.deepEqual(call.fetches[0]?.extra, { InputType: 'dtmf', Digits: '5' });
});

test('GetInput speech: the call ending mid-utterance aborts the recognition and requests nothing', async () => {
  const clock = new FakeClock();
  const call = new ScriptedCall();
  const rec = new ScriptedRecognizer();
  call.speechRecognizer = rec;
  const done = run(call, doc('<GetInput action="http://x/in" inputType="speech"/>'), clock);
  await settle();
  call.hear(clock, 20, speechLike);
  call.hangup({ code: 4000, name: 'Normal Hangup', legacy: 'NORMAL_CLEARING', source: 'Caller' });
  await done;
  assert.equal(rec.sessions[0]?.aborted, true);
  assert.deepEqual(call.fetches, []);
});

test('GetInput action that fails (redirect=true) ends the call with 8012', async () => {
  const call = new ScriptedCall();
  call.digitScripts.push(['1', '#']);
  await run(call, doc('<GetInput action="http://x/gone" inputType="dtmf"/>'));
  assert.equal(call.ended?.code, 8012);
  assert.match(call.ended?.detail ?? '', /GetInput action http:\/\/x\/gone failed/);
});

// ---------- Redirect ----------

test('Redirect replaces the document; invalid XML from a redirect ends with 8014, from an action with 8012', async () => {
  const call = new ScriptedCall();
  call.documents.set('http://x/two', doc('<Speak>second</Speak>'));
  await run(call, doc('<Redirect method="GET">http://x/two</Redirect><Speak>never</Speak>'));
  assert.deepEqual(call.events, ['fetch:redirect:http://x/two', 'answer', 'play:speak:second', 'hangup:4010']);
  assert.equal(call.fetches[0]?.method, 'GET');

  const bad = new ScriptedCall();
  bad.documents.set('http://x/bad', '<Response><Speak>x</Speek></Response>');
  const log = await run(bad, doc('<Redirect>http://x/bad</Redirect>'));
  assert.equal(bad.ended?.code, 8014);
  assert.match(bad.ended?.detail ?? '', /^line 1: /);
  assert.ok(log.entries.some((e) => e.msg === 'invalid XML' && e.fields.origin === 'redirect' && e.fields.line === 1));

  const badAction = new ScriptedCall();
  badAction.digitScripts.push(['1', '#']);
  badAction.documents.set('http://x/act', 'not xml at all');
  await run(badAction, doc('<GetDigits action="http://x/act"/>'));
  assert.equal(badAction.ended?.code, 8012);

  const unreachable = new ScriptedCall();
  await run(unreachable, doc('<Redirect>http://x/nowhere</Redirect>'));
  assert.equal(unreachable.ended?.code, 8014);
  assert.match(unreachable.ended?.detail ?? '', /http:\/\/x\/nowhere/);
});

test('a redirect loop stops after 20 documents with 8011 and a detail naming the loop', async () => {
  const call = new ScriptedCall();
  call.documents.set('http://x/loop', doc('<Redirect>http://x/loop</Redirect>'));
  await run(call, doc('<Redirect>http://x/loop</Redirect>'));
  assert.equal(call.ended?.code, 8011);
  assert.match(call.ended?.detail ?? '', /more than 20 XML documents/);
  assert.equal(call.fetches.length, 20, 'the answer document plus 19 redirects, then the 20th fetched document is refused');
});

// ---------- Stream ----------

test('Stream keepCallAlive="true": later elements wait until the WebSocket closes', async () => {
  const call = new ScriptedCall();
  const done = run(call, doc('<Stream keepCallAlive="true" bidirectional="true" contentType="audio/x-mulaw;rate=8000">wss://agent.example/ws</Stream><Speak>after stream</Speak>'));
  await settle();
  assert.deepEqual(call.events, ['answer', 'stream']);
  assert.equal((call.stream?.verb as { url: string }).url, 'wss://agent.example/ws');
  call.stream!.close('agent');
  await done;
  assert.deepEqual(call.events, ['answer', 'stream', 'play:speak:after stream', 'hangup:4010']);
});

test('Stream keepCallAlive="false" (default): the next element runs at once while the stream is open', async () => {
  const call = new ScriptedCall();
  await run(call, doc('<Stream>wss://agent.example/ws</Stream><Speak>meanwhile</Speak>'));
  assert.deepEqual(call.events, ['answer', 'stream', 'play:speak:meanwhile', 'hangup:4010']);
});

test('Stream keepCallAlive="true": a caller hangup while streaming ends the engine without running later elements', async () => {
  const call = new ScriptedCall();
  const done = run(call, doc('<Stream keepCallAlive="true">wss://agent.example/ws</Stream><Speak>never</Speak>'));
  await settle();
  call.hangup({ code: 4000, name: 'Normal Hangup', legacy: 'NORMAL_CLEARING', source: 'Caller' });
  await done;
  assert.deepEqual(call.events, ['answer', 'stream', 'hangup:4000']);
});

// ---------- unsupported verbs ----------

test('an unsupported verb ends the call with 9010 Verb Not Supported naming the verb and its line', async () => {
  const call = new ScriptedCall();
  await run(call, '<Response>\n  <Speak>hi</Speak>\n  <Dial><Number>15550001111</Number></Dial>\n</Response>');
  assert.equal(call.ended?.code, 9010);
  assert.equal(call.ended?.name, 'Verb Not Supported');
  assert.equal(call.ended?.detail, '<Dial> (line 3) is not supported by sipflow yet');
});

// ---------- Record ----------

test('Record without a recording store: refused with 9010 naming the missing store', async () => {
  const call = new ScriptedCall();
  await run(call, doc('<Speak>leave a message</Speak><Record action="http://app/rec"/>'));
  assert.equal(call.ended?.code, 9010);
  assert.match(call.ended?.detail ?? '', /<Record> \(line 1\) needs a recording store.*--recording-url/);
  assert.equal(call.fetches.length, 0);
});

test('Record: a beep, then the caller until timeout seconds of quiet; stored before the action gets RecordUrl and the timings; callbackUrl hears of it too', async () => {
  const clock = new FakeClock();
  const call = new ScriptedCall();
  const store = new MemoryStore();
  call.recordings = store;
  call.documents.set('http://app/rec', doc('<Speak>thanks</Speak>'));
  const done = run(call, doc('<Record action="http://app/rec" timeout="2" maxLength="30" callbackUrl="http://app/cb" fileFormat="wav"/>'), clock);
  await settle();
  assert.deepEqual(call.events, ['answer', 'tone:260ms', 'collect', 'record']);
  call.tick(clock, 75, voiceLike); // 1.5 s of talking
  call.tick(clock, 98, () => 0); // quiet: 1.98 s since the last voiced tick
  await settle();
  assert.equal(call.fetches.length, 0, 'still recording 20 ms short of the timeout');
  call.tick(clock, 1, () => 0);
  await done;
  assert.deepEqual(call.events.slice(3), ['record', 'unrecord', 'fetch:action:http://app/rec', 'play:speak:thanks', 'hangup:4010']);
  const sink = store.sinks[0]!;
  assert.ok(sink.finished);
  assert.equal(sink.samples.length, 174 * 160, 'every tick recorded, the quiet ones too');
  const extra = call.fetches[0]!.extra;
  assert.equal(extra.RecordUrl, `http://store/rec/${sink.id}.wav`);
  assert.equal(extra.RecordingID, sink.id);
  assert.equal(extra.RecordingDurationMs, '3480');
  assert.equal(extra.RecordingDuration, '3');
  assert.equal(Number(extra.RecordingEndMs) - Number(extra.RecordingStartMs), 3480, 'from the end of the beep to the timeout');
  assert.equal(extra.Digits, '');
  assert.deepEqual(call.notifications.map((n) => [n.url, n.purpose, n.extra.RecordUrl]), [['http://app/cb', 'record-callback', extra.RecordUrl]]);
});

test('Record: the finish key ends it and is sent as Digits; other keys do not; maxLength cuts a caller who goes on', async () => {
  const clock = new FakeClock();
  const call = new ScriptedCall();
  const store = new MemoryStore();
  call.recordings = store;
  call.digitScripts.push(['1', '#']);
  let waits = 0;
  call.onDigitWait = () => { if (waits++ < 2) call.tick(clock, 50, voiceLike); };
  call.documents.set('http://app/rec', doc(''));
  await run(call, doc('<Record action="http://app/rec" playBeep="false" timeout="5"/>'), clock);
  assert.ok(!call.events.some((e) => e.startsWith('tone')), 'no beep');
  assert.equal(call.fetches[0]!.extra.Digits, '#');
  assert.equal(store.sinks[0]!.samples.length, 100 * 160);

  const clock2 = new FakeClock();
  const long = new ScriptedCall();
  const store2 = new MemoryStore();
  long.recordings = store2;
  long.documents.set('http://app/rec', doc(''));
  const done = run(long, doc('<Record action="http://app/rec" maxLength="2" finishOnKey="none"/>'), clock2);
  await settle();
  assert.ok(!long.events.includes('collect'), 'finishOnKey="none" collects no keys');
  long.tick(clock2, 150, voiceLike);
  await done;
  assert.equal(long.fetches[0]!.extra.RecordingDurationMs, '2000');
  assert.equal(store2.sinks[0]!.samples.length, 100 * 160);
});

test('Record: a store that fails loses the message with a log line, the action gets an empty RecordUrl, callbackUrl is not called', async () => {
  const clock = new FakeClock();
  const call = new ScriptedCall();
  const store = new MemoryStore();
  store.fail = true;
  call.recordings = store;
  call.documents.set('http://app/rec', doc(''));
  const done = run(call, doc('<Record action="http://app/rec" timeout="1" callbackUrl="http://app/cb"/>'), clock);
  await settle();
  call.tick(clock, 50, () => 0);
  const logger = await done;
  assert.equal(call.fetches[0]!.extra.RecordUrl, '');
  assert.equal(call.notifications.length, 0);
  assert.ok(logger.entries.some((l) => l.msg === 'recording lost: it could not be stored' && /503/.test(String(l.fields.error))));
});

test('Record: a caller who hangs up mid-message still gets it stored; the action hears of it in the background with Digits=hangup', async () => {
  const clock = new FakeClock();
  const call = new ScriptedCall();
  const store = new MemoryStore();
  call.recordings = store;
  const done = run(call, doc('<Record action="http://app/rec" callbackUrl="http://app/cb"/><Speak>never</Speak>'), clock);
  await settle();
  call.tick(clock, 30, voiceLike);
  call.hangup({ code: 4000, name: 'Normal Hangup', legacy: 'NORMAL_CLEARING', source: 'Caller' });
  await done;
  await settle();
  assert.ok(store.sinks[0]!.finished);
  assert.equal(call.fetches.length, 0, 'no XML is fetched for a call that is gone');
  const byPurpose = Object.fromEntries(call.notifications.map((n) => [n.purpose, n]));
  assert.equal(byPurpose['record-action']?.extra.Digits, 'hangup');
  assert.equal(byPurpose['record-action']?.extra.RecordingDurationMs, '600');
  assert.ok(byPurpose['record-callback']);
  assert.ok(!call.events.includes('play:speak:never'));
});

test('Record recordSession: the next element runs at once; caller and played audio go to two channels (or one, mixed) until the call ends, then action and callbackUrl are told', async () => {
  const clock = new FakeClock();
  const call = new ScriptedCall();
  call.playBlocks = true;
  const store = new MemoryStore();
  call.recordings = store;
  const done = run(call, doc('<Record recordSession="true" action="http://app/rec" callbackUrl="http://app/cb"/><Record recordSession="true"/><Speak>hello</Speak>'), clock);
  await settle();
  assert.deepEqual(call.events, ['answer', 'record', 'play:speak:hello'], 'no beep, no wait; the second session recording is ignored');
  assert.equal(store.sinks.length, 1);
  call.tick(clock, 10, () => 1000, () => -2000);
  call.hangup({ code: 4000, name: 'Normal Hangup', legacy: 'NORMAL_CLEARING', source: 'Caller' });
  await done;
  await settle();
  const sink = store.sinks[0]!;
  assert.equal(sink.channels, 2);
  assert.deepEqual(sink.samples.slice(0, 4), [1000, -2000, 1000, -2000], 'left the caller, right what was played');
  assert.equal(sink.durationMs, 200);
  assert.deepEqual(call.notifications.map((n) => n.purpose).sort(), ['record-action', 'record-callback']);
  assert.equal(call.notifications[0]!.extra.RecordingDurationMs, '200');

  const mono = new ScriptedCall();
  mono.playBlocks = true;
  const store2 = new MemoryStore();
  mono.recordings = store2;
  const done2 = run(mono, doc('<Record recordSession="true" recordChannelType="mono"/><Speak>hi</Speak>'), clock);
  await settle();
  mono.tick(clock, 2, () => 30000, () => 10000);
  mono.hangup({ code: 4000, name: 'Normal Hangup', legacy: 'NORMAL_CLEARING', source: 'Caller' });
  await done2;
  await settle();
  assert.equal(store2.sinks[0]!.channels, 1);
  assert.ok(store2.sinks[0]!.samples.every((v) => v === 32767), 'mixed, and clipped rather than wrapped');
});
