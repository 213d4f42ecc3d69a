/**
 * Unit tests for parsePlivoXml: each verb's defaults and attributes, and each kind of rejection
 * with the line it is reported on.
 */

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { describeVerb, isSupportedVerb, redactUrl, SUPPORTED_VERBS } from './describe.js';
import { parsePlivoXml, findInvalidUtf8 } from './parser.js';
import { parseErr, parseOk } from './test-support.js';
import type { PlivoVerb } from './types.js';

function only(xml: string): PlivoVerb {
  const doc = parseOk(`<Response>${xml}</Response>`);
  assert.equal(doc.verbs.length, 1);
  const v = doc.verbs[0];
  assert.ok(v !== undefined);
  return v;
}

/** Drops the position fields so defaults can be compared as one object. */
function body(v: PlivoVerb | undefined): Record<string, unknown> {
  assert.ok(v !== undefined);
  const { line: _line, column: _column, ...rest } = v;
  return rest;
}

describe('Speak', () => {
  test('defaults', () => {
    assert.deepEqual(body(only('<Speak>Hello</Speak>')), {
      kind: 'Speak', text: 'Hello', voice: 'WOMAN', language: 'en-US', loop: 1,
    });
  });
  test('attributes, infinite loop, Polly voice, case-insensitive MAN', () => {
    assert.deepEqual(body(only('<Speak voice="Polly.Joanna" language="en-GB" loop="0">Hi</Speak>')), {
      kind: 'Speak', text: 'Hi', voice: 'Polly.Joanna', language: 'en-GB', loop: 0,
    });
    const man = only('<Speak voice="man">x</Speak>');
    assert.equal(man.kind === 'Speak' && man.voice, 'MAN');
  });
  test('text is trimmed and whitespace runs collapse; entities are decoded', () => {
    const v = only('<Speak>\n   Hello,\n     world &amp; &lt;friends&gt;  \n</Speak>');
    assert.equal(v.kind === 'Speak' && v.text, 'Hello, world & <friends>');
  });
  test('SSML is kept as markup and flattened to text', () => {
    const v = only('<Speak>Say <emphasis level="strong">this</emphasis><break time="500ms"/>now &amp; <say-as interpret-as="digits">123</say-as></Speak>');
    assert.ok(v.kind === 'Speak');
    assert.equal(v.text, 'Say this now & 123');
    assert.equal(v.ssml, 'Say <emphasis level="strong">this</emphasis><break time="500ms"/>now &amp; <say-as interpret-as="digits">123</say-as>');
  });
  test('rejects bad loop with the exact message', () => {
    const e = parseErr('<Response>\n\n  <Speak loop="x">hi</Speak>\n</Response>');
    assert.equal(e.message, 'line 3: <Speak> attribute loop must be a non-negative integer, got "x"');
    assert.equal(e.line, 3);
    assert.equal(e.column, 10);
    assert.equal(e.element, 'Speak');
    assert.equal(e.code, 'invalid-attribute');
  });
  test('rejects negative loop, unknown voice, bad language, empty text', () => {
    assert.match(parseErr('<Response><Speak loop="-1">a</Speak></Response>').message, /loop must be a non-negative integer, got "-1"/);
    assert.match(parseErr('<Response><Speak voice="ROBOT">a</Speak></Response>').message, /voice must be WOMAN, MAN or Polly\.<voice>, got "ROBOT"/);
    assert.match(parseErr('<Response><Speak language="english please">a</Speak></Response>').message, /language must be a language tag/);
    const empty = parseErr('<Response>\n<Speak>   </Speak></Response>');
    assert.equal(empty.message, 'line 2: <Speak> must contain text to speak');
    assert.equal(empty.code, 'invalid-content');
  });
  test('rejects SSML elements the SDK does not nest', () => {
    const e = parseErr('<Response><Speak><p><p>x</p></p></Speak></Response>');
    assert.equal(e.code, 'nesting');
    assert.match(e.message, /<p> is not allowed inside <p>/);
    assert.equal(parseErr('<Response><Speak><break foo="1"/>x</Speak></Response>').code, 'unknown-attribute');
  });
});

