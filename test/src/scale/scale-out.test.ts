// Three media pods as separate processes in --kube mode behind a balancer (the test): new calls
// spread over them, each call's Contact, SDP, in-dialog requests and RTP stay on the pod that
// answered it; a SIGKILLed pod takes only its own calls with it, and a SIGTERMed pod with a 1 s
// grace period cuts its calls with BYE and a 9020 hangup callback while the others carry on.
import { after, afterEach, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { getHeader } from '@sipflow/media-pod/sip/message/index';
import { controlPlaneSkipReason, pollUntil } from '../support/control-plane.js';
import type { PodProcess } from '../support/pod-process.js';
import { NoSipResponseError, SipCall, uriHostPort } from '../support/sip-caller.js';
import { SCALE_APP, startScaleCluster, type ScaleCluster } from '../support/scale-cluster.js';

const skip = await controlPlaneSkipReason();
// Calls that must survive longer than this prove the caller's RTP reaches the owning pod.
const MEDIA_TIMEOUT_SEC = 4;

interface Placed { call: SipCall; pod: PodProcess }

/** Whether the test that just ran failed (TestContext has no public flag for it on Node 20). */
function failed(t: unknown): boolean { return (t as { passed?: boolean }).passed === false; }

async function counters(pod: PodProcess): Promise<Record<string, number>> {
  return {
    invite: await pod.metric('sipflow_sip_messages_total', { kind: 'INVITE' }),
    ack: await pod.metric('sipflow_sip_messages_total', { kind: 'ACK' }),
    bye: await pod.metric('sipflow_sip_messages_total', { kind: 'BYE' }),
    answered: await pod.metric('sipflow_sip_invites_total', { outcome: 'answered' }),
  };
}

function delta(a: Record<string, number>, b: Record<string, number>): Record<string, number> {
  return Object.fromEntries(Object.entries(b).map(([k, v]) => [k, v - (a[k] ?? 0)]));
}

describe('three media pods behind a balancer', { skip, timeout: 400_000 }, () => {
  let c: ScaleCluster;
  const open: SipCall[] = [];

  async function place(pod: PodProcess, waitSec: number): Promise<Placed> {
    const call = await SipCall.start();
    open.push(call);
    const res = await call.invite({ host: pod.host, port: pod.sipPort }, SCALE_APP, {
      headers: [['X-PH-Call', call.callId], ['X-PH-Wait', String(waitSec)]],
    });
    assert.equal(res.status, 200, `${pod.name} answered ${res.status} ${res.reason}`);
    return { call, pod };
  }

  async function hangupCause(callId: string): Promise<string> {
    const h = await c.answer.waitFor('/hangup', (r) => r.params['X-PH-Call'] === callId, 30_000);
    return h.params.HangupCauseCode ?? '';
  }

  before(async () => {
    c = await startScaleCluster({ pods: 3, podArgs: ['--media-timeout', String(MEDIA_TIMEOUT_SEC), '--drain-grace', '30'] });
  });
  afterEach((t) => {
    for (const call of open.splice(0)) call.close();
    if (failed(t)) {
      for (const p of c?.pods ?? []) if (p) console.error(`--- ${p.name} log tail ---\n${p.logs.slice(-30).map((l) => JSON.stringify(l)).join('\n')}`);
      console.error(`--- operator log tail ---\n${c?.operatorLogs().slice(-30).join('\n')}`);
    }
  });
  after(async () => { await c?.stop(); });

  it('spreads calls; each call stays on its pod (Contact, SDP, ACK/BYE, RTP) and the others see none of it', async () => {
    const pods = c.pods.map((p) => p!);
    const base = await Promise.all(pods.map(counters));
    // Round-robin, as DNS or an L4 balancer would: two calls per pod. The first of each is hung
    // up by the caller, the second ends on the pod's side after the XML (past the media timeout).
    const placed: Placed[] = [];
    for (let i = 0; i < 6; i++) placed.push(await place(pods[i % 3]!, i < 3 ? 60 : MEDIA_TIMEOUT_SEC + 6));

    for (const { call, pod } of placed) {
      const ok = call.received.find((r) => r.message.kind === 'response' && r.message.status === 200)!.message;
      assert.deepEqual(uriHostPort(getHeader(ok, 'Contact') ?? ''), { host: pod.host, port: pod.sipPort }, 'Contact is the pod\'s own address');
      assert.deepEqual(call.media?.host, pod.host, 'SDP c= is the pod\'s own address');
    }
    for (const pod of pods) assert.equal(await pod.metric('sipflow_calls_active'), 2, `${pod.name} holds its two calls`);

    for (const { call, pod } of placed.slice(0, 3)) {
      const res = await call.bye();
      assert.equal(res.status, 200);
      assert.equal(await hangupCause(call.callId), '4000', `${pod.name}: caller hangup`);
    }
    for (const { call, pod } of placed.slice(3)) {
      const bye = await call.waitForPodBye(30_000);
      assert.equal(bye.from, `${pod.host}:${pod.sipPort}`, 'the pod that owns the call sends its BYE');
      // 4010 (end of XML), not 6020: the caller's RTP to the SDP address kept the media timeout away.
      assert.equal(await hangupCause(call.callId), '4010', `${pod.name}: end of XML`);
    }
    for (const { call, pod } of placed) {
      assert.deepEqual([...call.sipSources()], [`${pod.host}:${pod.sipPort}`], 'every SIP message of the call came from its pod');
      assert.ok(call.rtpPacketsOut > 0, 'the caller sent RTP');
      assert.ok(call.rtpPacketsIn > 0, 'the pod sent RTP (the DTMF press)');
      assert.deepEqual([...call.rtpSources].map((s) => s.replace(/:\d+$/, '')), [pod.host], 'RTP came from the owning pod');
    }
    for (const [i, pod] of pods.entries()) {
      const d = delta(base[i]!, await counters(pod));
      assert.deepEqual(d, { invite: 2, ack: 2, bye: 1, answered: 2 }, `${pod.name} saw exactly its own calls' requests`);
      assert.equal(await pod.metric('sipflow_calls_active'), 0);
      for (const { call, pod: owner } of placed) {
        const mentions = pod.logs.some((l) => l.callId === call.callId);
        assert.equal(mentions, owner === pod, `${pod.name} ${owner === pod ? 'logs' : 'never logs'} call ${call.callId}`);
      }
    }
  });

  it('a SIGKILLed pod takes only its own calls; its caller gets no answer and no callback', async () => {
    const pods = c.pods.map((p) => p!);
    const placed = await Promise.all(pods.map((p) => place(p, 120)));
    const victim = pods[1]!;
    victim.signal('SIGKILL');
    assert.equal((await victim.exited).signal, 'SIGKILL');

    for (const { pod } of [placed[0]!, placed[2]!]) assert.equal(await pod.metric('sipflow_calls_active'), 1, `${pod.name} still holds its call`);
    await assert.rejects(placed[1]!.call.bye(3000), NoSipResponseError, 'nobody answers for the killed pod');
    for (const { call, pod } of [placed[0]!, placed[2]!]) {
      assert.equal(call.podBye(), undefined, `${pod.name} did not end its call`);
      assert.equal((await call.bye()).status, 200);
      assert.equal(await hangupCause(call.callId), '4000');
    }
    assert.equal(placed[1]!.call.podBye(), undefined);
    assert.deepEqual(c.hangupsOf(placed[1]!.call.callId), [], 'a killed pod sends no hangup callback');
  });

  it('a SIGTERMed pod with --drain-grace 1 cuts its calls with BYE and cause 9020; the others carry on', async () => {
    await c.startPod(1, ['--drain-grace', '1']);
    const pods = c.pods.map((p) => p!);
    const placed = await Promise.all(pods.map((p) => place(p, 120)));
    const victim = pods[1]!;
    victim.signal('SIGTERM');
    const bye = await placed[1]!.call.waitForPodBye(20_000);
    assert.equal(bye.from, `${victim.host}:${victim.sipPort}`);
    assert.equal(await hangupCause(placed[1]!.call.callId), '9020', 'Server Shutting Down');
    const hangup = c.hangupsOf(placed[1]!.call.callId)[0]!;
    assert.equal(hangup.params.HangupCauseName, 'Server Shutting Down');
    assert.deepEqual(await victim.exited, { code: 0, signal: null }, 'the drained pod exits by itself');

    for (const { call, pod } of [placed[0]!, placed[2]!]) {
      assert.equal(call.podBye(), undefined, `${pod.name} kept its call`);
      assert.equal(await pod.metric('sipflow_calls_active'), 1);
      assert.equal((await call.bye()).status, 200);
      assert.equal(await hangupCause(call.callId), '4000');
    }
    await pollUntil('no calls left', async () => ((await pods[0]!.metric('sipflow_calls_active')) + (await pods[2]!.metric('sipflow_calls_active')) === 0 ? true : undefined), { timeoutMs: 10_000 });
  });
});
