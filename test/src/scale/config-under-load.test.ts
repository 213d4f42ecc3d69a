// Config changes while calls run, against three --kube media pods (processes) and the operator
// (in-process) on a real control plane: a new config every second for 15 s drops no call; a
// generation that fails validation is refused (sipflow_config_refused 1, a log line) while the
// old one keeps serving; an API-server outage of a minute loses nothing, and afterwards a new
// change reaches the pods by itself.
import { after, afterEach, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { computeGeneration, shardSha256 } from '@sipflow/operator/contract/contract';
import { controlPlaneSkipReason, pollUntil } from '../support/control-plane.js';
import type { PodProcess } from '../support/pod-process.js';
import { NoSipResponseError, SipCall } from '../support/sip-caller.js';
import { SCALE_APP, SCALE_NAMESPACE, scaleManifests, startScaleCluster, type ScaleCluster } from '../support/scale-cluster.js';

const skip = await controlPlaneSkipReason();
const OUTAGE_MS = 60_000;

function failed(t: unknown): boolean { return (t as { passed?: boolean }).passed === false; }

interface Outcome { callId: string; pod: string; status: number | 'no-response' }

describe('config changes under call load', { skip, timeout: 600_000 }, () => {
  let c: ScaleCluster;

  /** Short calls round-robin over all pods by `workers` callers until stopped. */
  function startLoad(workers = 3, waitSec = 2): { outcomes: Outcome[]; stop(): Promise<Outcome[]> } {
    const outcomes: Outcome[] = [];
    let running = true;
    let next = 0;
    const worker = async (): Promise<void> => {
      while (running) {
        const pod = c.pods[next++ % c.pods.length]!;
        const call = await SipCall.start();
        try {
          let status: number | 'no-response';
          try {
            status = (await call.invite({ host: pod.host, port: pod.sipPort }, SCALE_APP, {
              headers: [['X-PH-Call', call.callId], ['X-PH-Wait', String(waitSec)]],
            })).status;
          } catch (err) {
            if (!(err instanceof NoSipResponseError)) throw err;
            status = 'no-response';
          }
          outcomes.push({ callId: call.callId, pod: pod.name, status });
          if (status === 200) await call.waitForPodBye(30_000);
        } finally {
          call.close();
        }
      }
    };
    const all = Array.from({ length: workers }, () => worker());
    return { outcomes, stop: async () => { running = false; await Promise.all(all); return outcomes; } };
  }

  /** Every call answered, and every answered call ended at the end of its XML (4010). */
  async function assertAllEndedNormally(outcomes: Outcome[]): Promise<void> {
    assert.deepEqual(outcomes.filter((o) => o.status !== 200), [], 'every call was answered');
    const causes = new Map<string, number>();
    for (const o of outcomes) {
      const h = await c.answer.waitFor('/hangup', (r) => r.params['X-PH-Call'] === o.callId, 30_000);
      const cause = h.params.HangupCauseCode ?? '';
      causes.set(cause, (causes.get(cause) ?? 0) + 1);
    }
    assert.deepEqual([...causes.keys()], ['4010'], `every call ended normally: ${JSON.stringify([...causes])}`);
  }

  /** Status of an INVITE for `appId` (a 2xx is hung up at once by the caller). */
  async function inviteStatus(pod: PodProcess, appId: string): Promise<number> {
    const call = await SipCall.start();
    try {
      const res = await call.invite({ host: pod.host, port: pod.sipPort }, appId, { headers: [['X-PH-Call', call.callId]] });
      if (res.status === 200) await call.bye();
      return res.status;
    } finally {
      call.close();
    }
  }
  async function waitServes(appId: string, timeoutMs: number): Promise<void> {
    for (const pod of c.pods.map((p) => p!)) {
      await pollUntil(`${pod.name} to answer calls for ${appId}`, async () => ((await inviteStatus(pod, appId)) === 200 ? true : undefined), { timeoutMs, intervalMs: 500 });
    }
  }
  const applied = (pod: PodProcess): Promise<number> => pod.metric('sipflow_config_reloads_total', { result: 'applied' });

  before(async () => { c = await startScaleCluster({ pods: 3 }); });
  afterEach((t) => {
    if (failed(t)) {
      for (const p of c?.pods ?? []) if (p) console.error(`--- ${p.name} log tail ---\n${p.logs.slice(-30).map((l) => JSON.stringify(l)).join('\n')}`);
      console.error(`--- operator log tail ---\n${c?.operatorLogs().slice(-40).join('\n')}`);
    }
  });
  after(async () => { await c?.stop(); });

  it('a new config every second for 15 s drops no call', async () => {
    const pods = c.pods.map((p) => p!);
    const before = await Promise.all(pods.map(applied));
    const load = startLoad();
    try {
      for (let i = 1; i <= 15; i++) {
        // Each revision adds one application and drops the previous one, and edits the ACL.
        await c.apply(scaleManifests(c.answer.url, [SCALE_APP, `churn-${i}`], `revision ${i}`));
        if (i > 1) await c.kubectl(['delete', 'sipapplication', `churn-${i - 1}`, '-n', 'default']);
        await new Promise((r) => setTimeout(r, 1000));
      }
      await waitServes('churn-15', 60_000);
    } finally {
      await load.stop();
    }
    assert.equal(await inviteStatus(pods[0]!, 'churn-14'), 404, 'the dropped application is gone');
    for (const [i, pod] of pods.entries()) {
      const swaps = (await applied(pod)) - before[i]!;
      assert.ok(swaps >= 2, `${pod.name} swapped config repeatedly while calls ran (${swaps})`);
      assert.equal(await pod.metric('sipflow_config_refused'), 0);
    }
    console.log(`config churn: ${load.outcomes.length} calls during 15 config revisions`);
    assert.ok(load.outcomes.length >= 3, 'calls ran during the changes');
    await assertAllEndedNormally(load.outcomes);
  });

  it('a generation that fails validation is refused and the old one keeps serving', async () => {
    const pods = c.pods.map((p) => p!);
    await c.stopOperator(); // otherwise it would put its own config back at once
    const index = JSON.parse(JSON.parse(await c.kubectl(['-n', SCALE_NAMESPACE, 'get', 'configmap', 'sipflow-routing-index', '-o', 'json'])).data['index.json'] as string) as {
      generation: string; sipDomain: string; routingShards: Array<{ name: string; sha256: string }>; credentialShards: Array<{ name: string; sha256: string }>;
    };
    const shardRef = index.routingShards[0]!;
    const shardCm = JSON.parse(await c.kubectl(['-n', SCALE_NAMESPACE, 'get', 'configmap', shardRef.name, '-o', 'json'])) as { data: Record<string, string> };
    const shard = JSON.parse(shardCm.data['routing.json']!) as { apps: Array<Record<string, unknown>> };
    // Consistent (shas and generation match) but invalid: an appId the schema forbids.
    shard.apps.push({ ...shard.apps[0]!, appId: 'not a valid app id!', name: 'corrupt' });
    const shardText = JSON.stringify(shard);
    shardRef.sha256 = shardSha256(shardText);
    index.generation = computeGeneration(index.sipDomain, index.routingShards, index.credentialShards);
    await c.kubectl(['-n', SCALE_NAMESPACE, 'patch', 'configmap', shardRef.name, '--type', 'merge', '-p', JSON.stringify({ data: { 'routing.json': shardText } })]);
    await c.kubectl(['-n', SCALE_NAMESPACE, 'patch', 'configmap', 'sipflow-routing-index', '--type', 'merge', '-p', JSON.stringify({ data: { 'index.json': JSON.stringify(index) } })]);

    for (const pod of pods) {
      await pollUntil(`${pod.name} to refuse the invalid generation`, async () => ((await pod.metric('sipflow_config_refused')) === 1 ? true : undefined), { timeoutMs: 30_000, intervalMs: 200 });
      const line = pod.logs.find((l) => l.msg === 'config refused; still serving the last good config');
      assert.ok(line, `${pod.name} logged the refusal`);
      assert.match(String(line.error), /not a valid app id|appId|pattern/i);
      assert.equal((await pod.readyz()).status, 200, 'still ready: the old config serves');
    }
    const load = startLoad(3, 1);
    try {
      await pollUntil('a few calls on the old config', async () => (load.outcomes.length >= 3 ? true : undefined), { timeoutMs: 60_000 });
    } finally {
      await load.stop();
    }
    await assertAllEndedNormally(load.outcomes);

    // The operator, back, puts its own config back over the foreign write.
    c.startOperator();
    for (const pod of pods) {
      await pollUntil(`${pod.name} to serve the operator's config again`, async () => ((await pod.metric('sipflow_config_refused')) === 0 ? true : undefined), { timeoutMs: 60_000, intervalMs: 200 });
    }
  });

  it('an API-server outage of a minute loses nothing; afterwards a change propagates by itself', async () => {
    const pods = c.pods.map((p) => p!);
    const load = startLoad(2, 2);
    try {
      const outageStart = Date.now();
      await c.cp.stopApiServer();
      for (const pod of pods) {
        await pollUntil(`${pod.name} to notice the API server is gone`, async () => ((await pod.metric('sipflow_config_kube_connected')) === 0 ? true : undefined), { timeoutMs: 60_000, intervalMs: 200 });
      }
      const callsBefore = load.outcomes.length;
      // The outage itself: pods keep answering (the load runs on) and stay ready.
      while (Date.now() - outageStart < OUTAGE_MS) {
        await new Promise((r) => setTimeout(r, 2000));
        for (const pod of pods) assert.equal((await pod.readyz()).status, 200, `${pod.name} stays ready during the outage`);
      }
      assert.ok(load.outcomes.length > callsBefore, 'calls were placed during the outage');
      await c.cp.startApiServer();
      const changed = Date.now();
      await c.apply(scaleManifests(c.answer.url, [SCALE_APP, 'churn-15', 'after-outage'], 'after the outage'));
      // Bounded by both backoffs (operator informers up to 60 s, pod watches up to 30 s).
      await waitServes('after-outage', 180_000);
      console.log(`after the outage a change reached every pod in ${Math.round((Date.now() - changed) / 1000)} s`);
      for (const pod of pods) {
        await pollUntil(`${pod.name} to reconnect`, async () => ((await pod.metric('sipflow_config_kube_connected')) === 1 ? true : undefined), { timeoutMs: 60_000, intervalMs: 200 });
      }
    } finally {
      await load.stop();
    }
    console.log(`API-server outage: ${load.outcomes.length} calls placed across the outage and recovery`);
    await assertAllEndedNormally(load.outcomes);
  });
});
