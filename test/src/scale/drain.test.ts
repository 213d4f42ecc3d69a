// Draining media pods (separate processes, --kube mode): SIGTERM turns /readyz 503 at once, new
// INVITEs and OPTIONS get 503 (+ Retry-After), calls in progress end normally and then the
// process exits by itself; past a short grace period a call is cut with BYE and cause 9020. A
// rolling restart of all three pods under steady call load drops no call.
import { after, afterEach, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { getHeader } from '@sipflow/media-pod/sip/message/index';
import { controlPlaneSkipReason, pollUntil } from '../support/control-plane.js';
import type { PodProcess } from '../support/pod-process.js';
import { NoSipResponseError, SipCall, sipOptions } from '../support/sip-caller.js';
import { SCALE_APP, startScaleCluster, type ScaleCluster } from '../support/scale-cluster.js';

const skip = await controlPlaneSkipReason();

function failed(t: unknown): boolean { return (t as { passed?: boolean }).passed === false; }

describe('draining media pods', { skip, timeout: 480_000 }, () => {
  let c: ScaleCluster;
  const open: SipCall[] = [];

  async function dial(pod: PodProcess, waitSec: number): Promise<{ call: SipCall; status: number; retryAfter: string | undefined }> {
    const call = await SipCall.start();
    open.push(call);
    const res = await call.invite({ host: pod.host, port: pod.sipPort }, SCALE_APP, {
      headers: [['X-PH-Call', call.callId], ['X-PH-Wait', String(waitSec)]],
    });
    return { call, status: res.status, retryAfter: getHeader(res, 'Retry-After') };
  }
  async function answered(pod: PodProcess, waitSec: number): Promise<SipCall> {
    const r = await dial(pod, waitSec);
    assert.equal(r.status, 200, `${pod.name} answered ${r.status}`);
    return r.call;
  }
  async function hangupCause(callId: string): Promise<string> {
    const h = await c.answer.waitFor('/hangup', (r) => r.params['X-PH-Call'] === callId, 30_000);
    return h.params.HangupCauseCode ?? '';
  }

  before(async () => { c = await startScaleCluster({ pods: 3, podArgs: ['--drain-grace', '60'] }); });
  afterEach((t) => {
    for (const call of open.splice(0)) call.close();
    if (failed(t)) {
      for (const p of c?.pods ?? []) if (p) console.error(`--- ${p.name} log tail ---\n${p.logs.slice(-30).map((l) => JSON.stringify(l)).join('\n')}`);
    }
  });
  after(async () => { await c?.stop(); });

  it('SIGTERM: unready at once, new INVITE and OPTIONS get 503, calls end normally, then the process exits', async () => {
    const pod = c.pods[0]!;
    const ending = await answered(pod, 6); // ends by itself (end of XML)
    const held = await answered(pod, 120); // the caller hangs up
    pod.signal('SIGTERM');
    const ready = await pollUntil('/readyz to turn 503', async () => {
      const r = await pod.readyz();
      return r.status === 503 ? r : undefined;
    }, { timeoutMs: 10_000, intervalMs: 20 });
    assert.match(ready.body, /draining/);
    // "At once": unready while both calls are still up.
    assert.equal(await pod.metric('sipflow_calls_active'), 2);
    assert.equal(ending.podBye(), undefined);

    const refused = await dial(pod, 1);
    assert.equal(refused.status, 503, 'a new INVITE to a draining pod');
    assert.match(refused.retryAfter ?? '', /^\d+/, 'with Retry-After');
    const options = await sipOptions({ host: pod.host, port: pod.sipPort });
    assert.equal(options?.status, 503, 'OPTIONS (the balancer health check) says draining');
    assert.equal(await pod.metric('sipflow_draining'), 1);

    await ending.waitForPodBye(30_000);
    assert.equal(await hangupCause(ending.callId), '4010', 'the call ran to the end of its XML');
    assert.ok(pod.isRunning(), 'still running while a call is up');
    assert.equal((await pod.readyz()).status, 503);
    assert.equal((await held.bye()).status, 200);
    assert.equal(await hangupCause(held.callId), '4000');
    assert.deepEqual(await pod.exited, { code: 0, signal: null }, 'exits by itself once its calls are over');
    assert.ok(pod.logs.some((l) => l.msg === 'draining: refusing new calls'), 'drain logged');
    assert.ok(!pod.logs.some((l) => l.msg === 'drain grace period over; ending remaining calls'));
  });

  it('a call outliving --drain-grace 2 is cut with BYE and hangup cause 9020', async () => {
    const pod = await c.startPod(0, ['--drain-grace', '2']);
    const call = await answered(pod, 120);
    pod.signal('SIGTERM');
    const bye = await call.waitForPodBye(20_000);
    assert.equal(bye.from, `${pod.host}:${pod.sipPort}`);
    assert.equal(await hangupCause(call.callId), '9020');
    assert.deepEqual(await pod.exited, { code: 0, signal: null });
    assert.ok(pod.logs.some((l) => l.msg === 'drain grace period over; ending remaining calls'));
  });

  it('a rolling restart of all pods under steady load drops no call', async () => {
    await c.startPod(0);
    // The balancer: pods in rotation, taken out on a 503 (to an INVITE or an OPTIONS health
    // check), put back once the replacement's /readyz says 200.
    const rotation = new Set<number>([0, 1, 2]);
    let next = 0;
    const pick = (): number | undefined => {
      const slots = [...rotation].sort();
      if (slots.length === 0) return undefined;
      return slots[next++ % slots.length];
    };
    interface Outcome { callId: string; pod: string; status: number | 'no-response' }
    const outcomes: Outcome[] = [];
    let refusedAndRetried = 0;
    let loading = true;
    const worker = async (): Promise<void> => {
      while (loading) {
        const slot = pick();
        const pod = slot === undefined ? undefined : c.pods[slot];
        if (slot === undefined || !pod) { await new Promise((r) => setTimeout(r, 50)); continue; }
        const call = await SipCall.start();
        try {
          let status: number | 'no-response';
          try {
            status = (await call.invite({ host: pod.host, port: pod.sipPort }, SCALE_APP, {
              headers: [['X-PH-Call', call.callId], ['X-PH-Wait', '1']],
            })).status;
          } catch (err) {
            if (!(err instanceof NoSipResponseError)) throw err;
            status = 'no-response';
          }
          if (status === 503) {
            rotation.delete(slot);
            refusedAndRetried++;
            continue;
          }
          outcomes.push({ callId: call.callId, pod: `${pod.name}/${pod.pid}`, status });
          if (status === 200) await call.waitForPodBye(30_000);
        } finally {
          call.close();
        }
      }
    };
    // The balancer's health check: OPTIONS to every pod every 500 ms; 200 puts it (back) in rotation.
    let probing = false;
    const healthCheck = setInterval(() => {
      if (probing) return;
      probing = true;
      void Promise.all(c.pods.map(async (pod, slot) => {
        const res = pod?.isRunning() ? await sipOptions({ host: pod.host, port: pod.sipPort }, 2000) : undefined;
        if (res?.status === 200 && pod?.isRunning()) rotation.add(slot);
        else rotation.delete(slot);
      })).finally(() => { probing = false; });
    }, 500);
    const workers = [worker(), worker(), worker()];
    const answeredBy = (pod: PodProcess): number => outcomes.filter((o) => o.pod === `${pod.name}/${pod.pid}` && o.status === 200).length;
    try {
      const waitForCallsOn = (pod: PodProcess, n: number): Promise<boolean> =>
        pollUntil(`${pod.name} to answer ${n} calls`, async () => (answeredBy(pod) >= n ? true : undefined), { timeoutMs: 60_000, intervalMs: 50 });
      for (const p of c.pods) await waitForCallsOn(p!, 1);
      for (const slot of [0, 1, 2]) {
        const old = c.pods[slot]!;
        old.signal('SIGTERM');
        await pollUntil(`the balancer to take ${old.name} out of rotation`, async () => (rotation.has(slot) ? undefined : true), { timeoutMs: 10_000, intervalMs: 20 });
        assert.deepEqual(await old.exited, { code: 0, signal: null }, `${old.name} drained and exited`);
        const fresh = await c.startPod(slot);
        rotation.add(slot);
        await waitForCallsOn(fresh, 2);
      }
    } finally {
      clearInterval(healthCheck);
      loading = false;
      await Promise.all(workers);
    }

    const failures = outcomes.filter((o) => o.status !== 200);
    assert.deepEqual(failures, [], 'every INVITE sent to a pod in rotation was answered');
    const causes = new Map<string, number>();
    for (const o of outcomes) {
      const cause = await hangupCause(o.callId);
      causes.set(cause, (causes.get(cause) ?? 0) + 1);
    }
    assert.deepEqual([...causes.keys()], ['4010'], `every answered call ended normally: ${JSON.stringify([...causes])}`);
    console.log(`rolling restart: ${outcomes.length} calls answered and ended normally, ${refusedAndRetried} INVITEs refused with 503 and retried on another pod`);
    assert.ok(outcomes.length >= 9, 'the load ran through the whole restart');
  });
});
