// Puts the chart and the kubectl bundle in front of a real kube-apiserver: server-side dry runs of
// every CI value set and of deploy/sipflow.yaml, a real `helm install` (objects exist, the examples
// validate against the installed CRDs, the nonce key survives an upgrade), and RBAC proved by
// impersonating the operator's and the media pods' ServiceAccounts with `kubectl auth can-i`.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { get as httpGet } from 'node:http';
import { basename, join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { parse as parseYaml, stringify as toYaml } from 'yaml';
import { findLua, runHealth } from '../argocd/lua-health.js';
import {
  controlPlaneSkipReason,
  pollUntil,
  startControlPlane,
  type CommandResult,
  type ControlPlane,
} from '../support/control-plane.js';
import { chartDir, ciValueFiles, container, mustFind, parseManifests, RELEASE, root } from './chart-tools.js';

const skip = await controlPlaneSkipReason();
// The README's namespace: the dry runs, the helm install and later the bundle all use it in turn.
const INSTALL_NS = 'sipflow-system';
const DRY_RUN_NS = INSTALL_NS;

const lua = await findLua();

function httpText(url: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = httpGet(url, { timeout: 10_000 }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (b: Buffer) => chunks.push(b));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8').slice(0, 1 << 20) }));
    });
    req.on('timeout', () => req.destroy(new Error(`GET ${url} timed out`)));
    req.on('error', reject);
  });
}

interface LiveObject {
  kind: string;
  metadata: { name: string; namespace: string; generation: number };
  status?: { observedGeneration?: number; conditions?: { type: string; status: string; reason?: string; message?: string }[] };
}

function ok(res: CommandResult, what: string): string {
  assert.equal(res.code, 0, `${what} failed (exit ${res.code}):\n${res.stderr}\n${res.stdout.slice(-2000)}`);
  return res.stdout;
}

/**
 * Stand-ins for the prometheus-operator CRDs, so the monitoring value set can be dry-run: they accept
 * any spec, so the server checks the envelope (kind, names, namespace) and not the spec fields.
 */
function standInCrd(kind: string, plural: string): string {
  return JSON.stringify({
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: { name: `${plural}.monitoring.coreos.com` },
    spec: {
      group: 'monitoring.coreos.com',
      scope: 'Namespaced',
      names: { kind, plural, singular: kind.toLowerCase(), listKind: `${kind}List` },
      versions: [{
        name: 'v1', served: true, storage: true,
        schema: { openAPIV3Schema: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true } },
      }],
    },
  });
}

