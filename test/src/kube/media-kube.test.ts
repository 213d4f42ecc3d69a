// A media pod in `--kube` mode against a real kube-apiserver: the examples rendered offline by the
// operator's own code and applied with kubectl are served (a sipp call is answered), a changed
// index is picked up, and calls keep working after the API server is gone. The pod runs with a
// client certificate bound only to the Role documented in media-pod/src/config/kube-source.ts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import plivo from 'plivo';
import { createLogger, setLogSink } from '@sipflow/operator/log';
import { parseManifestText, render, toKubeObjects } from '@sipflow/operator/render/index';
import { parseOptions } from '@sipflow/media-pod/cli/options';
import { startMediaPod, type MediaPod } from '@sipflow/media-pod/pod';
import { startTestAnswerServer, type TestAnswerServer } from '../support/answer-server.js';
import { controlPlaneSkipReason, pollUntil, repoRoot, startControlPlane, type ControlPlane } from '../support/control-plane.js';
import { runSipp } from '../support/sipp.js';

const skip = await controlPlaneSkipReason();
const EXAMPLES = ['app-ip-acl.yaml', 'app-credential.yaml', 'app-ip-acl-and-credential.yaml'];
const EXAMPLE_ANSWER_BASE = 'http://127.0.0.1:5080';

const logs: string[] = [];
setLogSink((line) => {
  logs.push(line);
  if (logs.length > 20_000) logs.splice(0, 5_000);
  if (process.env.SIPFLOW_TEST_LOGS) process.stderr.write(line + '\n');
});

/** The examples plus `extraApps` IpAcl apps, rendered the way the operator would write them into `ns`. */
function renderExamples(answerBase: string, ns: string, extraApps: string[] = []): { items: unknown[]; appIds: string[] } {
  const root = repoRoot();
  let text = EXAMPLES.map((f) => readFileSync(join(root, 'examples', f), 'utf8')).join('\n---\n');
  text = text.replaceAll(EXAMPLE_ANSWER_BASE, answerBase);
  for (const app of extraApps) {
    text += `
---
apiVersion: sipflow.io/v1alpha1
kind: SipApplication
metadata: { name: ${app}, namespace: default }
spec:
  appId: ${app}
  answerUrl: ${answerBase}/answer
  sipAuth: { type: IpAcl, ipAclRefs: [{ name: local-callers }] }
`;
  }
  const set = parseManifestText(text, 'examples');
  assert.deepEqual(set.problems, []);
  const result = render({ objects: set.docs.map((d) => d.object), sipDomain: 'sip.test' });
  const notReady = result.results.filter((r) => !r.ready);
  assert.deepEqual(notReady, [], 'every example renders Ready');
  const appIds = result.results.filter((r) => r.kind === 'SipApplication').map((r) => r.name).sort();
  return { items: toKubeObjects(result, ns), appIds };
}

