/**
 * A small sipflow installation for the scale-out tests: a real control plane with the CRDs, the
 * operator running in this process and writing the config from applied CRs, an answer server,
 * and media pods as separate processes in `--kube` mode on 127.0.0.2, .3, .4 … each with a
 * client certificate bound only to the media Role. The test plays the DNS/L4 balancer.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { createLogger, setLogSink } from '@sipflow/operator/log';
import { OperatorMetrics } from '@sipflow/operator/metrics';
import { SipflowOperator } from '@sipflow/operator/controllers/operator';
import { loadKubeConfig } from '@sipflow/operator/runtime/kubeconfig';
import { startTestAnswerServer, type RecordedRequest, type TestAnswerServer } from './answer-server.js';
import { pollUntil, repoRoot, startControlPlane, type ControlPlane } from './control-plane.js';
import { startPodProcess, type PodProcess } from './pod-process.js';

export const SCALE_NAMESPACE = 'sipflow-system';
export const SCALE_APP = 'scale-app';
const SIP_DOMAIN = 'sip.test';

export interface ScaleCluster {
  cp: ControlPlane;
  answer: TestAnswerServer;
  /** The pod currently in each slot (undefined once stopped and not restarted). */
  pods: Array<PodProcess | undefined>;
  hosts: string[];
  /** Starts (or restarts) the pod of `slot` and waits until it serves a config (/readyz 200). */
  startPod(slot: number, extraArgs?: string[]): Promise<PodProcess>;
  startOperator(): void;
  stopOperator(): Promise<void>;
  /** kubectl apply of a multi-document YAML (admin identity). */
  apply(yaml: string): Promise<void>;
  kubectl(args: string[], input?: string): Promise<string>;
  /** hangup_url requests for the call whose INVITE carried `X-PH-Call: callId`. */
  hangupsOf(callId: string): RecordedRequest[];
  /** Operator log lines (bounded), for failure messages. */
  operatorLogs(): string[];
  stop(): Promise<void>;
}

export interface ScaleClusterOptions {
  pods: number;
  /** Flags every pod gets (besides the kube and listen flags), e.g. ['--drain-grace', '30']. */
  podArgs?: string[];
}

/** The CRs of the scale tests: one IpAcl for loopback and `apps` applications on the answer server. */
export function scaleManifests(answerUrl: string, apps: string[] = [SCALE_APP], aclDescription = 'loopback'): string {
  const docs = [`apiVersion: sipflow.io/v1alpha1
kind: IpAcl
metadata: { name: local-callers, namespace: default }
spec:
  entries:
    - { ip: 127.0.0.0, cidrPrefix: 8, description: ${JSON.stringify(aclDescription)} }
`];
  for (const app of apps) {
    docs.push(`apiVersion: sipflow.io/v1alpha1
kind: SipApplication
metadata: { name: ${app}, namespace: default }
spec:
  appId: ${app}
  answerUrl: ${answerUrl}/answer
  hangupUrl: ${answerUrl}/hangup
  sipAuth: { type: IpAcl, ipAclRefs: [{ name: local-callers }] }
`);
  }
  return docs.join('---\n');
}

/**
 * Answer XML for every call: one DTMF press (answers at once and sends the caller RTP from the
 * pod), `<Wait length=X-PH-Wait>` (default 1 s), then the end of the XML ends the call (4010).
 * A caller controls its call's length with one header.
 */
function answerXml(req: RecordedRequest): string {
  const wait = Math.max(1, Math.min(600, Number(req.params['X-PH-Wait'] ?? 1) || 1));
  return `<?xml version="1.0" encoding="UTF-8"?><Response><DTMF>1</DTMF><Wait length="${wait}"/></Response>`;
}

