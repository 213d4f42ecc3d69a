// Lints and renders the Helm chart with every value set in charts/sipflow/ci/, checks what the
// rendered objects promise (leader election, probes, hardening, drain, addresses, Service, RBAC
// scope), and that values.schema.json and the template guards refuse bad values with clear messages.
import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { FLAGS } from '@sipflow/media-pod/cli/options';
import { runCommand } from '../support/control-plane.js';
import {
  chartDir,
  chartTools,
  ciDir,
  ciValueFiles,
  container,
  dig,
  envOf,
  find,
  helmEnv,
  helmTemplate,
  mustFind,
  parseManifests,
  podSpec,
  root,
  type K8sObject,
  type Tools,
} from './chart-tools.js';

const toolsOrReason = await chartTools();
const skip = typeof toolsOrReason === 'string' ? toolsOrReason : false;

async function render(tools: Tools, valuesFile: string, extra: string[] = []): Promise<K8sObject[]> {
  const res = await helmTemplate(tools, ['-f', valuesFile, ...extra]);
  assert.equal(res.code, 0, `helm template -f ${basename(valuesFile)} failed:\n${res.stderr}`);
  return parseManifests(res.stdout, basename(valuesFile));
}

function hardened(c: Record<string, unknown>, what: string): void {
  const sc = c.securityContext as Record<string, unknown> | undefined;
  assert.equal(sc?.runAsNonRoot, true, `${what}: runAsNonRoot`);
  assert.equal(sc?.readOnlyRootFilesystem, true, `${what}: readOnlyRootFilesystem`);
  assert.equal(sc?.allowPrivilegeEscalation, false, `${what}: allowPrivilegeEscalation`);
  assert.deepEqual(dig(sc, 'capabilities', 'drop'), ['ALL'], `${what}: capabilities.drop`);
  assert.equal(dig(sc, 'seccompProfile', 'type'), 'RuntimeDefault', `${what}: seccompProfile`);
}

const SIPFLOW_ENVS = new Set(Object.values(FLAGS).map((f) => f.env));

