/**
 * Compatibility between Plivo's own XML builder (the `plivo` npm SDK) and the media pod's parser:
 * every document the SDK emits must parse, and every attribute must read back with the value given.
 */

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import plivo from 'plivo';
import { parsePlivoXml, type PlivoDocument, type PlivoVerb } from '@sipflow/media-pod/xml/index';

type Attrs = Record<string, string | number | boolean>;

/**
 * The slice of the SDK's element builder these tests use. The SDK types `Response()` as `any`;
 * every element shares one prototype, so children are added to the returned element.
 */
interface SdkElement {
  addSpeak(body: string, attributes?: Attrs): SdkElement;
  addPlay(body: string, attributes?: Attrs): SdkElement;
  addWait(attributes?: Attrs): SdkElement;
  addHangup(attributes?: Attrs): SdkElement;
  addRedirect(body: string, attributes?: Attrs): SdkElement;
  addGetDigits(attributes?: Attrs): SdkElement;
  addGetInput(attributes?: Attrs): SdkElement;
  addPreAnswer(): SdkElement;
  addDTMF(body: string, attributes?: Attrs): SdkElement;
  addStream(body: string, attributes?: Attrs): SdkElement;
  addRecord(attributes?: Attrs): SdkElement;
  addDial(attributes?: Attrs): SdkElement;
  addNumber(body: string, attributes?: Attrs): SdkElement;
  addUser(body: string, attributes?: Attrs): SdkElement;
  addConference(body: string, attributes?: Attrs): SdkElement;
  addMessage(body: string, attributes?: Attrs): SdkElement;
  addMultiPartyCall(body: string, attributes: Attrs): SdkElement;
  addBreak(attributes?: Attrs): SdkElement;
  addEmphasis(body: string, attributes?: Attrs): SdkElement;
  addProsody(body: string, attributes?: Attrs): SdkElement;
  addSayAs(body: string, attributes?: Attrs): SdkElement;
  addS(body: string): SdkElement;
  addP(body: string): SdkElement;
  toXML(): string;
}

function newResponse(): SdkElement {
  return plivo.Response() as SdkElement;
}

function parse(r: SdkElement): PlivoDocument {
  const xml = r.toXML();
  const result = parsePlivoXml(xml);
  if (!result.ok) assert.fail(`SDK XML rejected: ${result.error.message}\n${xml}`);
  return result.document;
}

function single(r: SdkElement): PlivoVerb {
  const doc = parse(r);
  assert.equal(doc.verbs.length, 1);
  const v = doc.verbs[0];
  assert.ok(v !== undefined);
  return v;
}