export async function startScaleCluster(o: ScaleClusterOptions): Promise<ScaleCluster> {
  const opLogs: string[] = [];
  setLogSink((line) => {
    opLogs.push(line);
    if (opLogs.length > 4000) opLogs.splice(0, 1000);
    if (process.env.SIPFLOW_TEST_LOGS) process.stderr.write(`[operator] ${line}\n`);
  });
  const answer = await startTestAnswerServer();
  answer.route('/answer', (req) => ({ body: answerXml(req) }));
  const hosts = Array.from({ length: o.pods }, (_, i) => `127.0.0.${i + 2}`);
  const pods: Array<PodProcess | undefined> = hosts.map(() => undefined);
  let cp: ControlPlane | undefined;
  let operator: SipflowOperator | undefined;
  // One RTP stretch per test process; pods on different addresses share it.
  const rtpLo = 30000 + Math.floor(Math.random() * 250) * 100;

  const stop = async (): Promise<void> => {
    await Promise.all(pods.map((p) => p?.stop()));
    await operator?.stop();
    operator = undefined;
    await answer.close();
    await cp?.stop();
  };
  try {
    cp = await startControlPlane();
    const ctl = cp;
    const kubectl = async (args: string[], input?: string): Promise<string> => {
      const r = await ctl.kubectl(args, input === undefined ? {} : { input });
      assert.equal(r.code, 0, `kubectl ${args.join(' ')}: ${r.stderr}`);
      return r.stdout;
    };
    await kubectl(['apply', '-f', join(repoRoot(), 'crds')]);
    await kubectl(['wait', '--for', 'condition=Established', 'crd', '--all', '--timeout=60s']);
    await kubectl(['create', 'namespace', SCALE_NAMESPACE]);
    // Exactly the RBAC media-pod/src/config/kube-source.ts documents.
    await kubectl(['-n', SCALE_NAMESPACE, 'create', 'role', 'sipflow-media', '--verb=get,list,watch', '--resource=configmaps,secrets']);
    await kubectl(['-n', SCALE_NAMESPACE, 'create', 'rolebinding', 'sipflow-media', '--role=sipflow-media', '--user=sipflow-media']);
    const mediaKubeconfig = await cp.clientKubeconfig('sipflow-media');
    await kubectl(['apply', '-f', '-'], scaleManifests(answer.url));

    const startOperator = (): void => {
      if (operator) return;
      operator = new SipflowOperator({
        kubeConfig: loadKubeConfig(ctl.kubeconfigPath), namespace: SCALE_NAMESPACE, sipDomain: SIP_DOMAIN,
        logger: createLogger('operator', 'info'), metrics: new OperatorMetrics(), identity: 'scale-operator',
      });
      void operator.start();
    };
    startOperator();

    const startPod = async (slot: number, extraArgs: string[] = []): Promise<PodProcess> => {
      const host = hosts[slot];
      assert.ok(host, `no slot ${slot}`);
      assert.ok(!pods[slot]?.isRunning(), `slot ${slot} still has a running pod`);
      const pod = await startPodProcess({
        name: `pod-${slot}`, host,
        args: ['--kube', '--kube-namespace', SCALE_NAMESPACE, '--sip-domain', SIP_DOMAIN, ...(o.podArgs ?? []), ...extraArgs],
        rtpPorts: { lo: rtpLo, hi: rtpLo + 99 },
        env: { KUBECONFIG: mediaKubeconfig },
      });
      pods[slot] = pod;
      await pollUntil(`${pod.name} to serve a config (/readyz 200)`, async () => {
        if (!pod.isRunning()) throw new Error(`${pod.name} exited while waiting for readiness`);
        return (await pod.readyz()).status === 200 ? true : undefined;
      }, { timeoutMs: 120_000, intervalMs: 200 });
      return pod;
    };
    await Promise.all(hosts.map((_, i) => startPod(i)));

    return {
      cp, answer, pods, hosts, startPod, startOperator,
      stopOperator: async () => { await operator?.stop(); operator = undefined; },
      apply: async (yaml) => { await kubectl(['apply', '-f', '-'], yaml); },
      kubectl,
      hangupsOf: (callId) => answer.requests.filter((r) => r.path === '/hangup' && r.params['X-PH-Call'] === callId),
      operatorLogs: () => opLogs,
      stop,
    };
  } catch (err) {
    await stop().catch(() => undefined);
    throw err;
  }
}