describe('Play', () => {
  test('defaults and loop', () => {
    assert.deepEqual(body(only('<Play>https://cdn.example.com/a.mp3</Play>')), { kind: 'Play', url: 'https://cdn.example.com/a.mp3', loop: 1 });
    assert.deepEqual(body(only('<Play loop="0">http://x.example/a.wav</Play>')), { kind: 'Play', url: 'http://x.example/a.wav', loop: 0 });
  });
  test('rejects relative, ws and empty URLs', () => {
    assert.equal(parseErr('<Response><Play>/a.mp3</Play></Response>').message, 'line 1: <Play> must contain an absolute http(s) URL, got "/a.mp3"');
    assert.match(parseErr('<Response><Play>wss://x.example/a</Play></Response>').message, /absolute http\(s\) URL/);
    assert.match(parseErr('<Response><Play/></Response>').message, /<Play> must contain an absolute http\(s\) URL$/);
    assert.match(parseErr('<Response><Play>https://x.example/a b.mp3</Play></Response>').message, /absolute http\(s\) URL/);
  });
});

describe('Wait', () => {
  test('defaults', () => {
    assert.deepEqual(body(only('<Wait/>')), { kind: 'Wait', length: 1, silence: false, minSilence: 2000, beep: false });
  });
  test('attributes, booleans case-insensitive, legacy min_silence', () => {
    assert.deepEqual(body(only('<Wait length="10" silence="TRUE" minSilence="3000" beep="False"/>')),
      { kind: 'Wait', length: 10, silence: true, minSilence: 3000, beep: false });
    assert.deepEqual(body(only('<Wait silence="true" min_silence="500"/>')),
      { kind: 'Wait', length: 1, silence: true, minSilence: 500, beep: false });
  });
  test('rejects zero length, bad boolean, text', () => {
    assert.match(parseErr('<Response><Wait length="0"/></Response>').message, /length must be a positive integer, got "0"/);
    assert.match(parseErr('<Response><Wait beep="yes"/></Response>').message, /beep must be true or false, got "yes"/);
    assert.match(parseErr('<Response><Wait>5</Wait></Response>').message, /<Wait> must not contain text, got "5"/);
  });
});

describe('Hangup', () => {
  test('defaults and attributes', () => {
    assert.deepEqual(body(only('<Hangup/>')), { kind: 'Hangup' });
    assert.deepEqual(body(only('<Hangup reason="busy" schedule="45"/>')), { kind: 'Hangup', reason: 'busy', schedule: 45 });
    assert.deepEqual(body(only('<Hangup reason="Rejected"/>')), { kind: 'Hangup', reason: 'rejected' });
  });
  test('rejects unknown reason and zero schedule', () => {
    assert.match(parseErr('<Response><Hangup reason="timeout"/></Response>').message, /reason must be one of rejected, busy, got "timeout"/);
    assert.match(parseErr('<Response><Hangup schedule="0"/></Response>').message, /schedule must be a positive integer/);
  });
});

describe('Redirect', () => {
  test('defaults, method normalised, &amp; decoded', () => {
    assert.deepEqual(body(only('<Redirect>https://app.example/next?a=1&amp;b=2</Redirect>')),
      { kind: 'Redirect', url: 'https://app.example/next?a=1&b=2', method: 'POST' });
    assert.deepEqual(body(only('<Redirect method="get">https://app.example/n</Redirect>')),
      { kind: 'Redirect', url: 'https://app.example/n', method: 'GET' });
  });
  test('rejects bad method and non-http URLs', () => {
    assert.match(parseErr('<Response><Redirect method="PUT">https://a.example/</Redirect></Response>').message, /method must be one of GET, POST, got "PUT"/);
    assert.match(parseErr('<Response><Redirect>ftp://a.example/</Redirect></Response>').message, /absolute http\(s\) URL/);
  });
});

