/**
 * --rtp-send-silence: while the agent of a bidirectional <Stream> says nothing, the caller keeps
 * receiving RTP (digital μ-law silence every 20 ms, one continuous stream), so a carrier's SBC that
 * ends calls after RTP inactivity keeps the call; the agent's audio takes the place of silence
 * packets in the same sequence, byte for byte. Real pod, real caller, real agent.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import plivo from 'plivo';
import { openStreamCall, startMediaRig, type MediaRig } from './harness.js';
import { isDigitalSilence } from './uac.js';

let rig: MediaRig;
before(async () => { rig = await startMediaRig({ extraArgs: ['--rtp-send-silence'] }); });
after(async () => { await rig.close(); });

test('an agent that listens still gives the caller a continuous RTP stream of silence; its audio takes its place', async () => {
  const r = plivo.Response();
  r.addStream(`${rig.agent.baseUrl}/agent`, { bidirectional: true, keepCallAlive: true, contentType: 'audio/x-mulaw;rate=8000' });
  const { uac, conn } = await openStreamCall(rig, r.toXML());
  // The agent is silent for a while: silence keeps coming.
  await new Promise((res) => setTimeout(res, 600));
  const quiet = uac.rtpIn.filter((p) => p.payloadType === 0);
  assert.ok(quiet.length >= 20, `${quiet.length} packets in 600 ms of an agent saying nothing`);
  assert.ok(quiet.every(isDigitalSilence), 'all of them digital silence');

  const from = uac.rtpIn.length;
  const voice = Buffer.alloc(800, 0x55); // 5 frames
  conn.playAudio(voice);
  await new Promise((res) => setTimeout(res, 400));
  await uac.bye();
  const all = uac.rtpIn.filter((p) => p.payloadType === 0);
  // One stream from the first packet to the last: sequence +1, timestamp +160, the marker only first.
  for (let i = 1; i < all.length; i++) {
    assert.equal(all[i]!.sequenceNumber, (all[i - 1]!.sequenceNumber + 1) & 0xffff, `sequence at ${i}`);
    assert.equal((all[i]!.timestamp - all[i - 1]!.timestamp) >>> 0, 160, `timestamp at ${i}`);
  }
  assert.deepEqual(all.map((p) => p.marker).filter(Boolean).length, 1);
  assert.equal(all[0]!.marker, true);
  // The agent's five frames, whole and in order, between silence.
  const after = uac.rtpIn.slice(from).filter((p) => p.payloadType === 0);
  const voiced = after.map((p, i) => ({ i, silent: isDigitalSilence(p), p })).filter((x) => !x.silent);
  assert.equal(voiced.length, 5);
  assert.ok(voiced.every((x, k) => k === 0 || x.i === voiced[k - 1]!.i + 1), 'back to back');
  assert.ok(voiced.every((x) => x.p.payload.equals(Buffer.alloc(160, 0x55))));
  assert.ok(after.slice(voiced[4]!.i + 1).length > 0 && after.slice(voiced[4]!.i + 1).every(isDigitalSilence), 'silence again after it');
});