describe('chart and bundle against a real API server', { skip }, () => {
  let cp: ControlPlane;
  const helm = (args: string[]) => cp.helm([...args, '--kubeconfig', cp.kubeconfigPath], { timeoutMs: 180_000 });
  const canI = async (sa: string, args: string[]): Promise<boolean> => {
    const res = await cp.kubectl(['auth', 'can-i', ...args, `--as=system:serviceaccount:${INSTALL_NS}:${sa}`]);
    assert.ok(res.code === 0 || res.code === 1, `kubectl auth can-i ${args.join(' ')}: ${res.stderr}`);
    return res.stdout.trim() === 'yes';
  };

  before(async () => {
    cp = await startControlPlane();
    ok(await cp.kubectl(['create', 'namespace', DRY_RUN_NS]), 'create namespace');
    ok(await cp.kubectl(['create', 'namespace', 'other-ns']), 'create namespace other-ns');
    for (const [kind, plural] of [['ServiceMonitor', 'servicemonitors'], ['PrometheusRule', 'prometheusrules']] as const) {
      ok(await cp.kubectl(['apply', '-f', '-'], { input: standInCrd(kind, plural) }), `stand-in CRD ${kind}`);
    }
    ok(await cp.kubectl(['wait', '--for=condition=Established', '--timeout=60s', 'crd/servicemonitors.monitoring.coreos.com', 'crd/prometheusrules.monitoring.coreos.com']), 'wait for stand-in CRDs');
  });
  after(async () => {
    await cp?.stop();
  });

  for (const file of ciValueFiles()) {
    it(`kubectl apply --dry-run=server accepts helm template -f ci/${basename(file)}`, async () => {
      const rendered = ok(await cp.helm(['template', RELEASE, chartDir, '--namespace', DRY_RUN_NS, '-f', file]), 'helm template');
      const out = ok(await cp.kubectl(['apply', '--dry-run=server', '-f', '-'], { input: rendered, timeoutMs: 120_000 }), `dry-run ${basename(file)}`);
      assert.match(out, /deployment\.apps\/sipflow-operator created \(server dry run\)/);
    });
  }

  it('kubectl apply --dry-run=server accepts deploy/sipflow.yaml', async () => {
    const out = ok(await cp.kubectl(['apply', '--dry-run=server', '-f', join(root, 'deploy', 'sipflow.yaml')], { timeoutMs: 120_000 }), 'dry-run bundle');
    for (const o of ['namespace/sipflow-system', 'customresourcedefinition.apiextensions.k8s.io/sipapplications.sipflow.io', 'deployment.apps/sipflow-media', 'service/sipflow-media']) {
      assert.ok(out.includes(o), `${o} in:\n${out}`);
    }
  });

  describe('helm install', () => {
    let nonceKey = '';

    before(async () => {
      // As in charts/sipflow/README.md.
      const out = ok(await helm(['install', RELEASE, chartDir, '--namespace', INSTALL_NS, '--create-namespace', '--set', 'sipDomain=sip.example.com']), 'helm install');
      // NOTES.txt tells the user their URI pattern and how to check the install.
      assert.match(out, /sip:\{appId\}@sip\.example\.com/);
      assert.match(out, /kubectl get sipapp -A/);
      assert.match(out, /sipp -sn uac/);
    });

    it('created the workloads, Services, RBAC, PDBs, nonce Secret and Established CRDs', async () => {
      const names = ok(await cp.kubectl(['get', 'deployments,services,serviceaccounts,roles,rolebindings,poddisruptionbudgets,secrets', '-n', INSTALL_NS, '-o', 'name']), 'get objects');
      for (const o of [
        'deployment.apps/sipflow-operator', 'deployment.apps/sipflow-media',
        'service/sipflow-media', 'service/sipflow-media-metrics', 'service/sipflow-operator-metrics',
        'serviceaccount/sipflow-operator', 'serviceaccount/sipflow-media',
        'role.rbac.authorization.k8s.io/sipflow-operator', 'role.rbac.authorization.k8s.io/sipflow-media',
        'poddisruptionbudget.policy/sipflow-media', 'poddisruptionbudget.policy/sipflow-operator',
        'secret/sipflow-nonce-key',
      ]) assert.ok(names.split('\n').includes(o), `${o} missing from:\n${names}`);
      ok(await cp.kubectl(['get', 'clusterrole/sipflow-operator', 'clusterrolebinding/sipflow-operator']), 'cluster RBAC');
      ok(await cp.kubectl(['wait', '--for=condition=Established', '--timeout=60s', 'crd/sipapplications.sipflow.io', 'crd/ipacls.sipflow.io', 'crd/sipcredentials.sipflow.io']), 'CRDs Established');
      const svc = JSON.parse(ok(await cp.kubectl(['get', 'service', 'sipflow-media', '-n', INSTALL_NS, '-o', 'json']), 'get service')) as {
        spec: { type: string; externalTrafficPolicy: string; healthCheckNodePort?: number };
      };
      assert.equal(svc.spec.type, 'LoadBalancer');
      assert.equal(svc.spec.externalTrafficPolicy, 'Local');
      assert.ok(svc.spec.healthCheckNodePort, 'the API server allocated a health-check node port for Local traffic policy');
    });

    it('the installed CRDs accept the examples and carry the keep policy', async () => {
      ok(await cp.kubectl(['apply', '--dry-run=server', '-f', join(root, 'examples')]), 'dry-run examples');
      const policy = ok(await cp.kubectl(['get', 'crd', 'sipapplications.sipflow.io', '-o', 'jsonpath={.metadata.annotations.helm\\.sh/resource-policy}']), 'crd annotation');
      assert.equal(policy, 'keep');
    });

    it('helm upgrade keeps the generated nonce key', async () => {
      nonceKey = ok(await cp.kubectl(['get', 'secret', 'sipflow-nonce-key', '-n', INSTALL_NS, '-o', 'jsonpath={.data.nonce-key}']), 'read nonce key');
      assert.ok(nonceKey.length >= 40);
      ok(await helm(['upgrade', RELEASE, chartDir, '--namespace', INSTALL_NS, '--set', 'sipDomain=sip.example.com']), 'helm upgrade');
      const again = ok(await cp.kubectl(['get', 'secret', 'sipflow-nonce-key', '-n', INSTALL_NS, '-o', 'jsonpath={.data.nonce-key}']), 'read nonce key');
      assert.equal(again, nonceKey);
    });

    describe('RBAC by impersonation', () => {
      const op = 'sipflow-operator';
      const media = 'sipflow-media';
      const allowed: [string, string, string[]][] = [
        [op, 'lists SipApplications in every namespace', ['list', 'sipapplications.sipflow.io', '--all-namespaces']],
        [op, 'watches IpAcls in every namespace', ['watch', 'ipacls.sipflow.io', '--all-namespaces']],
        [op, 'gets SipCredentials in a user namespace', ['get', 'sipcredentials.sipflow.io', '-n', 'other-ns']],
        [op, 'patches SipApplication status', ['patch', 'sipapplications.sipflow.io', '--subresource=status', '-n', 'other-ns']],
        [op, 'patches SipCredential status', ['patch', 'sipcredentials.sipflow.io', '--subresource=status', '-n', 'other-ns']],
        [op, 'reads referenced user Secrets (cluster-wide, by design)', ['get', 'secrets', '-n', 'other-ns']],
        [op, 'watches Secrets cluster-wide', ['watch', 'secrets', '--all-namespaces']],
        [op, 'creates its ConfigMaps', ['create', 'configmaps', '-n', INSTALL_NS]],
        [op, 'patches its ConfigMaps', ['patch', 'configmaps', '-n', INSTALL_NS]],
        [op, 'deletes its credential Secrets', ['delete', 'secrets', '-n', INSTALL_NS]],
        [op, 'takes its leader Lease', ['update', 'leases.coordination.k8s.io', '-n', INSTALL_NS]],
        [op, 'records Events on user objects', ['create', 'events', '-n', 'other-ns']],
        [media, 'reads its config ConfigMaps', ['watch', 'configmaps', '-n', INSTALL_NS]],
        [media, 'reads its credential Secrets', ['get', 'secrets', '-n', INSTALL_NS]],
      ];
      const denied: [string, string, string[]][] = [
        [op, 'never writes a SipApplication spec', ['update', 'sipapplications.sipflow.io', '-n', 'other-ns']],
        [op, 'never patches a SipApplication', ['patch', 'sipapplications.sipflow.io', '-n', 'other-ns']],
        [op, 'never deletes user CRs', ['delete', 'ipacls.sipflow.io', '-n', 'other-ns']],
        [op, 'cannot create Secrets elsewhere', ['create', 'secrets', '-n', 'other-ns']],
        [op, 'cannot delete ConfigMaps elsewhere', ['delete', 'configmaps', '-n', 'other-ns']],
        [op, 'cannot take Leases elsewhere', ['create', 'leases.coordination.k8s.io', '-n', 'other-ns']],
        [op, 'cannot touch workloads', ['patch', 'deployments.apps', '-n', INSTALL_NS]],
        [media, 'cannot read Secrets in another namespace', ['get', 'secrets', '-n', 'other-ns']],
        [media, 'cannot list Secrets cluster-wide', ['list', 'secrets', '--all-namespaces']],
        [media, 'cannot write its ConfigMaps', ['create', 'configmaps', '-n', INSTALL_NS]],
        [media, 'cannot read the CRs', ['list', 'sipapplications.sipflow.io', '--all-namespaces']],
      ];
      for (const [sa, what, args] of allowed) it(`${sa} ${what}`, async () => assert.equal(await canI(sa, args), true, args.join(' ')));
      for (const [sa, what, args] of denied) it(`${sa} ${what}`, async () => assert.equal(await canI(sa, args), false, args.join(' ')));
    });

    it('helm uninstall leaves the CRDs (crds.keep) and removes the rest', async () => {
      ok(await helm(['uninstall', RELEASE, '--namespace', INSTALL_NS]), 'helm uninstall');
      ok(await cp.kubectl(['get', 'crd', 'sipapplications.sipflow.io']), 'CRD kept');
      const left = await cp.kubectl(['get', 'deployment', 'sipflow-operator', '-n', INSTALL_NS]);
      assert.notEqual(left.code, 0, 'the operator Deployment is gone');
      const cr = await cp.kubectl(['get', 'clusterrole', 'sipflow-operator']);
      assert.notEqual(cr.code, 0, 'the ClusterRole is gone');
    });
  });

  it('then the kubectl bundle installs for real, as the README says', async () => {
    const readme = readFileSync(join(chartDir, 'README.md'), 'utf8');
    assert.match(readme, /kubectl apply --server-side -f deploy\/sipflow\.yaml/);
    assert.match(readme, /kubectl create secret generic sipflow-nonce-key -n sipflow-system/);
    ok(await cp.kubectl(['apply', '--server-side', '-f', join(root, 'deploy', 'sipflow.yaml')], { timeoutMs: 120_000 }), 'kubectl apply bundle');
    ok(await cp.kubectl(['create', 'secret', 'generic', 'sipflow-nonce-key', '-n', INSTALL_NS, `--from-literal=nonce-key=${randomBytes(32).toString('hex')}`]), 'create nonce key');
    const names = ok(await cp.kubectl(['get', 'deployments', '-n', INSTALL_NS, '-o', 'name']), 'get deployments');
    assert.deepEqual(names.trim().split('\n').sort(), ['deployment.apps/sipflow-media', 'deployment.apps/sipflow-operator']);
    const managedBy = ok(await cp.kubectl(['get', 'deployment', 'sipflow-operator', '-n', INSTALL_NS, '-o', 'jsonpath={.metadata.labels.app\\.kubernetes\\.io/managed-by}']), 'label');
    assert.equal(managedBy, 'kubectl');
    assert.equal(await canI('sipflow-media', ['get', 'secrets', '-n', 'other-ns']), false);
  });

  it('the README\'s argocd-cm patch command installs the three health checks', async () => {
    ok(await cp.kubectl(['create', 'namespace', 'argocd']), 'create namespace argocd');
    ok(await cp.kubectl(['create', 'configmap', 'argocd-cm', '-n', 'argocd']), 'create argocd-cm');
    ok(await cp.kubectl(['patch', 'configmap', 'argocd-cm', '-n', 'argocd', '--type', 'merge', '--patch-file', join(root, 'argocd', 'argocd-cm-patch.yaml')]), 'patch argocd-cm');
    const cm = JSON.parse(ok(await cp.kubectl(['get', 'configmap', 'argocd-cm', '-n', 'argocd', '-o', 'json']), 'get argocd-cm')) as { data: Record<string, string> };
    for (const kind of ['SipApplication', 'IpAcl', 'SipCredential']) {
      assert.equal(cm.data[`resource.customizations.health.sipflow.io_${kind}`], readFileSync(join(root, 'argocd', 'health', 'sipflow.io', kind, 'health.lua'), 'utf8'));
    }
  });

  describe('the operator, run with the chart\'s own args under its ServiceAccount, reconciles the examples', () => {
    let child: ChildProcess | undefined;
    const output: string[] = [];
    let httpAddress = '';
    const podEnv: Record<string, string> = { POD_NAME: 'sipflow-operator-test-0', POD_NAMESPACE: INSTALL_NS };

    before(async () => {
      // The operator Deployment as the bundle (= chart defaults) declares it; Kubernetes expands
      // $(VAR) from the container env. Only the probe address changes: loopback, ephemeral port.
      const bundle = parseManifests(readFileSync(join(root, 'deploy', 'sipflow.yaml'), 'utf8'), 'deploy/sipflow.yaml');
      const c = container(mustFind(bundle, 'Deployment', 'sipflow-operator'), 'operator');
      const args = (c.args ?? [])
        .map((a) => a.replace(/\$\((\w+)\)/g, (_m, n: string) => podEnv[n] ?? ''))
        .map((a) => (a.startsWith('--http-listen=') ? '--http-listen=127.0.0.1:0' : a));
      assert.deepEqual(args.slice(0, 1), ['run']);
      assert.ok(args.includes('--leader-elect'));

      // Credentials of the ServiceAccount the chart binds, so the run proves the RBAC is enough.
      const token = ok(await cp.kubectl(['create', 'token', 'sipflow-operator', '-n', INSTALL_NS, '--duration=1h']), 'create token').trim();
      const admin = parseYaml(readFileSync(cp.kubeconfigPath, 'utf8')) as { clusters: { cluster: Record<string, unknown> }[] };
      const kubeconfig = join(cp.dir, 'operator-sa.kubeconfig');
      writeFileSync(kubeconfig, toYaml({
        apiVersion: 'v1', kind: 'Config',
        clusters: [{ name: 'test', cluster: admin.clusters[0]!.cluster }],
        users: [{ name: 'sipflow-operator', user: { token } }],
        contexts: [{ name: 'sa', context: { cluster: 'test', user: 'sipflow-operator', namespace: INSTALL_NS } }],
        'current-context': 'sa',
      }), { mode: 0o600 });

      const proc = spawn(process.execPath, [join(root, 'operator', 'bin', 'sipflow-operator.js'), ...args], {
        env: { ...process.env, ...podEnv, KUBECONFIG: kubeconfig },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      child = proc;
      const keep = (b: Buffer): void => {
        for (const line of b.toString('utf8').split('\n')) if (line) output.push(line);
        if (output.length > 400) output.splice(0, output.length - 400);
      };
      proc.stdout.on('data', keep);
      proc.stderr.on('data', keep);
      httpAddress = await pollUntil('the operator to log its probe address', async () => {
        if (proc.exitCode !== null) throw new Error(`the operator exited with ${proc.exitCode}:\n${output.join('\n')}`);
        for (const line of output) {
          const http = /"http":"([^"]+)"/.exec(line)?.[1];
          if (http) return http;
        }
        return undefined;
      }, { timeoutMs: 30_000 });
      ok(await cp.kubectl(['apply', '-f', join(root, 'examples')]), 'apply examples');
    });
    after(async () => {
      const proc = child;
      if (!proc || proc.exitCode !== null) return;
      const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
      proc.kill('SIGTERM');
      const timer = setTimeout(() => proc.kill('SIGKILL'), 15_000);
      await exited;
      clearTimeout(timer);
    });

    const live = async (resource: string): Promise<LiveObject[]> =>
      (JSON.parse(ok(await cp.kubectl(['get', resource, '-A', '-o', 'json']), `get ${resource}`)) as { items: LiveObject[] }).items;
    const isReady = (o: LiveObject): boolean =>
      o.status?.observedGeneration === o.metadata.generation && o.status.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') === true;

    it('every example SipApplication, IpAcl and SipCredential turns Ready for its current generation', async () => {
      for (const resource of ['sipapplications.sipflow.io', 'ipacls.sipflow.io', 'sipcredentials.sipflow.io']) {
        await pollUntil(`${resource} Ready`, async () => {
          const items = await live(resource);
          return items.length > 0 && items.every(isReady) ? true : undefined;
        }, { timeoutMs: 90_000 }).catch(async (e: unknown) => {
          throw new Error(`${(e as Error).message}\n${JSON.stringify((await live(resource)).map((o) => [o.metadata.name, o.status]))}\n${output.slice(-30).join('\n')}`);
        });
      }
    });

    it('wrote the config in its namespace, labelled managed-by sipflow-operator, and holds the Lease', async () => {
      const cms = ok(await cp.kubectl(['get', 'configmaps', '-n', INSTALL_NS, '-l', 'app.kubernetes.io/managed-by=sipflow-operator', '-o', 'name']), 'get config');
      assert.ok(cms.split('\n').includes('configmap/sipflow-routing-index'), cms);
      const secrets = ok(await cp.kubectl(['get', 'secrets', '-n', INSTALL_NS, '-l', 'app.kubernetes.io/managed-by=sipflow-operator', '-o', 'name']), 'get credentials');
      assert.match(secrets, /secret\/sipflow-credentials-/);
      const holder = ok(await cp.kubectl(['get', 'lease', 'sipflow-operator', '-n', INSTALL_NS, '-o', 'jsonpath={.spec.holderIdentity}']), 'get lease');
      assert.equal(holder, podEnv.POD_NAME);
    });

    it('serves /healthz and the metrics the dashboard and alerts use', async () => {
      assert.equal((await httpText(`http://${httpAddress}/healthz`)).status, 200);
      const metrics = (await httpText(`http://${httpAddress}/metrics`)).body;
      assert.match(metrics, /^sipflow_operator_leader 1$/m);
      assert.match(metrics, /^controller_runtime_reconcile_total\{/m);
      assert.match(metrics, /^# TYPE controller_runtime_reconcile_errors_total counter$/m);
    });

    it('the Argo CD health checks call the live objects Healthy', { skip: lua ? false : 'no Lua interpreter' }, async () => {
      for (const [resource, kind] of [['sipapplications.sipflow.io', 'SipApplication'], ['ipacls.sipflow.io', 'IpAcl'], ['sipcredentials.sipflow.io', 'SipCredential']] as const) {
        const script = readFileSync(join(root, 'argocd', 'health', 'sipflow.io', kind, 'health.lua'), 'utf8');
        for (const o of await live(resource)) {
          const hs = await runHealth(lua!, script, o);
          assert.equal(hs.status, 'Healthy', `${kind} ${o.metadata.namespace}/${o.metadata.name}: ${hs.message}`);
        }
      }
    });
  });
});
