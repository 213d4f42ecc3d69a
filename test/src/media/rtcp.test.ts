/**
 * RTCP on a real call, against a far end written here from RFC 3550's layout (not the pod's own
 * builder): the pod's sender reports reach the caller's RTCP socket, the caller's receiver
 * report (loss, jitter, and LSR/DLSR for the round trip) comes back into the call-end summary
 * and the metrics, and the pod ends with an RTCP BYE.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import plivo from 'plivo';
import { startMediaRig, APP_ID, SILENCE_FRAME, type MediaRig } from './harness.js';
import { metricValue } from '../support/sip-trace.js';

let rig: MediaRig;
before(async () => { rig = await startMediaRig(); });
after(async () => { await rig.close(); });

interface ReceivedRtcp { type: number; ssrc: number; ntpMiddle?: number; at: number }

/** The packet types of one compound RTCP datagram, with the SR's NTP middle 32 bits. */
function readCompound(buf: Buffer, at: number): ReceivedRtcp[] {
  const out: ReceivedRtcp[] = [];
  let off = 0;
  while (off + 8 <= buf.length) {
    assert.equal(buf[off]! >> 6, 2, 'RTCP version 2');
    const type = buf[off + 1]!;
    const words = buf.readUInt16BE(off + 2);
    const ssrc = buf.readUInt32BE(off + 4);
    const r: ReceivedRtcp = { type, ssrc, at };
    if (type === 200) r.ntpMiddle = ((buf.readUInt32BE(off + 8) & 0xffff) << 16 | buf.readUInt32BE(off + 12) >>> 16) >>> 0;
    out.push(r);
    off += (words + 1) * 4;
  }
  assert.equal(off, buf.length, 'the lengths add up to the datagram');
  return out;
}

/** RR from `ssrc` about `about`: fraction lost 26/256, 5 lost, jitter 80 units, LSR/DLSR given. */
function receiverReport(ssrc: number, about: number, lsr: number, dlsrUnits: number): Buffer {
  const b = Buffer.alloc(32);
  b[0] = 0x81; // V=2, one report block
  b[1] = 201;
  b.writeUInt16BE(7, 2);
  b.writeUInt32BE(ssrc, 4);
  b.writeUInt32BE(about, 8);
  b.writeUInt32BE((26 << 24) | 5, 12);
  b.writeUInt32BE(0x10000 + 50, 16); // extended highest sequence number
  b.writeUInt32BE(80, 20);
  b.writeUInt32BE(lsr >>> 0, 24);
  b.writeUInt32BE(dlsrUnits >>> 0, 28);
  return b;
}

test('RTCP both ways on a real call: the pod reports, reads the caller\'s receiver report (loss, jitter, RTT) and says BYE', async () => {
  const r = plivo.Response();
  r.addSpeak('Reports, please.');
  r.addWait({ length: 30 });
  rig.answer.route('/answer', r.toXML());
  const sentBefore = metricValue(await rig.pod.metrics(), 'sipflow_rtcp_packets_total', { kind: 'sent' });
  const rttBefore = metricValue(await rig.pod.metrics(), 'sipflow_call_rtt_seconds_count');

  const uac = await rig.caller();
  const final = await uac.invite(rig.pod.sipPort, APP_ID);
  assert.equal(final.status, 200);
  uac.startSending(() => SILENCE_FRAME);
  const podRtcp = { address: '127.0.0.1', port: uac.remoteMedia!.port + 1 };

  const sock = dgram.createSocket('udp4');
  await new Promise<void>((res) => sock.bind(0, '127.0.0.1', res));
  const got: ReceivedRtcp[] = [];
  sock.on('message', (m) => got.push(...readCompound(m, performance.now())));
  try {
    await uac.waitUntil(() => uac.rtpIn.length > 0, 5000, 'RTP from the pod');
    const podSsrc = uac.rtpIn[0]!.ssrc;
    const mySsrc = 0x5eed1234;
    // A first report with no SR seen yet (LSR 0): it also tells the pod where our RTCP lives.
    sock.send(receiverReport(mySsrc, podSsrc, 0, 0), podRtcp.port, podRtcp.address);
    const deadline = performance.now() + 10_000;
    while (!got.some((p) => p.type === 200) && performance.now() < deadline) await new Promise((res) => setTimeout(res, 50));
    const sr = got.find((p) => p.type === 200);
    assert.ok(sr, `a sender report from the pod within 10 s (got ${JSON.stringify(got)})`);
    assert.equal(sr.ssrc, podSsrc, 'the SR names the SSRC of the pod\'s RTP');
    assert.ok(got.some((p) => p.type === 202), 'SDES (CNAME) in the compound');
    // Answer as a real receiver would: LSR = the SR's NTP middle bits, DLSR = how long we held it.
    const heldMs = performance.now() - sr.at;
    sock.send(receiverReport(mySsrc, podSsrc, sr.ntpMiddle!, Math.round(heldMs * 65.536)), podRtcp.port, podRtcp.address);
    await new Promise((res) => setTimeout(res, 300));
    await uac.bye();
  } finally {
    await new Promise((res) => setTimeout(res, 300));
    sock.close();
  }
  const uuid = rig.answer.requests.filter((q) => q.path === '/answer').at(-1)!.params.CallUUID;
  await rig.answer.waitFor('/hangup', (q) => q.params.CallUUID === uuid, 15_000);
  const ended = rig.logs().find((l) => l.msg === 'call ended' && l.callUuid === uuid);
  const media = ended?.media as Record<string, unknown> | undefined;
  assert.ok(media, 'call-end summary');
  assert.ok((media.rtcpIn as number) >= 2, `both reports counted: ${JSON.stringify(media)}`);
  assert.ok((media.rtcpOut as number) >= 2, 'at least one report and the BYE');
  const far = media.farEnd as { fractionLost: number; cumulativeLost: number; jitterMs: number; rttMs: number | null };
  assert.equal(far.fractionLost, Math.round((26 / 256) * 1000) / 1000);
  assert.equal(far.cumulativeLost, 5);
  assert.equal(far.jitterMs, 10, '80 timestamp units at 8 kHz');
  assert.ok(far.rttMs !== null && far.rttMs >= 0 && far.rttMs < 1000, `a round trip over loopback: ${far.rttMs}`);
  assert.ok(got.some((p) => p.type === 203), 'RTCP BYE when the call ended');
  const metrics = await rig.pod.metrics();
  assert.ok(metricValue(metrics, 'sipflow_rtcp_packets_total', { kind: 'sent' }) - sentBefore >= 2);
  assert.equal(metricValue(metrics, 'sipflow_call_rtt_seconds_count') - rttBefore, 1);
});