/** Picks the fields named in `attrs` from the parsed verb, to compare with what was given. */
function readBack(v: PlivoVerb, attrs: Attrs): Attrs {
  const out: Attrs = {};
  const rec = v as unknown as Record<string, unknown>;
  for (const k of Object.keys(attrs)) {
    const value = rec[k];
    if (typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean') out[k] = value;
  }
  return out;
}

describe('plivo SDK Response builder → parsePlivoXml', () => {
  test('Speak: bodies with markup characters, voices, languages, loops', () => {
    const bodies = ['Hello', 'Tom & Jerry <3 > 2', 'Quote "this" and it\'s fine', 'Ünïcödé — 你好 🎉'];
    const attrSets: Attrs[] = [{}, { voice: 'MAN' }, { voice: 'WOMAN', language: 'en-GB', loop: 3 },
      { voice: 'Polly.Joanna', language: 'en-US', loop: 0 }, { voice: 'Polly.Amy-Neural', language: 'de-DE' }];
    for (const text of bodies) {
      for (const attrs of attrSets) {
        const r = newResponse();
        r.addSpeak(text, attrs);
        const v = single(r);
        assert.ok(v.kind === 'Speak');
        assert.equal(v.text, text);
        assert.deepEqual(readBack(v, attrs), attrs);
      }
    }
  });

  test('Speak with SSML children built by the SDK', () => {
    const r = newResponse();
    const speak = r.addSpeak('Welcome');
    speak.addBreak({ strength: 'strong', time: '250ms' });
    speak.addEmphasis('very', { level: 'strong' });
    speak.addProsody('slowly', { rate: 'slow', pitch: 'low', volume: 'loud' });
    speak.addSayAs('12345', { 'interpret-as': 'digits' });
    speak.addS('A sentence.');
    speak.addP('A paragraph.');
    const v = single(r);
    assert.ok(v.kind === 'Speak');
    // SSML element boundaries separate words in the flattened text (the SDK emits no spaces).
    assert.equal(v.text, 'Welcome very slowly 12345 A sentence. A paragraph.');
    assert.ok(v.ssml?.includes('<break strength="strong" time="250ms"/>'));
    assert.ok(v.ssml?.includes('<say-as interpret-as="digits">12345</say-as>'));
  });

  test('Play: URLs with query strings and loops', () => {
    for (const url of ['https://cdn.example.com/a.mp3', 'http://cdn.example.com/a.wav?sig=abc&exp=123&x=%20y']) {
      for (const attrs of [{}, { loop: 0 }, { loop: 5 }] as Attrs[]) {
        const r = newResponse();
        r.addPlay(url, attrs);
        const v = single(r);
        assert.ok(v.kind === 'Play');
        assert.equal(v.url, url);
        assert.equal(v.loop, attrs.loop ?? 1);
      }
    }
  });

  test('Wait: every attribute combination', () => {
    for (const length of [1, 30]) {
      for (const silence of [true, false]) {
        for (const beep of [true, false]) {
          const attrs: Attrs = { length, silence, minSilence: 750, beep };
          const r = newResponse();
          r.addWait(attrs);
          assert.deepEqual(readBack(single(r), attrs), attrs);
        }
      }
    }
  });

  test('Hangup: reasons and schedule', () => {
    for (const attrs of [{}, { reason: 'rejected' }, { reason: 'busy' }, { schedule: 60 }, { reason: 'busy', schedule: 5 }] as Attrs[]) {
      const r = newResponse();
      r.addHangup(attrs);
      const v = single(r);
      assert.ok(v.kind === 'Hangup');
      assert.deepEqual(readBack(v, attrs), attrs);
    }
  });

  test('Redirect: methods and a URL with &', () => {
    for (const method of ['GET', 'POST']) {
      const r = newResponse();
      r.addRedirect('https://app.example/next?step=2&lang=en', { method });
      const v = single(r);
      assert.deepEqual(v.kind === 'Redirect' && { url: v.url, method: v.method }, { url: 'https://app.example/next?step=2&lang=en', method });
    }
  });

  test('GetDigits: attribute combinations with nested Speak, Play, Wait', () => {
    const combos: Attrs[] = [
      {},
      { action: 'https://app.example/digits', method: 'GET', timeout: 10, digitTimeout: 3, finishOnKey: '*', numDigits: 4,
        retries: 3, redirect: false, playBeep: true, validDigits: '0123', invalidDigitsSound: 'https://app.example/bad.mp3',
        log: false },
      { action: 'https://app.example/d?x=1&y=2', finishOnKey: '#', numDigits: 1, redirect: true, playBeep: false, log: true },
    ];
    for (const attrs of combos) {
      const r = newResponse();
      const g = r.addGetDigits(attrs);
      g.addSpeak('Enter digits', { voice: 'MAN' });
      g.addPlay('https://app.example/prompt.mp3');
      g.addWait({ length: 2 });
      const v = single(r);
      assert.ok(v.kind === 'GetDigits');
      assert.deepEqual(readBack(v, attrs), attrs);
      assert.deepEqual(v.children.map((c) => c.kind), ['Speak', 'Play', 'Wait']);
    }
    const none = newResponse();
    none.addGetDigits({ finishOnKey: 'none' });
    const v = single(none);
    assert.equal(v.kind === 'GetDigits' && v.finishOnKey, '', 'finishOnKey="none" is read as disabled');
  });

  test('GetInput parses with its attributes', () => {
    const attrs: Attrs = { action: 'https://app.example/input', method: 'POST', inputType: 'dtmf speech', executionTimeout: 20,
      digitEndTimeout: 5, speechEndTimeout: 3, finishOnKey: '#', numDigits: 10, speechModel: 'phone_call', hints: 'yes,no',
      language: 'en-US', interimSpeechResultsCallback: 'https://app.example/interim', interimSpeechResultsCallbackMethod: 'GET',
      log: false, redirect: false, profanityFilter: true };
    const r = newResponse();
    r.addGetInput(attrs).addSpeak('Say or press something');
    const v = single(r);
    assert.ok(v.kind === 'GetInput');
    assert.deepEqual(readBack(v, attrs), attrs);
    assert.equal(v.children.length, 1);
  });

  test('PreAnswer with every child the SDK allows', () => {
    const r = newResponse();
    const pre = r.addPreAnswer();
    pre.addSpeak('early');
    pre.addPlay('https://app.example/ring.mp3');
    pre.addWait({ length: 1 });
    pre.addGetDigits({ numDigits: 1 }).addSpeak('press one');
    pre.addRedirect('https://app.example/r');
    pre.addMessage('hi', { src: '14155550000', dst: '14155551111' });
    pre.addDTMF('1w2');
    r.addSpeak('answered');
    const doc = parse(r);
    const [p, s] = doc.verbs;
    assert.ok(p?.kind === 'PreAnswer');
    assert.deepEqual(p.children.map((c) => c.kind), ['Speak', 'Play', 'Wait', 'GetDigits', 'Redirect', 'Message', 'DTMF']);
    assert.equal(s?.kind, 'Speak');
  });

  test('DTMF: digits and async', () => {
    for (const [digits, attrs] of [['1234#', {}], ['12w34W*', { async: false }], ['ABCD', { async: true }]] as Array<[string, Attrs]>) {
      const r = newResponse();
      r.addDTMF(digits, attrs);
      const v = single(r);
      assert.deepEqual(v.kind === 'DTMF' && { digits: v.digits, async: v.async }, { digits, async: attrs.async ?? true });
    }
  });

  test('Stream: every attribute the SDK whitelists, in many combinations', () => {
    const contentTypes = ['audio/x-l16;rate=8000', 'audio/x-l16;rate=16000', 'audio/x-mulaw;rate=8000'];
    const tracks: Array<[boolean, string]> = [[false, 'inbound'], [false, 'outbound'], [false, 'both'], [true, 'inbound']];
    let n = 0;
    for (const contentType of contentTypes) {
      for (const [bidirectional, audioTrack] of tracks) {
        for (const keepCallAlive of [true, false]) {
          const attrs: Attrs = { bidirectional, audioTrack, contentType, keepCallAlive, streamTimeout: 600 + n,
            extraHeaders: n % 2 === 0 ? 'userId=42,session=abc' : 'userId=42;session=abc',
            statusCallbackUrl: `https://app.example/stream-status?n=${n}&x=1`, statusCallbackMethod: n % 2 === 0 ? 'GET' : 'POST' };
          const url = `wss://agent.example/ws/${n}?body=eyJhIjoxfQ&serviceHost=agent.example`;
          const r = newResponse();
          r.addStream(url, attrs);
          const v = single(r);
          assert.ok(v.kind === 'Stream');
          assert.equal(v.url, url);
          assert.deepEqual(readBack(v, attrs), attrs);
          assert.deepEqual(v.extraHeaderPairs, [['userId', '42'], ['session', 'abc']]);
          n++;
        }
      }
    }
    assert.equal(n, 24);
  });

  test('Stream with defaults only', () => {
    const r = newResponse();
    r.addStream('ws://127.0.0.1:8765/ws');
    const v = single(r);
    assert.ok(v.kind === 'Stream');
    assert.deepEqual({ bidirectional: v.bidirectional, audioTrack: v.audioTrack, contentType: v.contentType, keepCallAlive: v.keepCallAlive,
      streamTimeout: v.streamTimeout, extraHeaders: v.extraHeaders },
    { bidirectional: false, audioTrack: 'inbound', contentType: 'audio/x-l16;rate=8000', keepCallAlive: false, streamTimeout: 86400, extraHeaders: '' });
  });

  test('verbs the media pod does not execute: Record, Dial, Conference, Message, MultiPartyCall', () => {
    const r = newResponse();
    const recordAttrs: Attrs = { action: 'https://app.example/rec', method: 'GET', fileFormat: 'wav', redirect: false, timeout: 5,
      maxLength: 120, finishOnKey: '*', playBeep: false, recordSession: true, startOnDialAnswer: true,
      recordChannelType: 'mono', transcriptionType: 'auto', transcriptionUrl: 'https://app.example/tx', transcriptionMethod: 'GET',
      callbackUrl: 'https://app.example/cb', callbackMethod: 'GET' };
    r.addRecord(recordAttrs);
    const dial = r.addDial({ action: 'https://app.example/dial', timeout: 25, timeLimit: 600, callerId: '14155550000',
      callerName: 'Support', hangupOnStar: true, redirect: false });
    dial.addNumber('14155551234', { sendDigits: 'ww123', sendOnPreanswer: true });
    dial.addUser('sip:alice@pbx.example', { sipHeaders: 'a=b' });
    r.addConference('sales-room', { muted: true, maxMembers: 10, stayAlone: false, record: true });
    r.addMessage('Your code is 1234', { src: '14155550000', dst: '14155551234', type: 'sms' });
    r.addMultiPartyCall('support-mpc', { role: 'Agent' });
    const doc = parse(r);
    assert.deepEqual(doc.verbs.map((v) => v.kind), ['Record', 'Dial', 'Conference', 'Message', 'MultiPartyCall']);
    const [rec, d, conf, msg, mpc] = doc.verbs;
    assert.ok(rec !== undefined);
    assert.deepEqual(readBack(rec, recordAttrs), recordAttrs);
    assert.ok(d?.kind === 'Dial');
    assert.deepEqual({ timeout: d.timeout, timeLimit: d.timeLimit, hangupOnStar: d.hangupOnStar, redirect: d.redirect, targets: d.targets.length },
      { timeout: 25, timeLimit: 600, hangupOnStar: true, redirect: false, targets: 2 });
    assert.ok(conf?.kind === 'Conference');
    assert.deepEqual({ room: conf.room, muted: conf.muted, maxMembers: conf.maxMembers, stayAlone: conf.stayAlone, record: conf.record },
      { room: 'sales-room', muted: true, maxMembers: 10, stayAlone: false, record: true });
    assert.deepEqual(msg?.kind === 'Message' && { text: msg.text, src: msg.src, dst: msg.dst }, { text: 'Your code is 1234', src: '14155550000', dst: '14155551234' });
    // The SDK fills in about thirty MultiPartyCall defaults; all of them must pass validation.
    assert.deepEqual(mpc?.kind === 'MultiPartyCall' && { name: mpc.name, role: mpc.role }, { name: 'support-mpc', role: 'agent' });
  });

  test('a realistic IVR document mixing verbs keeps order and lines', () => {
    const r = newResponse();
    r.addSpeak('Thanks for calling', { voice: 'WOMAN' });
    r.addGetDigits({ action: 'https://app.example/menu', numDigits: 1 }).addSpeak('Press 1 for sales');
    r.addStream('wss://agent.example/ws', { bidirectional: true, keepCallAlive: true, contentType: 'audio/x-mulaw;rate=8000' });
    r.addHangup();
    const doc = parse(r);
    assert.deepEqual(doc.verbs.map((v) => v.kind), ['Speak', 'GetDigits', 'Stream', 'Hangup']);
    for (const v of doc.verbs) assert.equal(v.line, 1, 'the SDK emits a single line');
  });
});

describe('pipecat-compatible XML', () => {
  test('indented Stream with &amp; in the URL', () => {
    const xml = `<?xml version="1.0" encoding="UTF-8"?>
<Response>
    <Stream bidirectional="true" keepCallAlive="true" contentType="audio/x-mulaw;rate=8000">wss://x/ws?body=abc&amp;serviceHost=y</Stream>
</Response>`;
    const r = parsePlivoXml(xml);
    if (!r.ok) assert.fail(r.error.message);
    const v = r.document.verbs[0];
    assert.ok(v?.kind === 'Stream');
    assert.deepEqual({ url: v.url, bidirectional: v.bidirectional, keepCallAlive: v.keepCallAlive, contentType: v.contentType, audioTrack: v.audioTrack, line: v.line },
      { url: 'wss://x/ws?body=abc&serviceHost=y', bidirectional: true, keepCallAlive: true, contentType: 'audio/x-mulaw;rate=8000', audioTrack: 'inbound', line: 3 });
  });

  test('pipecat-examples form with the URL on its own indented line', () => {
    const xml = `<Response>
  <Stream bidirectional="true" keepCallAlive="true" contentType="audio/x-mulaw;rate=8000">
      wss://x/ws?body=abc&amp;serviceHost=y
  </Stream>
</Response>`;
    const r = parsePlivoXml(xml);
    if (!r.ok) assert.fail(r.error.message);
    assert.equal(r.document.verbs[0]?.kind === 'Stream' && r.document.verbs[0].url, 'wss://x/ws?body=abc&serviceHost=y');
  });
});
