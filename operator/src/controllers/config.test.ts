import { after, before, beforeEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { KubeObject } from '../api/types.js';
import { createLogger, setLogSink } from '../log.js';
import { render, toKubeObjects } from '../render/render.js';
import { KubeApiWriter } from '../runtime/apply.js';
import { ApiServerVerifier, type SeenRequest } from '../runtime/api-verifier.js';
import { FakeClock } from '../runtime/clock.js';
import { ConfigReconciler, KubeSecretReader, digestOutput, resultKey, type ConfigSources } from './config.js';
import { ReferencedSecrets } from './secrets.js';
import { StatusReconciler } from './status.js';
import { CRDS } from './operator.js';

setLogSink(() => {});
const logger = createLogger('test');
const NS = 'sipflow-system';
const DOMAIN = 'sip.example.net';

function app(name: string, over: Record<string, unknown> = {}): KubeObject {
  return {
    apiVersion: 'sipflow.io/v1alpha1', kind: 'SipApplication',
    metadata: { name, namespace: 'team', generation: 1, creationTimestamp: '2026-01-01T00:00:00Z' },
    spec: { answerUrl: `https://agents.example.net/${name}`, sipAuth: { type: 'Credential', credentialRefs: [{ name: 'cred' }] }, ...over },
  };
}
const cred: KubeObject = {
  apiVersion: 'sipflow.io/v1alpha1', kind: 'SipCredential',
  metadata: { name: 'cred', namespace: 'team', generation: 1, creationTimestamp: '2026-01-01T00:00:00Z' },
  spec: { username: 'agent', passwordSecretRef: { name: 'pw', key: 'password' } },
};
const pwSecret: KubeObject = {
  apiVersion: 'v1', kind: 'Secret', metadata: { name: 'pw', namespace: 'team', resourceVersion: '7' },
  data: { password: Buffer.from('Correct-Horse-9-Battery').toString('base64') },
};

function ssa(req: SeenRequest): void {
  assert.equal(req.contentType, 'application/apply-patch+yaml');
  assert.equal(req.query.get('fieldManager'), 'sipflow-operator');
  assert.equal(req.query.get('force'), 'true');
}

describe('ConfigReconciler against a scripted API server', () => {
  const api = new ApiServerVerifier();
  let crs: KubeObject[];
  let outputs: KubeObject[];
  let secretsInCache: Map<string, KubeObject>;
  let refs = new ReferencedSecrets();

  before(() => api.start());
  after(() => api.stop());
  beforeEach(() => {
    crs = [app('alpha'), cred];
    outputs = [];
    secretsInCache = new Map([['team/pw', pwSecret]]);
    refs = new ReferencedSecrets();
  });

  function reconciler(): ConfigReconciler {
    const kc = api.kubeConfig();
    const sources: ConfigSources = {
      customResources: () => crs,
      secret: (ns, name) => secretsInCache.get(`${ns}/${name}`),
      outputs: () => outputs,
    };
    return new ConfigReconciler({ namespace: NS, sipDomain: DOMAIN, sources, writer: new KubeApiWriter(kc), secrets: refs, secretReader: new KubeSecretReader(kc), logger });
  }
  const expected = (): KubeObject[] => toKubeObjects(render({ objects: [...crs, pwSecret], sipDomain: DOMAIN }), NS);

  it('applies the shards, then the index, with server-side apply', async () => {
    const want = expected();
    assert.deepEqual(want.map((o) => o.metadata.name), ['sipflow-routing-0', 'sipflow-credentials-0', 'sipflow-routing-index']);
    api.expect(
      ...want.map((o) => ({
        method: 'PATCH',
        path: `/api/v1/namespaces/${NS}/${o.kind === 'Secret' ? 'secrets' : 'configmaps'}/${o.metadata.name}`,
        check: (req: SeenRequest) => {
          ssa(req);
          assert.deepEqual(req.body, o);
        },
      })),
    );
    await reconciler().reconcile();
    api.verify();
  });

  it('writes nothing when the outputs already hold the rendered content', async () => {
    outputs = expected().map((o) => ({ ...o, metadata: { ...o.metadata, resourceVersion: '5', labels: { ...o.metadata.labels, extra: 'kept' } } }));
    const before = api.seen.length;
    const rec = reconciler();
    await rec.reconcile();
    assert.equal(api.seen.length, before, `no API call, saw ${api.calls().slice(before).join(', ')}`);
    assert.equal(rec.results().get(resultKey({ kind: 'SipApplication', namespace: 'team', name: 'alpha' }))?.ready, true);
  });

  it('compares with outputs cached as digests, and still notices a changed shard', async () => {
    outputs = expected().map((o) => digestOutput(structuredClone({ ...o, metadata: { ...o.metadata, resourceVersion: '5' } })));
    const routing = outputs.find((o) => o.metadata.name === 'sipflow-routing-0') as KubeObject;
    assert.match(String((routing.data as Record<string, string>)['routing.json']), /^sha256:[0-9a-f]{64}$/, 'the cache holds no shard text');
    const before = api.seen.length;
    await reconciler().reconcile();
    assert.equal(api.seen.length, before, `no API call, saw ${api.calls().slice(before).join(', ')}`);
    // Someone edits a shard behind the operator's back: its digest no longer matches.
    outputs = expected().map((o) => digestOutput(structuredClone(o.metadata.name === 'sipflow-routing-0' ? { ...o, data: { 'routing.json': '{}' } } : o)));
    api.expect({ method: 'PATCH', path: `/api/v1/namespaces/${NS}/configmaps/sipflow-routing-0` });
    await reconciler().reconcile();
    api.verify();
  });

  it('does not repeat its own write while the cache has not caught up', async () => {
    const rec = reconciler();
    api.expect(...expected().map((o) => ({ method: 'PATCH', path: `/api/v1/namespaces/${NS}/${o.kind === 'Secret' ? 'secrets' : 'configmaps'}/${o.metadata.name}` })));
    await rec.reconcile();
    const n = api.seen.length;
    await rec.reconcile(); // outputs (the "cache") are still empty
    assert.equal(api.seen.length, n);
    api.verify();
  });

  it('tells its own applied writes arriving through the output informer from anyone else\'s changes', async () => {
    const rec = reconciler();
    let rv = 100;
    api.expect(...expected().map((o) => ({
      method: 'PATCH', path: `/api/v1/namespaces/${NS}/${o.kind === 'Secret' ? 'secrets' : 'configmaps'}/${o.metadata.name}`,
      respond: (req: SeenRequest) => {
        const b = req.body as KubeObject;
        return { ...b, metadata: { ...b.metadata, resourceVersion: String(++rv) } };
      },
    })));
    await rec.reconcile();
    api.verify();
    const index = expected().find((o) => o.metadata.name === 'sipflow-routing-index') as KubeObject;
    const at = (v: string): KubeObject => ({ ...index, metadata: { ...index.metadata, resourceVersion: v } });
    assert.equal(rec.observeOutput(at('103'), false), false, 'our own write: no re-render');
    assert.equal(rec.observeOutput(at('150'), false), true, 'someone changed it after us');
    assert.equal(rec.observeOutput(at('103'), false), true, 'forgotten after a foreign change');
    assert.equal(rec.observeOutput(at('101'), true), true, 'a delete always counts');
  });

  it('deletes stale shards only after the index points away from them', async () => {
    // The previous config had two routing shards and two credential shards.
    const current = expected();
    const stale = (kind: 'ConfigMap' | 'Secret', name: string, component: string): KubeObject => ({
      apiVersion: 'v1', kind, metadata: { name, namespace: NS, labels: { 'app.kubernetes.io/managed-by': 'sipflow-operator', 'sipflow.io/component': component } }, data: {},
    });
    const oldIndex = current.find((o) => o.metadata.name === 'sipflow-routing-index') as KubeObject;
    outputs = [
      ...current.filter((o) => o !== oldIndex),
      { ...oldIndex, data: { 'index.json': '{"old":true}' } },
      stale('ConfigMap', 'sipflow-routing-1', 'routing'),
      stale('Secret', 'sipflow-credentials-1', 'credentials'),
      // Someone else's labelled object without a shard component is never touched.
      stale('ConfigMap', 'unrelated', 'other'),
    ];
    api.expect(
      { method: 'PATCH', path: `/api/v1/namespaces/${NS}/configmaps/sipflow-routing-index`, check: ssa },
      { method: 'DELETE', path: `/api/v1/namespaces/${NS}/configmaps/sipflow-routing-1` },
      { method: 'DELETE', path: `/api/v1/namespaces/${NS}/secrets/sipflow-credentials-1`, status: 404 },
    );
    await reconciler().reconcile();
    api.verify();
  });

  it('deletes nothing when the index cannot be written', async () => {
    outputs = [{
      apiVersion: 'v1', kind: 'ConfigMap',
      metadata: { name: 'sipflow-routing-7', namespace: NS, labels: { 'app.kubernetes.io/managed-by': 'sipflow-operator', 'sipflow.io/component': 'routing' } }, data: {},
    }];
    const want = expected();
    api.expect(
      { method: 'PATCH', path: `/api/v1/namespaces/${NS}/configmaps/${want[0]?.metadata.name}` },
      { method: 'PATCH', path: `/api/v1/namespaces/${NS}/secrets/${want[1]?.metadata.name}` },
      { method: 'PATCH', path: `/api/v1/namespaces/${NS}/configmaps/sipflow-routing-index`, status: 500 },
    );
    await assert.rejects(reconciler().reconcile());
    api.verify();
  });

  it('reads a referenced Secret that the informer cached without data, once per resourceVersion', async () => {
    // The informer saw the Secret before any SipCredential referenced it.
    const bare = refs.transform(structuredClone(pwSecret));
    assert.equal(bare.data, undefined, 'unreferenced Secrets are cached without data');
    assert.equal(refs.isBare(bare), true);
    secretsInCache.set('team/pw', bare);
    const rec = reconciler();
    api.expect(
      { method: 'GET', path: '/api/v1/namespaces/team/secrets/pw', respond: () => ({ ...pwSecret }) },
      ...expected().map((o) => ({ method: 'PATCH', path: `/api/v1/namespaces/${NS}/${o.kind === 'Secret' ? 'secrets' : 'configmaps'}/${o.metadata.name}` })),
    );
    await rec.reconcile();
    await rec.reconcile();
    api.verify();
    assert.equal(api.calls().filter((c) => c.startsWith('GET')).length, 1);
  });

  it('patches status with a JSON merge patch on the status subresource, guarded by resourceVersion, only when it changes', async () => {
    const rec = reconciler();
    api.expect(...expected().map((o) => ({ method: 'PATCH', path: `/api/v1/namespaces/${NS}/${o.kind === 'Secret' ? 'secrets' : 'configmaps'}/${o.metadata.name}` })));
    await rec.reconcile();
    const obj = crs[0] as KubeObject;
    obj.metadata.resourceVersion = '11';
    // Someone else's condition must survive the merge patch (which replaces lists).
    obj.status = { conditions: [{ type: 'Argo', status: 'True', reason: 'Synced', message: '', lastTransitionTime: '2026-01-01T00:00:00Z' }] };
    const clock = new FakeClock();
    const status = new StatusReconciler({
      crd: CRDS.SipApplication, get: () => obj, results: () => rec.results(),
      writer: new KubeApiWriter(api.kubeConfig()), clock, logger,
    });
    api.expect({
      method: 'PATCH', path: '/apis/sipflow.io/v1alpha1/namespaces/team/sipapplications/alpha/status',
      check: (req) => {
        assert.equal(req.contentType, 'application/merge-patch+json');
        assert.equal(req.query.get('fieldManager'), 'sipflow-operator');
        const b = req.body as { metadata?: { resourceVersion?: string }; spec?: unknown; status: { sipUri: string; observedGeneration: number; conditions: { type: string; status: string }[] } };
        assert.equal(b.metadata?.resourceVersion, '11', 'precondition: the version the plan was computed from');
        assert.equal(b.spec, undefined, 'never writes spec');
        assert.equal(b.status.sipUri, `sip:alpha@${DOMAIN}`);
        assert.equal(b.status.observedGeneration, 1);
        assert.deepEqual(b.status.conditions.map((c) => `${c.type}=${c.status}`), ['Argo=True', 'Ready=True']);
      },
      respond: (req) => ({ ...obj, metadata: { ...obj.metadata, resourceVersion: '12' }, status: (req.body as { status: unknown }).status }),
    });
    assert.equal(await status.reconcile('team/alpha'), 'patched');
    const written = (api.seen[api.seen.length - 1]?.body as { status: unknown }).status;
    // The informer has not delivered our write yet: no second write, look again later.
    assert.equal(await status.reconcile('team/alpha'), 'waiting-for-cache');
    // Now it has: the update event is ours, and the object needs nothing.
    const updated: KubeObject = { ...obj, metadata: { ...obj.metadata, resourceVersion: '12' }, status: written };
    assert.equal(status.isOwnWrite(updated), true);
    assert.equal(status.isOwnWrite(updated), false, 'forgotten once seen');
    obj.status = written;
    obj.metadata.resourceVersion = '12';
    assert.equal(await status.reconcile('team/alpha'), 'unchanged');
    assert.equal(status.pendingOwnWrites, 0);
    obj.metadata.generation = 2;
    assert.equal(await status.reconcile('team/alpha'), 'waiting-for-render', 'a newer generation waits for its render');
    api.verify();
  });

  it('waits for the cache after its own write, and a change made meanwhile by someone else is written with a 409 guard', async () => {
    const rec = reconciler();
    api.expect(...expected().map((o) => ({ method: 'PATCH', path: `/api/v1/namespaces/${NS}/${o.kind === 'Secret' ? 'secrets' : 'configmaps'}/${o.metadata.name}` })));
    await rec.reconcile();
    const obj = crs[0] as KubeObject;
    obj.metadata.resourceVersion = '20';
    const status = new StatusReconciler({
      crd: CRDS.SipApplication, get: () => obj, results: () => rec.results(),
      writer: new KubeApiWriter(api.kubeConfig()), clock: new FakeClock(), logger,
    });
    api.expect({ method: 'PATCH', path: '/apis/sipflow.io/v1alpha1/namespaces/team/sipapplications/alpha/status', respond: (req) => ({ ...obj, metadata: { ...obj.metadata, resourceVersion: '21' }, status: (req.body as { status: unknown }).status }) });
    assert.equal(await status.reconcile('team/alpha'), 'patched');
    const written = (api.seen[api.seen.length - 1]?.body as { status: unknown }).status;
    // The world changes before the cache caught up with the write: the credential disappears.
    crs = [app('alpha')];
    api.expect(...expected().map((o) => ({ method: 'PATCH', path: `/api/v1/namespaces/${NS}/${o.kind === 'Secret' ? 'secrets' : 'configmaps'}/${o.metadata.name}` })));
    await rec.reconcile();
    assert.equal(await status.reconcile('team/alpha'), 'waiting-for-cache', 'never plans against the stale object');
    // Someone else's write lands first (resourceVersion 22, not ours): plan against it, guarded.
    obj.metadata.resourceVersion = '22';
    obj.status = written;
    api.expect({
      method: 'PATCH', path: '/apis/sipflow.io/v1alpha1/namespaces/team/sipapplications/alpha/status', status: 409,
      check: (req) => {
        const b = req.body as { metadata?: { resourceVersion?: string }; status: { sipUri?: unknown; conditions: { status: string }[] } };
        assert.equal(b.metadata?.resourceVersion, '22');
        assert.equal(b.status.conditions[0]?.status, 'False');
        assert.equal(b.status.sipUri, null, 'merge patch removes sipUri explicitly');
      },
      respond: () => ({ kind: 'Status', code: 409, reason: 'Conflict', message: 'the object has been modified' }),
    });
    await assert.rejects(status.reconcile('team/alpha'), (e: { code?: number }) => e.code === 409);
    assert.equal(status.pendingOwnWrites, 0);
    api.verify();
  });

});