async function kubectlOk(cp: ControlPlane, args: string[], input?: string): Promise<string> {
  const r = await cp.kubectl(args, { input });
  assert.equal(r.code, 0, `kubectl ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}

async function applyList(cp: ControlPlane, items: unknown[]): Promise<void> {
  // One List, applied in order: shards before the index, as the operator writes them.
  await kubectlOk(cp, ['apply', '-f', '-'], JSON.stringify({ apiVersion: 'v1', kind: 'List', items }));
}

/** Sum of a metric's samples; `sample` picks one series of a histogram (e.g. its `_count`). */
async function metric(pod: MediaPod, name: string, sample = name): Promise<number> {
  const m = pod.metrics.registry.getSingleMetric(name);
  assert.ok(m, `no metric ${name}`);
  return (await m.get()).values.filter((v) => ((v as { metricName?: string }).metricName ?? name) === sample).reduce((s, v) => s + v.value, 0);
}

async function call(answer: TestAnswerServer, sipPort: number, appId: string): Promise<void> {
  const before = answer.requests.filter((r) => r.path === '/answer').length;
  const res = await runSipp({ scenario: 'builtin:uac', service: appId, target: `127.0.0.1:${sipPort}`, args: ['-d', '100'], timeoutSec: 20 });
  assert.equal(res.failed, 0, res.errors || res.stdout.slice(-2000));
  assert.equal(res.successful, 1, res.stdout.slice(-2000));
  assert.equal(answer.requests.filter((r) => r.path === '/answer').length, before + 1, 'the answer URL from the cluster config was fetched');
}

test('a --kube media pod serves the contract from the API server, swaps on change and survives its loss', { skip, timeout: 240_000 }, async () => {
  const ns = `sipflow-kube-${randomBytes(3).toString('hex')}`;
  const answer = await startTestAnswerServer();
  const r = plivo.Response();
  r.addSpeak('Hello from the cluster config');
  r.addHangup();
  answer.route('/answer', r.toXML());
  let cp: ControlPlane | undefined;
  let pod: MediaPod | undefined;
  try {
    cp = await startControlPlane();
    await kubectlOk(cp, ['create', 'namespace', ns]);
    // Exactly the RBAC the source documents: read-only configmaps and secrets in its own namespace.
    await kubectlOk(cp, ['-n', ns, 'create', 'role', 'sipflow-media', '--verb=get,list,watch', '--resource=configmaps,secrets']);
    await kubectlOk(cp, ['-n', ns, 'create', 'rolebinding', 'sipflow-media', '--role=sipflow-media', '--user=sipflow-media']);
    const mediaKubeconfig = await cp.clientKubeconfig('sipflow-media');

    const first = renderExamples(answer.url, ns);
    assert.deepEqual(first.appIds, ['agent-demo', 'secure-agent', 'support-line']);
    await applyList(cp, first.items);

    // loadFromDefault() reads KUBECONFIG from the process environment; this file runs in its own process.
    process.env.KUBECONFIG = mediaKubeconfig;
    const lo = 23000 + (process.pid % 100) * 10;
    const opts = parseOptions([
      '--kube', '--kube-namespace', ns, '--sip-listen', '127.0.0.1:0', '--http-listen', '127.0.0.1:0',
      '--rtp-ports', `${lo}-${lo + 9}`, '--sip-domain', 'sip.test',
    ], {});
    pod = await startMediaPod(opts, { logger: createLogger('media-pod', 'debug') });
    const sipPort = pod.sipPorts.udp ?? pod.sipPorts.tcp ?? 0;
    const served = pod;

    await pollUntil('the pod to serve the examples', async () =>
      served.config.current()?.appsById.size === first.appIds.length ? true : undefined, { timeoutMs: 60_000, intervalMs: 100 });
    const cfg = served.config.current()!;
    assert.deepEqual([...cfg.appsById.keys()].sort(), first.appIds);
    assert.equal(cfg.credentials.size, 2, 'credential shard read from the Secret');
    assert.equal(await metric(served, 'sipflow_config_kube_connected'), 1);
    await call(answer, sipPort, 'support-line');

    // A new app: shards and index change; the pod swaps to the new generation on its own.
    const second = renderExamples(answer.url, ns, ['kube-added']);
    const firstGeneration = cfg.generation;
    await applyList(cp, second.items);
    await pollUntil('the pod to swap to the new generation', async () =>
      served.config.current()?.appsById.has('kube-added') ? true : undefined, { timeoutMs: 30_000, intervalMs: 100 });
    assert.notEqual(served.config.current()!.generation, firstGeneration);
    assert.ok(await metric(served, 'sipflow_config_propagation_seconds', 'sipflow_config_propagation_seconds_count') >= 1, 'propagation measured');
    await call(answer, sipPort, 'kube-added');

    // The API server goes away: the pod notices, keeps its config and keeps answering.
    const generation = served.config.current()!.generation;
    await cp.stop();
    await pollUntil('the pod to notice the API server is gone', async () =>
      (await metric(served, 'sipflow_config_kube_connected')) === 0 ? true : undefined, { timeoutMs: 60_000, intervalMs: 100 });
    assert.equal(served.config.current()?.generation, generation);
    await call(answer, sipPort, 'support-line');
    await call(answer, sipPort, 'kube-added');

    for (const secret of ['Demo-Agent-Passw0rd', 'Secure-Agent-Passw0rd', 'demo-callback-signing-token']) {
      assert.ok(!logs.some((l) => l.includes(secret)), `a log line carries ${secret.slice(0, 4)}…`);
    }
  } finally {
    await pod?.stop();
    await answer.close();
    await cp?.stop();
  }
});
