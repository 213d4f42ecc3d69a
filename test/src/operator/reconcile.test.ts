// The operator's reconcilers against a real kube-apiserver (+ etcd + kube-controller-manager):
// the config it writes equals the offline render, status and Events follow the objects, Secret
// rotation reaches the HA1, deletes made while it was down are noticed, and leader election
// hands over when the leader dies.
import { after, afterEach, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { CoreV1Api, CoordinationV1Api, CustomObjectsApi, EventsV1Api, type KubeConfig } from '@kubernetes/client-node';
import { createLogger, setLogSink } from '@sipflow/operator/log';
import { loadManifestDir, render, toKubeObjects, type KubeObject } from '@sipflow/operator/render/index';
import { OperatorMetrics } from '@sipflow/operator/metrics';
import { SipflowOperator, type SipflowOperatorOptions } from '@sipflow/operator/controllers/operator';
import { loadKubeConfig } from '@sipflow/operator/runtime/kubeconfig';
import { controlPlaneSkipReason, pollUntil, repoRoot, startControlPlane, type ControlPlane } from '../support/control-plane.js';

const skip = await controlPlaneSkipReason();
const root = repoRoot();
const NS = 'sipflow-system';
const DOMAIN = 'sip.test.example';
const GROUP = { group: 'sipflow.io', version: 'v1alpha1' };

// Operator logs go to a bounded buffer, printed when a test fails.
const logLines: string[] = [];
setLogSink((l) => {
  logLines.push(l);
  if (logLines.length > 2000) logLines.splice(0, 1000);
});

/** Whether the test that just ran failed (TestContext has no public flag for it on Node 20). */
function failed(t: unknown): boolean {
  return (t as unknown as { passed?: boolean }).passed === false;
}

function ok(res: { code: number; stdout: string; stderr: string }, what: string): string {
  assert.equal(res.code, 0, `${what} failed: ${res.stderr}`);
  return res.stdout;
}

/** Installs the CRDs exactly as shipped in crds/. */
async function installCrds(cp: ControlPlane): Promise<void> {
  ok(await cp.kubectl(['apply', '-f', join(root, 'crds')]), 'kubectl apply crds/');
  ok(await cp.kubectl(['wait', '--for', 'condition=Established', 'crd', '--all', '--timeout=60s']), 'wait Established');
}

describe('operator reconciles against a real API server', { skip }, () => {
  let cp: ControlPlane;
  let kc: KubeConfig;
  let core: CoreV1Api;
  let custom: CustomObjectsApi;
  const running: SipflowOperator[] = [];
  const examples = loadManifestDir(join(root, 'examples')).docs.map((d) => d.object as KubeObject);

  function startOperator(over: Partial<SipflowOperatorOptions> = {}): SipflowOperator {
    const op = new SipflowOperator({
      kubeConfig: loadKubeConfig(cp.kubeconfigPath), namespace: NS, sipDomain: DOMAIN,
      logger: createLogger('operator-under-test', 'debug'), metrics: new OperatorMetrics(), identity: `op-${running.length}`,
      ...over,
    });
    running.push(op);
    void op.start();
    return op;
  }
  async function stopAll(): Promise<void> {
    for (const op of running.splice(0)) await op.stop();
  }

  async function apply(objs: unknown[]): Promise<void> {
    ok(await cp.kubectl(['apply', '-f', '-'], { input: objs.map((o) => stringify(o)).join('---\n') }), 'kubectl apply');
  }
  async function outputs(): Promise<Map<string, Record<string, string>>> {
    const out = new Map<string, Record<string, string>>();
    const sel = 'app.kubernetes.io/managed-by=sipflow-operator';
    for (const cm of (await core.listNamespacedConfigMap({ namespace: NS, labelSelector: sel })).items) out.set(`ConfigMap/${cm.metadata?.name}`, cm.data ?? {});
    for (const s of (await core.listNamespacedSecret({ namespace: NS, labelSelector: sel })).items) out.set(`Secret/${s.metadata?.name}`, s.data ?? {});
    return out;
  }
  function expectedOutputs(objects: KubeObject[]): Map<string, Record<string, string>> {
    const objs = toKubeObjects(render({ objects, sipDomain: DOMAIN }), NS);
    return new Map(objs.map((o) => [`${o.kind}/${o.metadata.name}`, o.data as Record<string, string>]));
  }
  /** Waits until the API holds exactly what the offline render of `objects` produces. */
  async function configEquals(objects: KubeObject[], what: string): Promise<void> {
    const want = expectedOutputs(objects);
    await pollUntil(what, async () => {
      const have = await outputs();
      try {
        assert.deepEqual(have, want);
        return true;
      } catch {
        return undefined;
      }
    });
  }
  async function cr(plural: string, namespace: string, name: string): Promise<{ metadata: { generation: number }; status?: { observedGeneration?: number; sipUri?: string; conditions?: { type: string; status: string; reason: string; lastTransitionTime: string }[] } }> {
    return (await custom.getNamespacedCustomObject({ ...GROUP, plural, namespace, name })) as never;
  }
  async function readyOf(plural: string, namespace: string, name: string, status: 'True' | 'False', reason?: string): Promise<void> {
    await pollUntil(`${plural} ${namespace}/${name} Ready=${status}${reason ? ` ${reason}` : ''}`, async () => {
      const o = await cr(plural, namespace, name);
      const c = o.status?.conditions?.find((x) => x.type === 'Ready');
      return c?.status === status && (!reason || c.reason === reason) && o.status?.observedGeneration === o.metadata.generation ? true : undefined;
    });
  }

  before(async () => {
    cp = await startControlPlane();
    kc = loadKubeConfig(cp.kubeconfigPath);
    core = kc.makeApiClient(CoreV1Api);
    custom = kc.makeApiClient(CustomObjectsApi);
    await installCrds(cp);
    ok(await cp.kubectl(['create', 'namespace', NS]), 'create namespace');
    ok(await cp.kubectl(['create', 'namespace', 'team-b']), 'create namespace');
  });
  afterEach((t) => {
    // The operator's own log lines say why a wait timed out.
    if (failed(t)) console.error(`--- last operator log lines ---\n${logLines.slice(-60).join('\n')}`);
    logLines.length = 0;
  });
  after(async () => {
    await stopAll();
    await cp?.stop();
  });

  it('writes the index, shards and credential Secret exactly as the offline render does', async () => {
    await apply(examples);
    startOperator();
    await configEquals(examples, 'config of the examples');
    for (const [plural, name] of [['sipapplications', 'agent-demo'], ['sipapplications', 'support-line'], ['ipacls', 'local-callers'], ['sipcredentials', 'agent-demo']] as const) {
      await readyOf(plural, 'default', name, 'True');
    }
    const app = await cr('sipapplications', 'default', 'agent-demo');
    assert.equal(app.status?.sipUri, `sip:agent-demo@${DOMAIN}`);
    const index = await core.readNamespacedConfigMap({ name: 'sipflow-routing-index', namespace: NS });
    assert.equal(index.metadata?.labels?.['app.kubernetes.io/managed-by'], 'sipflow-operator');
    assert.equal(index.metadata?.ownerReferences, undefined, 'aggregated outputs carry no ownerReferences');
    const events = await kc.makeApiClient(EventsV1Api).listNamespacedEvent({ namespace: 'default' });
    const ready = events.items.filter((e) => e.regarding?.name === 'agent-demo' && e.regarding.kind === 'SipApplication' && e.reason === 'Ready');
    assert.equal(ready.length, 1, 'one Event for the transition to Ready');
    assert.equal(ready[0]?.reportingController, 'sipflow.io/operator');
  });

  it('removes a deleted application from the config', async () => {
    ok(await cp.kubectl(['delete', 'sipapplication', 'support-line', '-n', 'default']), 'delete app');
    const remaining = examples.filter((o) => !(o.kind === 'SipApplication' && o.metadata.name === 'support-line'));
    await configEquals(remaining, 'config without support-line');
  });

  it('reports IpAclNotFound until the IpAcl exists, then Ready', async () => {
    const appObj = {
      apiVersion: 'sipflow.io/v1alpha1', kind: 'SipApplication', metadata: { name: 'late-acl', namespace: 'team-b' },
      spec: { answerUrl: 'https://agents.example.net/answer', sipAuth: { type: 'IpAcl', ipAclRefs: [{ name: 'carrier' }] } },
    };
    await apply([appObj]);
    await readyOf('sipapplications', 'team-b', 'late-acl', 'False', 'IpAclNotFound');
    const before = (await cr('sipapplications', 'team-b', 'late-acl')).status?.conditions?.[0]?.lastTransitionTime;
    await apply([{ apiVersion: 'sipflow.io/v1alpha1', kind: 'IpAcl', metadata: { name: 'carrier', namespace: 'team-b' }, spec: { entries: [{ ip: '192.0.2.0', cidrPrefix: 24 }] } }]);
    await readyOf('sipapplications', 'team-b', 'late-acl', 'True', 'Ready');
    assert.ok(before, 'the False condition had a lastTransitionTime');
    const events = await kc.makeApiClient(EventsV1Api).listNamespacedEvent({ namespace: 'team-b' });
    const reasons = events.items.filter((e) => e.regarding?.name === 'late-acl').map((e) => `${e.type}/${e.reason}`).sort();
    assert.deepEqual(reasons, ['Normal/Ready', 'Warning/IpAclNotFound']);
  });

  it('rotating a password changes that HA1 and nothing else', async () => {
    const beforeOut = await outputs();
    const routingRv = (await core.readNamespacedConfigMap({ name: 'sipflow-routing-0', namespace: NS })).metadata?.resourceVersion;
    const credsOf = (o: Map<string, Record<string, string>>): Record<string, { ha1Md5: string; ha1Sha256: string }> =>
      (JSON.parse(Buffer.from(o.get('Secret/sipflow-credentials-0')?.['credentials.json'] ?? '', 'base64').toString('utf8')) as { credentials: Record<string, { ha1Md5: string; ha1Sha256: string }> }).credentials;
    const old = credsOf(beforeOut);
    await apply([{ apiVersion: 'v1', kind: 'Secret', metadata: { name: 'agent-demo-sip', namespace: 'default' }, type: 'Opaque', stringData: { password: 'Rotated-Agent-Passw0rd' } }]);
    const now = await pollUntil('a new HA1 for agent-demo', async () => {
      const o = await outputs();
      return credsOf(o)[`agent-demo@${DOMAIN}`]?.ha1Md5 !== old[`agent-demo@${DOMAIN}`]?.ha1Md5 ? o : undefined;
    });
    const fresh = credsOf(now);
    assert.notEqual(fresh[`agent-demo@${DOMAIN}`]?.ha1Sha256, old[`agent-demo@${DOMAIN}`]?.ha1Sha256);
    assert.deepEqual(fresh[`secure-agent@${DOMAIN}`], old[`secure-agent@${DOMAIN}`], 'other credentials untouched');
    assert.deepEqual(now.get('ConfigMap/sipflow-routing-0'), beforeOut.get('ConfigMap/sipflow-routing-0'));
    assert.equal((await core.readNamespacedConfigMap({ name: 'sipflow-routing-0', namespace: NS })).metadata?.resourceVersion, routingRv, 'the routing shard was not rewritten');
  });

  it('gives the newer of two applications with the same appId AppIdConflict', async () => {
    await apply([{
      apiVersion: 'sipflow.io/v1alpha1', kind: 'SipApplication', metadata: { name: 'impostor', namespace: 'team-b' },
      spec: { appId: 'agent-demo', answerUrl: 'https://evil.example.net/answer', sipAuth: { type: 'None' } },
    }]);
    await readyOf('sipapplications', 'team-b', 'impostor', 'False', 'AppIdConflict');
    await readyOf('sipapplications', 'default', 'agent-demo', 'True', 'Ready');
  });

  it('notices a delete made while it was stopped', async () => {
    await stopAll();
    ok(await cp.kubectl(['delete', 'sipapplication', 'late-acl', '-n', 'team-b']), 'delete while stopped');
    const before = await outputs();
    assert.match(JSON.stringify([...before.values()]), /late-acl/);
    startOperator();
    await pollUntil('late-acl gone from the config', async () => (JSON.stringify([...(await outputs()).values()]).includes('late-acl') ? undefined : true));
  });

  it('with leader election one instance leads and a standby takes over when it dies', async () => {
    await stopAll();
    const le = { leaseName: 'sipflow-operator', leaseDurationMs: 4000, renewDeadlineMs: 3000, retryPeriodMs: 500 };
    const a = startOperator({ identity: 'op-a', leaderElection: le });
    await pollUntil('op-a leads', async () => (a.isLeader() ? true : undefined));
    const b = startOperator({ identity: 'op-b', leaderElection: le });
    await pollUntil('op-b synced and standing by', async () => (b.readyz().ok ? true : undefined));
    assert.equal(b.isLeader(), false);
    assert.match(b.readyz().detail, /standing by \(leader: op-a\)/);
    const leases = kc.makeApiClient(CoordinationV1Api);
    assert.equal((await leases.readNamespacedLease({ name: 'sipflow-operator', namespace: NS })).spec?.holderIdentity, 'op-a');
    // A crash: no release, so the standby must wait out the lease.
    running.splice(running.indexOf(a), 1);
    await a.stop({ releaseLease: false });
    await pollUntil('op-b takes over', async () => (b.isLeader() ? true : undefined), { timeoutMs: 15_000 });
    assert.equal((await leases.readNamespacedLease({ name: 'sipflow-operator', namespace: NS })).spec?.holderIdentity, 'op-b');
    // The new leader reconciles: a new application shows up in the config.
    await apply([{
      apiVersion: 'sipflow.io/v1alpha1', kind: 'SipApplication', metadata: { name: 'after-failover', namespace: 'team-b' },
      spec: { answerUrl: 'https://agents.example.net/answer', sipAuth: { type: 'None' } },
    }]);
    await readyOf('sipapplications', 'team-b', 'after-failover', 'True', 'Ready');
    // A graceful stop releases the lease at once.
    running.splice(running.indexOf(b), 1);
    await b.stop();
    assert.equal((await leases.readNamespacedLease({ name: 'sipflow-operator', namespace: NS })).spec?.holderIdentity, '');
  });

  it('runs as `sipflow-operator run`: probes, metrics, and a clean exit on SIGTERM', async () => {
    await stopAll();
    const child = spawn(process.execPath, [join(root, 'operator', 'bin', 'sipflow-operator.js'), 'run',
      '--kubeconfig', cp.kubeconfigPath, '--namespace', NS, '--sip-domain', DOMAIN, '--http-listen', '127.0.0.1:0', '--leader-elect', '--identity', 'cli'],
    { stdio: ['ignore', 'pipe', 'pipe'] });
    const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
    try {
      let out = '';
      child.stdout.on('data', (b: Buffer) => { out = (out + b.toString('utf8')).slice(-200_000); });
      const address = await pollUntil('the probe address in the start log line', async () => /"msg":"starting".*?"http":"([^"]+)"/.exec(out)?.[1]);
      await pollUntil('/readyz 200', async () => ((await fetch(`http://${address}/readyz`)).status === 200 ? true : undefined));
      await pollUntil('the config generation in /metrics', async () => {
        const text = await (await fetch(`http://${address}/metrics`)).text();
        return /sipflow_operator_config_generation_info\{generation="[0-9a-f]{64}"\} 1/.test(text) && /sipflow_operator_leader 1/.test(text) ? true : undefined;
      });
      assert.equal((await fetch(`http://${address}/healthz`)).status, 200);
      child.kill('SIGTERM');
      assert.equal(await exited, 0);
      const leases = kc.makeApiClient(CoordinationV1Api);
      assert.equal((await leases.readNamespacedLease({ name: 'sipflow-operator', namespace: NS })).spec?.holderIdentity, '', 'released on SIGTERM');
    } finally {
      child.kill('SIGKILL');
    }
  });
});
