/**
 * End to end with sipp as the caller: sipp plays a generated capture of PCMU audio and RFC 4733
 * presses into a call whose XML is a bidirectional <Stream>, and the WebSocket agent checks
 * what the media pod made of it — start, media in order at the RTP cadence carrying exactly the
 * bytes sipp sent, the digits, and stop when sipp hangs up.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import plivo from 'plivo';
import { runSipp, SIPP_DIR } from '../support/sipp.js';
import { RtpStreamPlan, readPcapUdpPayloads, parseRtpPacket, writePcap } from '../support/pcap.js';
import { gaps, markedToneFrames, median, toneShare, ulawDecode } from './audio.js';
import { APP_ID, startMediaRig } from './harness.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

test('pcap generator: RTP survives the capture round trip with its timing', () => {
  const plan = new RtpStreamPlan();
  for (const f of markedToneFrames(3)) plan.audio(f);
  plan.dtmf('5', 60);
  const back = readPcapUdpPayloads(Buffer.from(pcapOf(plan)));
  assert.equal(back.length, plan.packets.length);
  assert.deepEqual(back.map((p) => p.atMs), plan.packets.map((p) => p.atMs));
  const rtp = back.map((p) => parseRtpPacket(Buffer.from(p.data))!);
  assert.deepEqual(rtp.map((r) => r.payloadType), [0, 0, 0, 101, 101, 101, 101, 101, 101]);
  assert.deepEqual(rtp.map((r) => r.sequenceNumber - rtp[0]!.sequenceNumber), [0, 1, 2, 3, 4, 5, 6, 7, 8]);
  assert.equal(rtp[3]!.marker, true);
  assert.equal(new Set(rtp.slice(3).map((r) => r.timestamp)).size, 1, 'one timestamp per press');
  assert.deepEqual([rtp[8]!.payload[0], rtp[8]!.payload[1], rtp[8]!.payload.readUInt16BE(2)], [5, 0x80 | 10, 3 * 160]);

  function pcapOf(p: RtpStreamPlan): Uint8Array {
    const f = path.join(os.tmpdir(), `sipflow-gen-${process.pid}.pcap`);
    writePcap(f, p.packets);
    try { return fs.readFileSync(f); } finally { fs.rmSync(f, { force: true }); }
  }
});

test('sipp audio and RFC 4733 DTMF reach the agent as Plivo start/media/dtmf/stop, in order and at 20 ms cadence', async (t) => {
  const rig = await startMediaRig();
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'sipflow-media-sipp-'));
  try {
    const r = plivo.Response();
    r.addStream(`${rig.agent.baseUrl}/agent`, { bidirectional: true, keepCallAlive: true, contentType: 'audio/x-mulaw;rate=8000' });
    rig.answer.route('/answer', r.toXML());

    // 1.5 s of tone, presses 1, 2, # (audio pauses while a key is down, as on a phone), 1 s more tone.
    const before = markedToneFrames(75);
    const after = markedToneFrames(50, 75);
    const plan = new RtpStreamPlan();
    for (const f of before) plan.audio(f);
    for (const d of ['1', '2', '#']) plan.dtmf(d, 100).gap(60);
    for (const f of after) plan.audio(f);
    const pcap = path.join(work, 'tone-dtmf.pcap');
    writePcap(pcap, plan.packets);
    const playMs = plan.elapsedMs + 1500;
    const scenario = path.join(work, 'media-uac-pcap.xml');
    fs.writeFileSync(scenario, fs.readFileSync(path.join(SIPP_DIR, 'media-uac-pcap.xml'), 'utf8')
      .replace('@PCAP_FILE@', pcap).replace('@PLAY_MS@', String(playMs)));

    const mediaPort = 30000 + 2 * (process.pid % 4000);
    const sipp = runSipp({
      scenario, service: APP_ID, target: `127.0.0.1:${rig.pod.sipPort}`, timeoutSec: 30,
      args: ['-mi', '127.0.0.1', '-mp', String(mediaPort)],
    });
    const res = await sipp;
    assert.equal(res.failed, 0, `sipp failed: ${res.errors} ${res.stderr.slice(-1500)}`);
    assert.equal(res.successful, 1, `sipp: code ${res.code} ${res.stdout.slice(-2000)} ${res.stderr.slice(-2000)} ${res.errors.slice(-1000)}`);
    const agent = rig.agent.connections[0];
    assert.ok(agent, 'the media pod opened the stream');
    await agent.closed;

    const ans = await rig.answer.waitFor('/answer');
    const msgs = agent.messages;
    assert.ok(msgs.every((m) => !m.isBinary && m.json), 'every frame is a JSON text frame');

    // start: first, with the shape the Plivo SDKs validate.
    const start = msgs[0]!.json!;
    assert.equal(start.event, 'start');
    assert.equal(start.sequenceNumber, 1);
    const s = start.start as Record<string, unknown>;
    assert.equal(s.callId, ans.params.CallUUID);
    assert.match(String(s.callId), UUID);
    assert.match(String(s.streamId), UUID);
    assert.deepEqual(s.tracks, ['inbound']);
    assert.deepEqual(s.mediaFormat, { encoding: 'audio/x-mulaw', sampleRate: 8000 });
    assert.equal(typeof start.extra_headers, 'string');

    // One counter over every message the pod sent, starting at 1.
    assert.deepEqual(msgs.map((m) => m.json!.sequenceNumber), msgs.map((_, i) => i + 1));

    // Every media message, the caller's frames and the silence the pod sends in their place when
    // the caller's RTP pauses (during the key presses, after sipp's audio ends): the agent's stream
    // keeps its cadence, as Plivo's does.
    const allMedia = agent.byEvent('media');
    const payloadOf = (m: (typeof allMedia)[number]): Buffer => Buffer.from(String((m.json!.media as Record<string, unknown>).payload), 'base64');
    assert.ok(allMedia.every((m) => payloadOf(m).length === 160), 'every payload is 160 bytes of μ-law');
    allMedia.forEach((m, i) => {
      const j = m.json!;
      const md = j.media as Record<string, unknown>;
      assert.equal(j.streamId, s.streamId);
      assert.equal(md.track, 'inbound');
      assert.equal(md.chunk, i + 1);
      assert.equal(typeof md.timestamp, 'string');
      assert.match(String(md.timestamp), /^\d{13}$/);
      assert.equal(typeof j.extra_headers, 'string');
    });
    const isFill = (m: (typeof allMedia)[number]): boolean => payloadOf(m).every((b) => b === 0xff);
    const media = allMedia.filter((m) => !isFill(m));
    const sent = [...before, ...after];
    assert.equal(new Set(sent.map((f) => f.toString('hex'))).size, sent.length, 'test frames are all distinct');
    assert.ok(sent.every((f) => !f.every((b) => b === 0xff)), 'no test frame looks like silence');
    const payloads = media.map(payloadOf);
    // sipp starts sending 500 ms after its ACK; on a loaded machine the pod may still be opening
    // the WebSocket, and frames from before the stream opened are not streamed. From the first
    // streamed frame on, every one arrives.
    const skipped = sent.findIndex((f) => f.equals(payloads[0]!));
    assert.ok(skipped >= 0 && skipped <= 50, `first media frame is sipp's frame #${skipped}`);
    assert.equal(media.length, sent.length - skipped, `media messages ${media.length}, audio packets sent ${sent.length}, before the stream ${skipped}`);
    // Byte for byte what sipp sent, in the order it sent it.
    payloads.forEach((p, i) => assert.ok(p.equals(sent[skipped + i]!), `media ${i + 1} differs from sipp's frame #${skipped + i}`));
    // And it is the tone: per 20 ms frame (exactly 20 periods of 1 kHz), nearly all energy at 1 kHz.
    const shares = payloads.map((p) => toneShare(ulawDecode(p), 1000));
    assert.ok(Math.min(...shares) > 0.95, `lowest 1 kHz share in a frame ${Math.min(...shares).toFixed(3)}`);
    const stamps = allMedia.map((m) => Number((m.json!.media as Record<string, unknown>).timestamp));
    assert.ok(gaps(stamps).every((g) => g >= 0), 'media timestamps never go back');
    const realStamps = media.map((m) => Number((m.json!.media as Record<string, unknown>).timestamp));
    const wallSpan = realStamps[realStamps.length - 1]! - realStamps[0]!;
    const planned = plan.elapsedMs - 20 * (skipped + 1);
    assert.ok(wallSpan > planned * 0.7 && wallSpan < planned * 1.5, `media timestamps span ${wallSpan} ms for ${planned} ms of audio`);

    // Cadence, as statistics over the steady stretches.
    const split = before.length - skipped;
    const beforeGaps = gaps(media.slice(0, split).map((m) => m.at));
    const afterGaps = gaps(media.slice(split).map((m) => m.at));
    const med = median([...beforeGaps, ...afterGaps]);
    const afterSpan = media[media.length - 1]!.at - media[split]!.at;
    assert.ok(afterSpan > 49 * 20 * 0.6 && afterSpan < 49 * 20 * 1.6, `50 frames arrived over ${afterSpan.toFixed(0)} ms`);
    // The key presses stop the caller's audio for ~480 ms; the agent keeps getting frames: silence,
    // one per 20 ms once the caller's audio is 60 ms overdue.
    const pauseFill = allMedia.slice(allMedia.indexOf(media[split - 1]!) + 1, allMedia.indexOf(media[split]!));
    assert.ok(pauseFill.length > 0 && pauseFill.every(isFill), 'only silence between the two tone stretches');
    assert.ok(pauseFill.length >= 10 && pauseFill.length <= 30, `${pauseFill.length} silence frames over the ~480 ms pause`);
    const allGaps = gaps(allMedia.map((m) => m.at));
    t.diagnostic(`frames before the stream opened: ${skipped}; median inter-arrival ${med.toFixed(2)} ms over ${media.length} caller frames; ${allMedia.length - media.length} silence frames; longest gap ${Math.max(...allGaps).toFixed(1)} ms`);
    assert.ok(med >= 10 && med <= 30, `median media inter-arrival ${med.toFixed(1)} ms`);

    // The presses, once each, in order, between the two tone stretches.
    const dtmf = agent.byEvent('dtmf');
    assert.deepEqual(dtmf.map((m) => (m.json!.dtmf as Record<string, unknown>).digit), ['1', '2', '#']);
    for (const d of dtmf) {
      const dd = d.json!.dtmf as Record<string, unknown>;
      assert.equal(dd.track, 'inbound');
      assert.match(String(dd.timestamp), /^\d{13}$/);
      assert.equal(d.json!.streamId, s.streamId);
    }
    const idx = (m: unknown): number => msgs.indexOf(m as never);
    assert.ok(idx(dtmf[0]) > idx(media[split - 1]) && idx(dtmf[2]) < idx(media[split]), 'digits arrive between the two tone stretches');

    // sipp's BYE ends the call: stop last, then the pod closes the socket normally.
    const last = msgs[msgs.length - 1]!.json!;
    assert.equal(last.event, 'stop');
    assert.equal(last.streamId, s.streamId);
    const closed = await agent.closed;
    assert.equal(closed.code, 1000);
    const hang = await rig.answer.waitFor('/hangup');
    assert.equal(hang.params.CallUUID, ans.params.CallUUID);
    assert.equal(hang.params.HangupCauseCode, '4000');
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
    await rig.close();
  }
});
