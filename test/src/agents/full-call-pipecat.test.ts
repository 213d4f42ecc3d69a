// A real SIP call through the media pod to a Pipecat bot (test/python/pipecat_echo_agent.py):
// Pipecat's runner must recognise Plivo from the pod's first messages, its echo must come back
// to the caller as RTP carrying the caller's tone, the caller's DTMF must reach it, and when the
// bot's WebSocket closes (keepCallAlive, nothing after the <Stream>) the call must end 4010 with
// a BYE: on a self-hosted ingress, closing the socket is how a Pipecat bot hangs up.
import { after, before, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import plivo from 'plivo';
import { markedToneFrames, toneShare, ulawDecode } from '../media/audio.js';
import { APP_ID, cycle, startMediaRig, type MediaRig } from '../media/harness.js';
import { isDigitalSilence, type ReceivedRtp } from '../media/uac.js';
import { pythonAgentsSkipReason, startPythonAgent, type PythonAgent } from './python-agent.js';
import { waitUntil } from './stream-drive.js';

const FRAMES = 100; // 2 s of caller audio at 20 ms
const TONE_HZ = 1000; // markedToneFrames' tone

const skip = await pythonAgentsSkipReason();

interface PipecatSummary {
  detected: string | null;
  call_data: { stream_id: string; call_id: string } | null;
  media_in: number;
  silent_media_in: number;
  frames_in: number;
  frames_out: number;
  play_audio_sent: number;
  play_audio_bytes: number;
  silent_play_audio_bytes: number;
  end_padding_bytes: number;
  clear_audio_sent: number;
  other_out: string[];
  dtmf: string[];
  ended_by_bot: boolean;
  errors: string[];
  connections: number;
  exit: string;
}

let rig: MediaRig;
before(async () => { if (!skip) rig = await startMediaRig(); });
after(async () => { if (!skip) await rig.close(); });

const pcmu = (pkts: readonly ReceivedRtp[]): ReceivedRtp[] => pkts.filter((p) => p.payloadType === 0);
/**
 * What the caller heard besides exact μ-law silence, which comes both from the pod (towards the
 * caller while it has nothing to play; towards Pipecat while the caller is quiet, echoed back).
 */
const callerEcho = (pkts: readonly ReceivedRtp[]): ReceivedRtp[] => pcmu(pkts).filter((p) => !isDigitalSilence(p));

/** How the bot leaves once it has echoed the caller and seen the first keypress. */
type Leave =
  /** The bot process is stopped (SIGTERM): uvicorn closes the socket on shutdown. */
  | 'process-stopped'
  /** The caller presses #; the bot ends its own pipeline (EndWorkerFrame), closing the socket. */
  | 'bot-hangs-up';

async function callPipecatBot(t: TestContext, leave: Leave): Promise<{ summary: PipecatSummary; closeCode: unknown }> {
  const args = ['--max-runtime', '60', ...(leave === 'bot-hangs-up' ? ['--end-on-digit', '#'] : [])];
  const agent: PythonAgent = await startPythonAgent('pipecat_echo_agent.py', args, { path: '/ws' });
  try {
    const r = plivo.Response();
    r.addStream(agent.url, { bidirectional: true, keepCallAlive: true, contentType: 'audio/x-mulaw;rate=8000' });
    rig.answer.route('/answer', r.toXML());
    const answersBefore = rig.answer.requests.filter((q) => q.path === '/answer').length;

    const uac = await rig.caller();
    const final = await uac.invite(rig.pod.sipPort, APP_ID);
    assert.equal(final.status, 200, `call not answered: ${final.status} ${final.reason}`);
    const callUuid = rig.answer.requests.filter((q) => q.path === '/answer')[answersBefore]?.params.CallUUID ?? '';
    assert.match(callUuid, /^[0-9a-f-]{36}$/);

    // Pipecat's runner decides on the transport only after the first media message, so nothing
    // can be waited for on its side; the pod's log says when the socket is up. From then on
    // every caller frame is streamed.
    const started = await waitUntil(() => rig.logs().some((l) => l.msg === 'stream started' && l.callUuid === callUuid), 15_000);
    assert.ok(started, 'the pod opened the stream');
    const sent = markedToneFrames(FRAMES);
    uac.startSending(cycle(sent, FRAMES));
    const detected = await agent.waitForEvent('detected', undefined, 20_000);
    assert.equal(detected.data.transport, 'plivo');
    assert.deepEqual((detected.data.call_data as Record<string, unknown> | null)?.call_id, callUuid);

    // The runner swallows the first media message (it reads it to detect the provider): the pod's
    // silence if the stream opened before the caller's audio started, else the caller's first frame.
    // Pipecat sends whole 40 ms chunks; the pod's silence after the caller's last frame completes
    // the last one, so every caller frame Pipecat got comes back.
    await uac.waitUntil(() => callerEcho(uac.rtpIn).length >= FRAMES - 1 || undefined, 20_000, 'the echo from Pipecat');

    await uac.sendDtmf('5');
    const dtmf = await agent.waitForEvent('dtmf');
    assert.equal(dtmf.data.digit, '5');
    await agent.waitForEvent('clear_audio');
    assert.equal(uac.requests.filter((q) => q.request.method === 'BYE').length, 0, 'the call stays up while the bot is connected');

    // The bot goes away: its WebSocket closes, nothing follows the <Stream>, so the call ends.
    const leftAt = performance.now();
    if (leave === 'process-stopped') {
      await agent.stop();
    } else {
      await uac.sendDtmf('#');
      await agent.waitForEvent('ending');
    }
    const summary = await agent.summary() as unknown as PipecatSummary;
    const bye = await uac.byeFromPod(15_000);
    assert.ok(bye.at > leftAt);
    assert.match(bye.request.headers.find((h) => h.name.toLowerCase() === 'reason')?.value ?? '', /End Of XML Instructions/i);
    const hangup = await rig.answer.waitFor('/hangup', (q) => q.params.CallUUID === callUuid, 15_000);
    assert.equal(hangup.params.HangupCauseCode, '4010');
    assert.equal(hangup.params.HangupCauseName, 'End Of XML Instructions');

    // The pod saw the bot close the socket. A bot that ends its pipeline sends a close frame. A
    // stopped process does too (uvicorn's 1012), but it exits with the pod's media unread, so its
    // kernel may reset the connection before a busy pod has read that frame: then the pod sees
    // the connection lost, and the call still ends as above.
    const closedLine = rig.logs().find((l) => l.msg === 'stream closed' && l.callUuid === callUuid);
    t.diagnostic(`pod: stream closed by ${String(closedLine?.by)} with ${String(closedLine?.code)} (${String(closedLine?.reason)})`);
    assert.ok(closedLine, 'the pod logged the stream closing');
    if (leave === 'bot-hangs-up' || closedLine.by !== 'error') assert.equal(closedLine.by, 'agent');
    else assert.deepEqual([closedLine.code, closedLine.reason], [1006, 'connection_lost']);

    // What Pipecat saw.
    assert.deepEqual(summary.errors, [], 'pipecat logged errors');
    assert.equal(summary.connections, 1);
    assert.equal(summary.detected, 'plivo');
    assert.equal(summary.call_data?.call_id, callUuid);
    const callerIn = summary.media_in - summary.silent_media_in;
    t.diagnostic(`pipecat got ${callerIn} caller frames and ${summary.silent_media_in} silence frames`);
    assert.ok(callerIn === FRAMES || callerIn === FRAMES - 1, `every caller frame reached Pipecat (less the first if the runner read it): ${callerIn}`);
    assert.ok(summary.silent_media_in > 0, 'the pod kept the stream going with silence while the caller was quiet');
    assert.equal(summary.frames_in, summary.media_in, 'every media message became an InputAudioRawFrame');
    assert.equal(summary.frames_out, summary.frames_in);
    assert.equal(summary.clear_audio_sent, 1, 'the first keypress barged in as clearAudio');
    assert.deepEqual(summary.other_out, []);
    assert.equal(summary.ended_by_bot, leave === 'bot-hangs-up');
    assert.equal(summary.exit, leave === 'bot-hangs-up' ? 'connection_closed' : 'signal');

    // What the caller heard: Pipecat's echo, as the caller's own tone. 8 kHz μ-law in and out,
    // and μ-law -> PCM -> μ-law is lossless, so it is the caller's frames themselves, in order
    // (from the second one if the runner read the first), between the echoed silence and the
    // pod's own.
    const echo = pcmu(uac.rtpIn);
    const body = callerEcho(uac.rtpIn);
    t.diagnostic(`caller got ${echo.length} frames (${body.length} of its own); pipecat sent ${summary.play_audio_bytes} bytes in ${summary.play_audio_sent} playAudio (${summary.silent_play_audio_bytes} in all-silence messages, ${summary.end_padding_bytes} of them end-of-call padding)`);
    assert.equal(body.length, callerIn, 'every caller frame Pipecat got came back once');
    const first = FRAMES - callerIn;
    body.forEach((p, i) => assert.ok(p.payload.equals(sent[first + i]!), `echoed packet ${i} is caller frame ${first + i}`));
    const heard = ulawDecode(Buffer.concat(body.map((p) => p.payload)));
    const share = toneShare(heard, TONE_HZ);
    t.diagnostic(`${(share * 100).toFixed(2)}% of the echo at ${TONE_HZ} Hz`);
    assert.ok(share > 0.95, `the echo is ${(share * 100).toFixed(1)}% ${TONE_HZ} Hz`);
    assert.ok(toneShare(heard, 440) < 0.01, 'and not another tone');
    // Everything else the caller heard is silence: echoed, or Pipecat's end-of-call padding (which
    // the pod plays out before hanging up: it was queued before the socket closed).
    const others = echo.filter((p) => !body.includes(p));
    assert.ok(others.every((p) => ulawDecode(p.payload).every((x) => Math.abs(x) <= 64)), 'the rest is quiet');
    // The pod's silence makes the packet count no measure of what Pipecat sent; its audible part is.
    const audible = echo.filter((p) => !isDigitalSilence(p));
    assert.ok(audible.length * 160 <= summary.play_audio_bytes - summary.silent_play_audio_bytes, 'no more audio than Pipecat sent');
    if (leave === 'process-stopped') assert.equal(summary.end_padding_bytes, 0, 'no end-of-call padding when the process is stopped');
    return { summary, closeCode: closedLine.code };
  } finally {
    await agent.stop();
  }
}

test('full call to a Pipecat bot, bot process stopped: Plivo detected, echo back as the caller\'s tone, DTMF reaches Pipecat, the socket closing ends the call 4010 with a BYE', { skip: skip ?? false, timeout: 120_000 }, async (t) => {
  const { summary } = await callPipecatBot(t, 'process-stopped');
  assert.deepEqual(summary.dtmf, ['5']);
});

test('full call to a Pipecat bot that hangs up itself (EndWorkerFrame on #): the socket closes normally and the call ends 4010 with a BYE', { skip: skip ?? false, timeout: 120_000 }, async (t) => {
  const { summary, closeCode } = await callPipecatBot(t, 'bot-hangs-up');
  assert.deepEqual(summary.dtmf, ['5', '#']);
  assert.equal(closeCode, 1000, 'a graceful end closes with 1000');
});