describe('GetDigits', () => {
  test('defaults', () => {
    assert.deepEqual(body(only('<GetDigits/>')), {
      kind: 'GetDigits', method: 'POST', timeout: 5, digitTimeout: 2, finishOnKey: '#', numDigits: 99, retries: 1,
      redirect: true, playBeep: false, validDigits: '1234567890*#', log: true, children: [],
    });
  });
  test('attributes and nested prompts', () => {
    const v = only(`<GetDigits action="https://app.example/digits" method="GET" timeout="10" digitTimeout="3"
        finishOnKey="*" numDigits="4" retries="2" redirect="false" playBeep="true" validDigits="123"
        invalidDigitsSound="https://app.example/bad.mp3" log="false">
      <Speak>Enter your PIN</Speak>
      <Play>https://app.example/beep.mp3</Play>
      <Wait length="2"/>
    </GetDigits>`);
    assert.ok(v.kind === 'GetDigits');
    assert.deepEqual({ ...body(v), children: v.children.map((c) => c.kind) }, {
      kind: 'GetDigits', action: 'https://app.example/digits', method: 'GET', timeout: 10, digitTimeout: 3, finishOnKey: '*',
      numDigits: 4, retries: 2, redirect: false, playBeep: true, validDigits: '123',
      invalidDigitsSound: 'https://app.example/bad.mp3', log: false, children: ['Speak', 'Play', 'Wait'],
    });
    assert.equal(v.children[0]?.line, 4);
  });
  test('finishOnKey none and empty both disable it', () => {
    for (const k of ['none', 'NONE', '']) {
      const v = only(`<GetDigits finishOnKey="${k}"/>`);
      assert.equal(v.kind === 'GetDigits' && v.finishOnKey, '', k);
    }
    assert.match(parseErr('<Response><GetDigits finishOnKey="ab"/></Response>').message, /finishOnKey must be one of 0-9, \*, #, "" or none, got "ab"/);
  });
  test('rejects bad nesting, bad validDigits, relative action', () => {
    const e = parseErr('<Response>\n<GetDigits>\n  <Dial><Number>123</Number></Dial>\n</GetDigits>\n</Response>');
    assert.equal(e.message, 'line 3: <Dial> is not allowed inside <GetDigits>; allowed inside <GetDigits>: Speak, Play, Wait');
    assert.equal(e.code, 'nesting');
    assert.equal(e.column, 3);
    assert.match(parseErr('<Response><GetDigits validDigits="12x"/></Response>').message, /validDigits must be one or more of 0-9/);
    assert.match(parseErr('<Response><GetDigits action="/digits"/></Response>').message, /action must be an absolute http\(s\) URL, got "\/digits"/);
    assert.match(parseErr('<Response><GetDigits numDigits="0"/></Response>').message, /numDigits must be a positive integer/);
  });
});

describe('GetInput (parsed, not executed)', () => {
  test('defaults', () => {
    assert.deepEqual(body(only('<GetInput action="https://a.example/in"><Speak>Say something</Speak></GetInput>')), {
      kind: 'GetInput', action: 'https://a.example/in', method: 'POST', executionTimeout: 15, digitEndTimeout: 'auto',
      speechEndTimeout: 'auto', finishOnKey: '#', numDigits: 32, language: 'en-US', interimSpeechResultsCallbackMethod: 'POST',
      profanityFilter: false, redirect: true, log: true,
      children: [{ kind: 'Speak', line: 1, column: 51, text: 'Say something', voice: 'WOMAN', language: 'en-US', loop: 1 }],
    });
  });
  test('attributes and ranges', () => {
    const v = only('<GetInput action="https://a.example/in" inputType="dtmf speech" executionTimeout="60" digitEndTimeout="5" speechEndTimeout="auto" numDigits="6" speechModel="phone_call" hints="yes,no" profanityFilter="true"/>');
    assert.ok(v.kind === 'GetInput');
    assert.equal(v.inputType, 'dtmf speech');
    assert.equal(v.digitEndTimeout, 5);
    assert.equal(v.speechModel, 'phone_call');
    assert.ok(parsePlivoXml('<Response><GetInput action="https://a.example/"/></Response>').ok);
    assert.match(parseErr('<Response><GetInput/></Response>').message, /<GetInput> requires attribute action/);
    assert.match(parseErr('<Response><GetInput action="https://a.example/" executionTimeout="4"/></Response>').message, /executionTimeout must be an integer from 5 to 60/);
    assert.match(parseErr('<Response><GetInput action="https://a.example/" digitEndTimeout="11"/></Response>').message, /digitEndTimeout must be auto or an integer from 2 to 10/);
    assert.match(parseErr('<Response><GetInput action="https://a.example/" inputType="voice"/></Response>').message, /inputType must be one of dtmf, speech, dtmf speech/);
  });
});

describe('PreAnswer', () => {
  test('children in order (SDK whitelist)', () => {
    const v = only(`<PreAnswer><Speak>early</Speak><Play>https://a.example/r.mp3</Play><Wait/><GetDigits/>
      <Redirect>https://a.example/r</Redirect><Message>hi</Message><DTMF>1</DTMF></PreAnswer>`);
    assert.ok(v.kind === 'PreAnswer');
    assert.deepEqual(v.children.map((c) => c.kind), ['Speak', 'Play', 'Wait', 'GetDigits', 'Redirect', 'Message', 'DTMF']);
  });
  test('rejects Stream, Hangup, nested PreAnswer and attributes', () => {
    assert.equal(parseErr('<Response><PreAnswer><Stream>wss://a.example/</Stream></PreAnswer></Response>').code, 'nesting');
    assert.equal(parseErr('<Response><PreAnswer><Hangup/></PreAnswer></Response>').code, 'nesting');
    assert.equal(parseErr('<Response><PreAnswer><PreAnswer/></PreAnswer></Response>').code, 'nesting');
    assert.equal(parseErr('<Response><GetDigits><PreAnswer/></GetDigits></Response>').code, 'nesting');
    const e = parseErr('<Response><PreAnswer loop="1"/></Response>');
    assert.equal(e.message, 'line 1: <PreAnswer> has unknown attribute loop; allowed: none');
  });
});

describe('DTMF', () => {
  test('defaults, attribute form, async', () => {
    assert.deepEqual(body(only('<DTMF>12w34W#*AD</DTMF>')), { kind: 'DTMF', digits: '12w34W#*AD', async: true });
    assert.deepEqual(body(only('<DTMF digits="99" async="false"/>')), { kind: 'DTMF', digits: '99', async: false });
  });
  test('rejects bad digits, empty and both forms', () => {
    assert.match(parseErr('<Response><DTMF>12x</DTMF></Response>').message, /<DTMF> digits must be 0-9, \*, #, A-D, w or W, got "12x"/);
    assert.match(parseErr('<Response><DTMF digits="E"/></Response>').message, /attribute digits must be/);
    assert.match(parseErr('<Response><DTMF/></Response>').message, /must contain the digits to send/);
    assert.match(parseErr('<Response><DTMF digits="1">2</DTMF></Response>').message, /both as text and in the digits attribute/);
  });
});

describe('Stream', () => {
  test('defaults (contentType per the XML reference)', () => {
    assert.deepEqual(body(only('<Stream>wss://agent.example/ws</Stream>')), {
      kind: 'Stream', url: 'wss://agent.example/ws', bidirectional: false, audioTrack: 'inbound', streamTimeout: 86400,
      contentType: 'audio/x-l16;rate=8000', keepCallAlive: false, extraHeaders: '', extraHeaderPairs: [],
      statusCallbackMethod: 'POST', noiseCancellation: false, noiseCancellationLevel: 85,
    });
  });
  test('pipecat XML with indentation: URL trimmed across newlines and &amp; decoded', () => {
    const doc = parseOk(`<?xml version="1.0" encoding="UTF-8"?>
<Response>
  <Stream bidirectional="true" keepCallAlive="true" contentType="audio/x-mulaw;rate=8000">
    wss://x/ws?body=abc&amp;serviceHost=y
  </Stream>
</Response>`);
    const v = doc.verbs[0];
    assert.ok(v?.kind === 'Stream');
    assert.equal(v.url, 'wss://x/ws?body=abc&serviceHost=y');
    assert.equal(v.line, 3);
    assert.equal(v.bidirectional, true);
    assert.equal(v.keepCallAlive, true);
    assert.equal(v.contentType, 'audio/x-mulaw;rate=8000');
  });
  test('every attribute', () => {
    const v = only(`<Stream audioTrack="both" streamTimeout="120" contentType="audio/x-L16; rate=16000"
      extraHeaders="userId=123,sessionId=abc;tier=gold" statusCallbackUrl="https://app.example/status"
      statusCallbackMethod="GET" noiseCancellation="true" noiseCancellationLevel="60">ws://agent.example:8080/ws</Stream>`);
    assert.deepEqual(body(v), {
      kind: 'Stream', url: 'ws://agent.example:8080/ws', bidirectional: false, audioTrack: 'both', streamTimeout: 120,
      contentType: 'audio/x-l16;rate=16000', keepCallAlive: false, extraHeaders: 'userId=123,sessionId=abc;tier=gold',
      extraHeaderPairs: [['userId', '123'], ['sessionId', 'abc'], ['tier', 'gold']],
      statusCallbackUrl: 'https://app.example/status', statusCallbackMethod: 'GET', noiseCancellation: true,
      noiseCancellationLevel: 60,
    });
  });
  test('bidirectional forbids outbound and both tracks', () => {
    for (const track of ['outbound', 'both']) {
      const e = parseErr(`<Response>\n<Stream bidirectional="true"\n  audioTrack="${track}">wss://a.example/</Stream></Response>`);
      assert.match(e.message, /^line 3: <Stream> attribute audioTrack must be inbound when bidirectional is true/);
    }
    const ok = only('<Stream bidirectional="true" audioTrack="inbound">wss://a.example/</Stream>');
    assert.equal(ok.kind === 'Stream' && ok.audioTrack, 'inbound');
  });
  test('rejects other content types, http URLs, bad extraHeaders and levels', () => {
    assert.match(parseErr('<Response><Stream contentType="audio/x-mulaw;rate=16000">wss://a.example/</Stream></Response>').message,
      /contentType must be one of audio\/x-l16;rate=8000, audio\/x-l16;rate=16000, audio\/x-mulaw;rate=8000/);
    assert.match(parseErr('<Response><Stream>https://a.example/ws</Stream></Response>').message, /<Stream> must contain an absolute ws\(s\) URL/);
    assert.match(parseErr('<Response><Stream extraHeaders="X-PH-a=1">wss://a.example/</Stream></Response>').message, /extraHeaders must be key=value pairs/);
    assert.match(parseErr(`<Response><Stream extraHeaders="${'a=1;'.repeat(130)}">wss://a.example/</Stream></Response>`).message, /at most 512 bytes/);
    assert.match(parseErr('<Response><Stream noiseCancellationLevel="59">wss://a.example/</Stream></Response>').message, /noiseCancellationLevel must be an integer from 60 to 100/);
    assert.match(parseErr('<Response><Stream streamTimeout="0">wss://a.example/</Stream></Response>').message, /streamTimeout must be a positive integer/);
    assert.match(parseErr('<Response><Stream statusCallbackUrl="status">wss://a.example/</Stream></Response>').message, /statusCallbackUrl must be an absolute http\(s\) URL/);
  });
});

describe('verbs the media pod does not execute still parse and validate', () => {
  test('Record', () => {
    assert.deepEqual(body(only('<Record/>')), {
      kind: 'Record', method: 'POST', fileFormat: 'mp3', redirect: true, timeout: 15, maxLength: 60, finishOnKey: '#',
      playBeep: true, recordSession: false, startOnDialAnswer: false, recordChannelType: 'stereo', transcriptionMethod: 'POST',
      callbackMethod: 'POST',
    });
    assert.match(parseErr('<Response><Record fileFormat="ogg"/></Response>').message, /fileFormat must be one of mp3, wav/);
  });
  test('Dial with Number and User; password never copied or echoed', () => {
    const v = only(`<Dial action="https://a.example/dial" timeout="20" callerId="+14155550000">
      <Number sendDigits="ww12">+14155551234</Number>
      <User sipAuthUsername="bob" sipAuthPassword="s3cret-pw">sip:bob@pbx.example</User></Dial>`);
    assert.ok(v.kind === 'Dial');
    assert.equal(v.timeout, 20);
    assert.equal(v.timeLimit, 14400);
    assert.deepEqual(v.targets.map((t) => [t.kind, t.kind === 'Number' ? t.number : t.uri]), [['Number', '+14155551234'], ['User', 'sip:bob@pbx.example']]);
    assert.deepEqual(v.targets[1]?.attributes, { sipAuthUsername: 'bob' });
    assert.doesNotMatch(JSON.stringify(v), /s3cret/);
    assert.equal(parseErr('<Response><Dial/></Response>').message, 'line 1: <Dial> must contain at least one <Number> or <User>');
    assert.equal(parseErr('<Response><Dial><Speak>x</Speak></Dial></Response>').code, 'nesting');
    assert.match(parseErr('<Response><Dial><User>bob</User></Dial></Response>').message, /must contain a sip: URI/);
    assert.match(parseErr('<Response><Dial><Number sendOnPreanswer="maybe">123</Number></Dial></Response>').message, /sendOnPreanswer must be true or false/);
  });
  test('Conference, Message, MultiPartyCall', () => {
    const c = only('<Conference muted="true" maxMembers="5">room-1</Conference>');
    assert.ok(c.kind === 'Conference');
    assert.equal(c.room, 'room-1');
    assert.equal(c.muted, true);
    assert.equal(c.stayAlone, true);
    assert.deepEqual(c.attributes, { muted: 'true', maxMembers: '5' });
    assert.deepEqual(body(only('<Message src="123" dst="456">hello</Message>')),
      { kind: 'Message', text: 'hello', src: '123', dst: '456', type: 'sms', callbackMethod: 'POST' });
    const m = only('<MultiPartyCall role="Agent" maxDuration="600">mpc1</MultiPartyCall>');
    assert.ok(m.kind === 'MultiPartyCall');
    assert.equal(m.role, 'agent');
    assert.equal(m.name, 'mpc1');
    assert.match(parseErr('<Response><MultiPartyCall>mpc1</MultiPartyCall></Response>').message, /requires attribute role/);
    assert.match(parseErr('<Response><MultiPartyCall role="agent" maxDuration="10">x</MultiPartyCall></Response>').message, /maxDuration must be an integer from 300 to 28800/);
    assert.match(parseErr('<Response><Conference/></Response>').message, /must contain a conference room name/);
  });
});

describe('document-level rules', () => {
  test('empty Response is a valid empty document', () => {
    assert.deepEqual(parseOk('<Response/>'), { verbs: [] });
    assert.deepEqual(parseOk('<Response>\n  \n</Response>'), { verbs: [] });
  });
  test('verbs keep document order and line numbers', () => {
    const doc = parseOk('<Response>\n<Speak>a</Speak>\n\n<Wait/>\n<Hangup/>\n</Response>');
    assert.deepEqual(doc.verbs.map((v) => [v.kind, v.line]), [['Speak', 2], ['Wait', 4], ['Hangup', 5]]);
  });
  test('wrong root', () => {
    const e = parseErr('<Document><Speak>x</Speak></Document>');
    assert.equal(e.message, 'line 1: root element must be <Response>, got <Document>');
    assert.equal(e.code, 'root');
    assert.match(parseErr('<response/>').message, /got <response> \(element names are case-sensitive\)/);
  });
  test('wrong case element and unknown element', () => {
    const e = parseErr('<Response>\n  <speak>hi</speak>\n</Response>');
    assert.equal(e.message, 'line 2: unknown element <speak> (did you mean <Speak>? element names are case-sensitive)');
    assert.equal(e.column, 3);
    assert.equal(e.element, 'speak');
    assert.equal(parseErr('<Response><Gather/></Response>').message, 'line 1: unknown element <Gather>');
  });
  test('unknown attribute, with a case hint and its own line', () => {
    const e = parseErr('<Response>\n<Stream\n   bidirectional="true"\n   KeepCallAlive="true">wss://a.example/</Stream></Response>');
    assert.match(e.message, /^line 4: <Stream> has unknown attribute KeepCallAlive \(did you mean keepCallAlive\? attribute names are case-sensitive\); allowed: /);
    assert.equal(e.code, 'unknown-attribute');
    assert.equal(e.column, 4);
    assert.match(parseErr('<Response xmlns="urn:x"/>').message, /unknown attribute xmlns \(Plivo XML uses no namespaces\)/);
  });
  test('size limit is enforced before parsing, for strings and bytes', () => {
    const big = `<Response><Speak>${'a'.repeat(110 * 1024)}</Speak></Response>`;
    const e = parseErr(big);
    assert.equal(e.code, 'too-large');
    assert.match(e.message, /102400-byte limit/);
    assert.equal(parseErr(new TextEncoder().encode(big)).code, 'too-large');
    // Multi-byte characters count as bytes, not UTF-16 units.
    const wide = `<Response><Speak>${'é'.repeat(60 * 1024)}</Speak></Response>`;
    assert.match(parseErr(wide).message, /^document is \d+ bytes, over the 102400-byte limit$/);
    assert.equal(parseErr('<Response/>', { maxBytes: 5 }).code, 'too-large');
    // Size is checked before well-formedness: an oversize malformed document says "too large".
    assert.equal(parseErr(`<Response>${'<'.repeat(200 * 1024)}`).code, 'too-large');
    assert.ok(parsePlivoXml(`<Response><Speak>${'a'.repeat(90 * 1024)}</Speak></Response>`).ok);
  });
  test('invalid limits are a programming error, not a silent "no limit"', () => {
    assert.throws(() => parsePlivoXml('<Response/>', { maxBytes: Number.NaN }), RangeError);
    assert.throws(() => parsePlivoXml('<Response/>', { maxDepth: 0 }), RangeError);
  });
  test('DOCTYPE is refused (no entity expansion, no XXE)', () => {
    const e = parseErr('<?xml version="1.0"?>\n<!DOCTYPE Response [<!ENTITY a "aaaa">]>\n<Response><Speak>&a;</Speak></Response>');
    assert.equal(e.code, 'doctype');
    assert.equal(e.line, 2);
    assert.match(e.message, /^line 2: DOCTYPE declarations are not allowed/);
  });
  test('malformed XML reports the line it breaks on', () => {
    const e = parseErr('<Response>\n  <Speak>hi</Speak>\n  <Play>https://a.example/a.mp3</Speak>\n</Response>');
    assert.equal(e.code, 'malformed');
    assert.equal(e.line, 3);
    assert.match(e.message, /^line 3: malformed XML: <\/Speak> does not close <Play>/);
    const attr = parseErr('<Response>\n\n\n<Wait length=5/>\n</Response>');
    assert.equal(attr.line, 4);
    assert.match(attr.message, /^line 4: malformed XML at column \d+: /);
    assert.equal(parseErr('<Response>\n<Speak>a &nbsp; b</Speak></Response>').line, 2);
    assert.equal(parseErr('<Response>\n<Speak>a</Speak>\n</Response>\n\n  junk').line, 5);
  });
  test('text directly in Response is refused', () => {
    const e = parseErr('<Response>\n  <Wait/>\n  stray words\n</Response>');
    assert.equal(e.message, 'line 3: <Response> must not contain text, got "stray words"');
  });
  test('nesting depth is bounded', () => {
    const deep = `<Response><Speak>${'<prosody>'.repeat(40)}x${'</prosody>'.repeat(40)}</Speak></Response>`;
    const e = parseErr(deep);
    assert.equal(e.code, 'too-deep');
    assert.match(e.message, /nested deeper than 32 levels/);
    assert.ok(parsePlivoXml(deep, { maxDepth: 64 }).ok);
  });
  test('BOM, XML declaration, comments and CDATA are accepted', () => {
    const doc = parseOk('\uFEFF<?xml version="1.0" encoding="UTF-8"?>\n<!-- c --><Response><Speak><![CDATA[a & b]]></Speak></Response>');
    assert.equal(doc.verbs[0]?.kind === 'Speak' && doc.verbs[0].text, 'a & b');
  });
  test('bytes must be UTF-8; the error names the line', () => {
    const bytes = new Uint8Array([...new TextEncoder().encode('<Response>\n<Speak>caf'), 0xe9, ...new TextEncoder().encode('</Speak></Response>')]);
    const e = parseErr(bytes);
    assert.equal(e.code, 'encoding');
    assert.equal(e.message, 'line 2: document is not valid UTF-8 (byte offset 21)');
    assert.ok(parsePlivoXml(new TextEncoder().encode('<Response><Speak>café 🎉</Speak></Response>')).ok);
  });
  test('findInvalidUtf8 catches truncated, overlong, surrogate and out-of-range sequences', () => {
    assert.equal(findInvalidUtf8(new Uint8Array([0x61, 0xe2, 0x82])), 1);
    assert.equal(findInvalidUtf8(new Uint8Array([0xc0, 0xaf])), 0);
    assert.equal(findInvalidUtf8(new Uint8Array([0xe0, 0x80, 0xaf])), 0);
    assert.equal(findInvalidUtf8(new Uint8Array([0xed, 0xa0, 0x80])), 0);
    assert.equal(findInvalidUtf8(new Uint8Array([0xf4, 0x90, 0x80, 0x80])), 0);
    assert.equal(findInvalidUtf8(new TextEncoder().encode('ok € 𝄞')), -1);
  });
});

describe('describeVerb and SUPPORTED_VERBS', () => {
  test('SUPPORTED_VERBS lists what the media pod executes', () => {
    assert.deepEqual([...SUPPORTED_VERBS].sort(), ['DTMF', 'GetDigits', 'Hangup', 'Play', 'PreAnswer', 'Redirect', 'Speak', 'Stream', 'Wait']);
    const doc = parseOk('<Response><Speak>a</Speak><Record/></Response>');
    assert.deepEqual(doc.verbs.map(isSupportedVerb), [true, false]);
  });
  test('descriptions carry kind and line, drop query strings and spoken text', () => {
    const doc = parseOk(`<Response>
<Speak>my secret account number is 1234</Speak>
<Stream bidirectional="true" keepCallAlive="true" contentType="audio/x-mulaw;rate=8000">wss://user:pw@bot.example/ws?token=abc&amp;x=1</Stream>
<Record/>
</Response>`);
    const lines = doc.verbs.map(describeVerb);
    assert.equal(lines[0], 'Speak@2 voice=WOMAN language=en-US loop=1 text=32 chars');
    assert.equal(lines[1], 'Stream@3 wss://bot.example/ws?… bidirectional=true audioTrack=inbound contentType=audio/x-mulaw;rate=8000 keepCallAlive=true streamTimeout=86400');
    assert.match(lines[2] ?? '', /^Record@4 .*\(not supported\)$/);
    for (const l of lines) assert.doesNotMatch(l, /secret|token|abc|pw@/);
    assert.equal(redactUrl('not a url'), '<invalid url>');
  });
});