describe('helm chart', { skip }, () => {
  let tools: Tools;
  before(() => {
    tools = toolsOrReason as Tools;
  });

  it('has the four CI value sets', () => {
    assert.deepEqual(ciValueFiles().map((f) => basename(f)), [
      'crds-disabled-values.yaml',
      'daemonset-hostnetwork-values.yaml',
      'defaults-values.yaml',
      'monitoring-values.yaml',
    ]);
  });

  for (const file of ciValueFiles()) {
    it(`helm lint passes with ci/${basename(file)}`, async () => {
      const res = await runCommand(tools.helm, ['lint', chartDir, '--strict', '-f', file], { env: helmEnv() });
      assert.equal(res.code, 0, `${res.stdout}\n${res.stderr}`);
      assert.match(res.stdout, /1 chart\(s\) linted, 0 chart\(s\) failed/);
    });

    it(`renders with ci/${basename(file)}: every namespaced object in the release namespace, only known SIPFLOW_* env`, async () => {
      const objects = await render(tools, file);
      const clusterScoped = new Set(['CustomResourceDefinition', 'ClusterRole', 'ClusterRoleBinding']);
      for (const o of objects) {
        if (clusterScoped.has(o.kind)) assert.equal(o.metadata.namespace, undefined, `${o.kind}/${o.metadata.name}`);
        else assert.equal(o.metadata.namespace, 'sipflow-system', `${o.kind}/${o.metadata.name} namespace`);
      }
      const media = objects.find((o) => o.metadata.name === 'sipflow-media' && (o.kind === 'Deployment' || o.kind === 'DaemonSet'));
      assert.ok(media, 'a media workload');
      for (const e of container(media, 'media').env ?? []) {
        if (e.name.startsWith('SIPFLOW_')) assert.ok(SIPFLOW_ENVS.has(e.name), `${e.name} is not a sipflow-media flag (media-pod/src/cli/options.ts)`);
      }
    });
  }

  describe('defaults', () => {
    let objects: K8sObject[];
    before(async () => {
      objects = await render(tools, join(ciDir, 'defaults-values.yaml'));
    });

    it('operator: 2 replicas, run --leader-elect, probes, downward API, hardened', () => {
      const d = mustFind(objects, 'Deployment', 'sipflow-operator');
      assert.equal(dig(d, 'spec', 'replicas'), 2);
      const c = container(d, 'operator');
      assert.equal(c.args?.[0], 'run');
      assert.ok(c.args?.includes('--leader-elect'));
      assert.ok(c.args?.includes('--namespace=$(POD_NAMESPACE)'));
      assert.ok(c.args?.includes('--sip-domain=sip.example.com'));
      assert.ok(c.args?.includes('--http-listen=0.0.0.0:8080'));
      assert.equal(dig(c, 'livenessProbe', 'httpGet', 'path'), '/healthz');
      assert.equal(dig(c, 'readinessProbe', 'httpGet', 'path'), '/readyz');
      assert.equal(dig(envOf(c, 'POD_NAME'), 'valueFrom', 'fieldRef', 'fieldPath'), 'metadata.name');
      assert.equal(dig(envOf(c, 'POD_NAMESPACE'), 'valueFrom', 'fieldRef', 'fieldPath'), 'metadata.namespace');
      assert.ok(dig(c, 'resources', 'requests', 'cpu'));
      hardened(c, 'operator');
      assert.equal(podSpec(d).serviceAccountName, 'sipflow-operator');
    });

    it('media: Deployment in --kube mode, pod IP advertised, drain wiring, hardened', () => {
      const d = mustFind(objects, 'Deployment', 'sipflow-media');
      const spec = podSpec(d);
      const c = container(d, 'media');
      assert.equal(envOf(c, 'SIPFLOW_KUBE')?.value, 'true');
      assert.equal(envOf(c, 'SIPFLOW_KUBE_NAMESPACE')?.value, 'sipflow-system');
      assert.equal(envOf(c, 'SIPFLOW_SIP_DOMAIN')?.value, 'sip.example.com');
      assert.equal(envOf(c, 'SIPFLOW_SIP_LISTEN')?.value, '0.0.0.0:5060');
      assert.equal(envOf(c, 'SIPFLOW_RTP_PORTS')?.value, '20000-29999');
      assert.equal(dig(envOf(c, 'SIPFLOW_ADVERTISE'), 'valueFrom', 'fieldRef', 'fieldPath'), 'status.podIP');
      assert.equal(dig(envOf(c, 'SIPFLOW_NONCE_KEY'), 'valueFrom', 'secretKeyRef', 'name'), 'sipflow-nonce-key');
      const grace = Number(envOf(c, 'SIPFLOW_DRAIN_GRACE')?.value);
      assert.equal(grace, 3600);
      const preStop = Number(dig(c, 'lifecycle', 'preStop', 'sleep', 'seconds'));
      assert.ok(preStop >= 1 && preStop <= 30, 'a short preStop sleep');
      assert.ok(Number(spec.terminationGracePeriodSeconds) >= grace + preStop, 'grace covers preStop plus the drain');
      assert.equal(dig(c, 'readinessProbe', 'httpGet', 'path'), '/readyz');
      assert.equal(dig(c, 'livenessProbe', 'httpGet', 'path'), '/healthz');
      assert.deepEqual(c.ports?.map((p) => `${p.containerPort}/${p.protocol}`), ['5060/UDP', '5060/TCP', '8080/TCP']);
      assert.equal(spec.hostNetwork, undefined);
      assert.equal(spec.serviceAccountName, 'sipflow-media');
      hardened(c, 'media');
    });

    it('media Service: LoadBalancer, externalTrafficPolicy Local, SIP over UDP and TCP', () => {
      const s = mustFind(objects, 'Service', 'sipflow-media');
      assert.equal(dig(s, 'spec', 'type'), 'LoadBalancer');
      assert.equal(dig(s, 'spec', 'externalTrafficPolicy'), 'Local');
      const ports = dig(s, 'spec', 'ports') as { port: number; protocol: string }[];
      assert.deepEqual(ports.map((p) => `${p.port}/${p.protocol}`), ['5060/UDP', '5060/TCP']);
    });

    it('PDBs, a generated nonce key, CRDs with the keep annotation, no optional monitoring', () => {
      assert.equal(dig(mustFind(objects, 'PodDisruptionBudget', 'sipflow-media'), 'spec', 'maxUnavailable'), 1);
      assert.equal(dig(mustFind(objects, 'PodDisruptionBudget', 'sipflow-operator'), 'spec', 'minAvailable'), 1);
      const secret = mustFind(objects, 'Secret', 'sipflow-nonce-key');
      assert.ok(Buffer.from(String(dig(secret, 'data', 'nonce-key')), 'base64').length >= 32);
      const crds = objects.filter((o) => o.kind === 'CustomResourceDefinition');
      assert.deepEqual(crds.map((o) => o.metadata.name).sort(), ['ipacls.sipflow.io', 'sipapplications.sipflow.io', 'sipcredentials.sipflow.io']);
      for (const crd of crds) assert.equal(crd.metadata.annotations?.['helm.sh/resource-policy'], 'keep');
      for (const kind of ['HorizontalPodAutoscaler', 'ServiceMonitor', 'PrometheusRule']) assert.equal(find(objects, kind), undefined, kind);
    });

    it('RBAC: operator writes only /status of CRs and only in its namespace; media reads its namespace only', () => {
      const cr = mustFind(objects, 'ClusterRole', 'sipflow-operator');
      const rules = dig(cr, 'rules') as { apiGroups: string[]; resources: string[]; verbs: string[] }[];
      for (const r of rules) {
        const writes = r.verbs.filter((v) => !['get', 'list', 'watch'].includes(v));
        if (writes.length === 0) continue;
        const ok = r.resources.every((res) => res.endsWith('/status') || res === 'events');
        assert.ok(ok, `cluster-wide write ${writes.join(',')} on ${r.resources.join(',')}`);
      }
      assert.ok(!rules.some((r) => r.verbs.includes('*') || r.resources.includes('*')), 'no wildcards');
      const mediaRole = mustFind(objects, 'Role', 'sipflow-media');
      assert.deepEqual(dig(mediaRole, 'rules', 0, 'verbs'), ['get', 'list', 'watch']);
      assert.equal(find(objects, 'ClusterRole', 'sipflow-media'), undefined);
    });
  });

  it('daemonset+hostNetwork: DaemonSet on the node network, advertising the node address, no Service', async () => {
    const objects = await render(tools, join(ciDir, 'daemonset-hostnetwork-values.yaml'));
    const ds = mustFind(objects, 'DaemonSet', 'sipflow-media');
    const spec = podSpec(ds);
    assert.equal(spec.hostNetwork, true);
    assert.equal(spec.dnsPolicy, 'ClusterFirstWithHostNet');
    const c = container(ds, 'media');
    assert.equal(dig(envOf(c, 'SIPFLOW_ADVERTISE'), 'valueFrom', 'fieldRef', 'fieldPath'), 'status.hostIP');
    assert.equal(envOf(c, 'SIPFLOW_RTP_PORTS')?.value, '40000-49999');
    assert.deepEqual(spec.nodeSelector, { 'sipflow.io/pool': 'sip' });
    assert.equal(find(objects, 'Deployment', 'sipflow-media'), undefined);
    assert.equal(find(objects, 'Service', 'sipflow-media'), undefined);
    assert.ok(find(objects, 'Service', 'sipflow-media-metrics'));
  });

  it('crds disabled: no CRDs, fixed advertise, NodePort with fixed ports, optional existing nonce Secret', async () => {
    const objects = await render(tools, join(ciDir, 'crds-disabled-values.yaml'));
    assert.equal(find(objects, 'CustomResourceDefinition'), undefined);
    const c = container(mustFind(objects, 'Deployment', 'sipflow-media'), 'media');
    assert.equal(envOf(c, 'SIPFLOW_ADVERTISE')?.value, '203.0.113.10');
    assert.deepEqual(dig(envOf(c, 'SIPFLOW_NONCE_KEY'), 'valueFrom', 'secretKeyRef'), { name: 'sipflow-nonce', key: 'nonce-key', optional: true });
    assert.equal(find(objects, 'Secret', 'sipflow-nonce-key'), undefined);
    const s = mustFind(objects, 'Service', 'sipflow-media');
    assert.equal(dig(s, 'spec', 'type'), 'NodePort');
    assert.deepEqual((dig(s, 'spec', 'ports') as { nodePort: number }[]).map((p) => p.nodePort), [30560, 30560]);
  });

  it('media.singleThreadedGc starts the image\'s entry point with --single-threaded-gc; off by default', async () => {
    const entry = /^ENTRYPOINT\s+(\[.*\])\s*$/m.exec(readFileSync(join(root, 'media-pod', 'Dockerfile'), 'utf8'))?.[1];
    assert.ok(entry, 'media-pod/Dockerfile has an exec-form ENTRYPOINT');
    const image = JSON.parse(entry) as string[];
    const on = container(mustFind(await render(tools, join(ciDir, 'defaults-values.yaml'), ['--set', 'media.singleThreadedGc=true']), 'Deployment', 'sipflow-media'), 'media');
    // The image's node, its flags (--max-semi-space-size...), then this one, then the same script.
    assert.deepEqual(on.command, [...image.slice(0, -1), '--single-threaded-gc', image[image.length - 1]], 'the same program and flags as the image runs, plus this one');
    const off = container(mustFind(await render(tools, join(ciDir, 'defaults-values.yaml')), 'Deployment', 'sipflow-media'), 'media');
    assert.equal(off.command, undefined, 'the image ENTRYPOINT by default');
  });

  it('media.sipTls: the Secret mounted as a directory (so renewals arrive), TLS env and ports; media.srtp reaches the pod; both off by default', async () => {
    const off = mustFind(await render(tools, join(ciDir, 'defaults-values.yaml')), 'Deployment', 'sipflow-media');
    const offC = container(off, 'media');
    assert.equal(envOf(offC, 'SIPFLOW_SIP_TLS_CERT'), undefined);
    assert.equal(envOf(offC, 'SIPFLOW_SRTP')?.value, 'optional');
    assert.ok(!(offC.ports as { name: string }[]).some((p) => p.name === 'sip-tls'));
    const objects = await render(tools, join(ciDir, 'defaults-values.yaml'), [
      '--set', 'media.sipTls.enabled=true,media.sipTls.secretName=sip-cert,media.sipTls.requireClientCert=true,media.sipTls.port=5071,media.srtp=required',
    ]);
    const d = mustFind(objects, 'Deployment', 'sipflow-media');
    const c = container(d, 'media');
    const mount = (c.volumeMounts as { name: string; mountPath: string; subPath?: string; readOnly?: boolean }[]).find((m) => m.name === 'sip-tls');
    assert.deepEqual(mount, { name: 'sip-tls', mountPath: '/etc/sipflow/sip-tls', readOnly: true }, 'a directory mount without subPath');
    const vol = (podSpec(d).volumes as { name: string; secret?: { secretName: string; defaultMode: number } }[]).find((v) => v.name === 'sip-tls');
    assert.deepEqual(vol?.secret, { secretName: 'sip-cert', defaultMode: 0o440 });
    assert.equal(envOf(c, 'SIPFLOW_SIP_TLS_CERT')?.value, '/etc/sipflow/sip-tls/tls.crt');
    assert.equal(envOf(c, 'SIPFLOW_SIP_TLS_KEY')?.value, '/etc/sipflow/sip-tls/tls.key');
    assert.equal(envOf(c, 'SIPFLOW_SIP_TLS_CA')?.value, '/etc/sipflow/sip-tls/ca.crt', 'mutual TLS trusts the Secret\'s CA');
    assert.equal(envOf(c, 'SIPFLOW_SIP_TLS_PORT')?.value, '5071');
    assert.equal(envOf(c, 'SIPFLOW_SRTP')?.value, 'required');
    assert.deepEqual((c.ports as { name: string; containerPort: number; protocol: string }[]).find((p) => p.name === 'sip-tls'), { name: 'sip-tls', containerPort: 5071, protocol: 'TCP' });
    const svcPorts = dig(mustFind(objects, 'Service', 'sipflow-media'), 'spec', 'ports') as { name: string; port: number; targetPort: string }[];
    assert.deepEqual(svcPorts.find((p) => p.name === 'sip-tls'), { name: 'sip-tls', port: 5071, targetPort: 'sip-tls', protocol: 'TCP' });
  });

  it('media.extraCaCerts: the ConfigMap key mounted read-only and named in NODE_EXTRA_CA_CERTS; nothing by default', async () => {
    const offC = container(mustFind(await render(tools, join(ciDir, 'defaults-values.yaml')), 'Deployment', 'sipflow-media'), 'media');
    assert.equal(envOf(offC, 'NODE_EXTRA_CA_CERTS'), undefined);
    assert.ok(!(offC.volumeMounts as { name: string }[]).some((m) => m.name === 'extra-ca'));
    const d = mustFind(await render(tools, join(ciDir, 'defaults-values.yaml'), ['--set', 'media.extraCaCerts.configMap=agents-ca,media.extraCaCerts.key=bundle.pem']), 'Deployment', 'sipflow-media');
    const c = container(d, 'media');
    assert.equal(envOf(c, 'NODE_EXTRA_CA_CERTS')?.value, '/etc/sipflow/extra-ca/bundle.pem');
    assert.deepEqual((c.volumeMounts as { name: string }[]).find((m) => m.name === 'extra-ca'), { name: 'extra-ca', mountPath: '/etc/sipflow/extra-ca', readOnly: true });
    const vol = (podSpec(d).volumes as { name: string; configMap?: unknown }[]).find((v) => v.name === 'extra-ca');
    assert.deepEqual(vol?.configMap, { name: 'agents-ca', items: [{ key: 'bundle.pem', path: 'bundle.pem' }] });
  });

  it('media.tts: URL and timeout as env, the Authorization value only by reference to its Secret; nothing by default', async () => {
    const offC = container(mustFind(await render(tools, join(ciDir, 'defaults-values.yaml')), 'Deployment', 'sipflow-media'), 'media');
    assert.equal(envOf(offC, 'SIPFLOW_TTS_URL'), undefined);
    assert.equal(envOf(offC, 'SIPFLOW_TTS_AUTHORIZATION'), undefined);
    const c = container(mustFind(await render(tools, join(ciDir, 'defaults-values.yaml'), [
      '--set', 'media.tts.url=https://tts.voice.svc/v1/speak,media.tts.timeoutSeconds=8,media.tts.authorizationSecret.name=tts-key',
    ]), 'Deployment', 'sipflow-media'), 'media');
    assert.equal(envOf(c, 'SIPFLOW_TTS_URL')?.value, 'https://tts.voice.svc/v1/speak');
    assert.equal(envOf(c, 'SIPFLOW_TTS_TIMEOUT')?.value, '8');
    assert.deepEqual(envOf(c, 'SIPFLOW_TTS_AUTHORIZATION'), { name: 'SIPFLOW_TTS_AUTHORIZATION', valueFrom: { secretKeyRef: { name: 'tts-key', key: 'authorization' } } });
  });

  it('media.recordings: the store URL as env, a spool emptyDir of its size limit, the Authorization value only by reference; nothing by default', async () => {
    const off = mustFind(await render(tools, join(ciDir, 'defaults-values.yaml')), 'Deployment', 'sipflow-media');
    assert.equal(envOf(container(off, 'media'), 'SIPFLOW_RECORDING_URL'), undefined);
    assert.ok(!(podSpec(off).volumes as { name: string }[]).some((v) => v.name === 'recordings'));
    const d = mustFind(await render(tools, join(ciDir, 'defaults-values.yaml'), [
      '--set', 'media.recordings.url=https://store.voice.svc/recordings,media.recordings.spoolSizeLimit=5Gi,media.recordings.authorizationSecret.name=rec-key',
    ]), 'Deployment', 'sipflow-media');
    const c = container(d, 'media');
    assert.equal(envOf(c, 'SIPFLOW_RECORDING_URL')?.value, 'https://store.voice.svc/recordings');
    assert.equal(envOf(c, 'SIPFLOW_RECORDING_SPOOL_DIR')?.value, '/var/spool/sipflow');
    assert.deepEqual(envOf(c, 'SIPFLOW_RECORDING_AUTHORIZATION'), { name: 'SIPFLOW_RECORDING_AUTHORIZATION', valueFrom: { secretKeyRef: { name: 'rec-key', key: 'authorization' } } });
    assert.deepEqual((c.volumeMounts as { name: string }[]).find((m) => m.name === 'recordings'), { name: 'recordings', mountPath: '/var/spool/sipflow' });
    assert.deepEqual((podSpec(d).volumes as { name: string; emptyDir?: unknown }[]).find((v) => v.name === 'recordings')?.emptyDir, { sizeLimit: '5Gi' });
  });

  it('media.speechRecognizer: the URL as env, the Authorization value only by reference to its Secret; absent by default', async () => {
    const offC = container(mustFind(await render(tools, join(ciDir, 'defaults-values.yaml')), 'Deployment', 'sipflow-media'), 'media');
    assert.equal(envOf(offC, 'SIPFLOW_SPEECH_RECOGNIZER_URL'), undefined);
    const c = container(mustFind(await render(tools, join(ciDir, 'defaults-values.yaml'), [
      '--set', 'media.speechRecognizer.url=wss://asr.voice.svc:8443/v1,media.speechRecognizer.authorizationSecret.name=asr-key',
    ]), 'Deployment', 'sipflow-media'), 'media');
    assert.equal(envOf(c, 'SIPFLOW_SPEECH_RECOGNIZER_URL')?.value, 'wss://asr.voice.svc:8443/v1');
    assert.deepEqual(envOf(c, 'SIPFLOW_SPEECH_RECOGNIZER_AUTHORIZATION'), { name: 'SIPFLOW_SPEECH_RECOGNIZER_AUTHORIZATION', valueFrom: { secretKeyRef: { name: 'asr-key', key: 'authorization' } } });
  });

  it('crds.keep=false drops the keep annotation', async () => {
    const objects = await render(tools, join(ciDir, 'defaults-values.yaml'), ['--set', 'crds.keep=false']);
    const crds = objects.filter((o) => o.kind === 'CustomResourceDefinition');
    assert.equal(crds.length, 3);
    for (const crd of crds) assert.equal(crd.metadata.annotations, undefined);
  });

  it('monitoring: ServiceMonitor, PrometheusRule, dashboard ConfigMap, HPA on CPU and active calls', async () => {
    const objects = await render(tools, join(ciDir, 'monitoring-values.yaml'));
    const sm = mustFind(objects, 'ServiceMonitor', 'sipflow');
    assert.deepEqual(dig(sm, 'spec', 'selector', 'matchLabels'), { 'app.kubernetes.io/instance': 'sipflow', 'sipflow.io/metrics': 'true' });
    const rule = mustFind(objects, 'PrometheusRule', 'sipflow');
    const alerts = (dig(rule, 'spec', 'groups') as { rules: { alert: string }[] }[]).flatMap((g) => g.rules.map((r) => r.alert));
    for (const a of ['SipflowLockoutStorm', 'SipflowAnswerUrlFailing', 'SipflowReconcileErrors', 'SipflowConfigRefused']) assert.ok(alerts.includes(a), a);
    const cm = mustFind(objects, 'ConfigMap', 'sipflow-dashboard');
    assert.equal(cm.metadata.labels?.grafana_dashboard, '1');
    const dash = JSON.parse(String(dig(cm, 'data', 'sipflow.json'))) as { uid: string };
    assert.equal(dash.uid, 'sipflow-overview');
    const hpa = mustFind(objects, 'HorizontalPodAutoscaler', 'sipflow-media');
    assert.equal(dig(hpa, 'spec', 'scaleTargetRef', 'kind'), 'Deployment');
    assert.equal(dig(hpa, 'spec', 'metrics', 0, 'resource', 'name'), 'cpu');
    assert.equal(dig(hpa, 'spec', 'metrics', 1, 'pods', 'metric', 'name'), 'sipflow_calls_active');
    assert.equal(dig(mustFind(objects, 'Deployment', 'sipflow-media'), 'spec', 'replicas'), undefined, 'the HPA owns replicas');
  });

  describe('refuses bad values with a message naming the value', () => {
    const cases: [string, string[], RegExp][] = [
      ['media.kind outside the enum', ['--set', 'media.kind=StatefulSet'], /\/media\/kind.*'Deployment', 'DaemonSet'/],
      ['a SIP port above 65535', ['--set', 'media.sipPort=70000'], /\/media\/sipPort.*maximum/],
      ['an RTP port below 1024', ['--set', 'media.rtpPorts.first=80'], /\/media\/rtpPorts\/first.*minimum/],
      ['a string where a number belongs', ['--set-string', 'operator.replicas=two'], /\/operator\/replicas.*want integer/],
      ['a ClusterIP Service for SIP', ['--set', 'media.service.type=ClusterIP'], /\/media\/service\/type.*'LoadBalancer', 'NodePort'/],
      ['an unknown key', ['--set', 'media.replica=3'], /\/media.*additional properties 'replica' not allowed/],
      ['a sipDomain that is not a DNS name', ['--set', 'sipDomain=Not A Domain'], /\/sipDomain.*does not match pattern/],
      ['a missing required field', ['--set', 'media.rtpPorts=null'], /\/media.*rtpPorts/],
      ['an inverted RTP range', ['--set', 'media.rtpPorts.first=30000,media.rtpPorts.last=20000'], /media\.rtpPorts\.first \(30000\) must not be above media\.rtpPorts\.last \(20000\)/],
      ['the SIP port inside the RTP range', ['--set', 'media.sipPort=25000'], /media\.sipPort \(25000\) lies inside media\.rtpPorts/],
      ['an HPA on a DaemonSet', ['--set', 'media.kind=DaemonSet,media.autoscaling.enabled=true'], /media\.autoscaling\.enabled needs media\.kind=Deployment/],
      ['two operators without leader election', ['--set', 'operator.leaderElect=false'], /operator\.replicas > 1 needs operator\.leaderElect=true/],
      ['SIP over TLS without a Secret', ['--set', 'media.sipTls.enabled=true'], /media\.sipTls\.enabled needs media\.sipTls\.secretName/],
      ['a TTS URL that is not http(s)', ['--set', 'media.tts.url=ws://tts/'], /\/media\/tts\/url.*pattern/],
      ['a recording store URL that is not http(s)', ['--set', 'media.recordings.url=s3://bucket/'], /\/media\/recordings\/url.*pattern/],
      ['a recognizer URL that is not ws:// or wss://', ['--set', 'media.speechRecognizer.url=http://asr/'], /\/media\/speechRecognizer\/url.*pattern/],
      ['an extra-CA ConfigMap name that is not a name', ['--set', 'media.extraCaCerts.configMap=Bad_Name'], /\/media\/extraCaCerts\/configMap.*pattern/],
      ['the TLS port equal to the SIP port', ['--set', 'media.sipTls.enabled=true,media.sipTls.secretName=c,media.sipTls.port=5060'], /media\.sipTls\.port \(5060\) must differ from media\.sipPort/],
      ['an SRTP policy outside the enum', ['--set', 'media.srtp=sometimes'], /\/media\/srtp.*'off', 'optional', 'required'/],
    ];
    for (const [what, args, message] of cases) {
      it(what, async () => {
        const res = await helmTemplate(tools, args);
        assert.notEqual(res.code, 0, `helm template ${args.join(' ')} succeeded`);
        assert.match(res.stderr, message);
      });
    }
  });
});
