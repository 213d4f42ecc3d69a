/**
 * KubeConfigSource against a small fake API server on 127.0.0.1 that speaks just enough of the
 * list and watch protocol (JSON list, chunked stream of watch events from a resourceVersion) to
 * drive client-node's informers through updates, partial generations and outages.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EventEmitter, once } from 'node:events';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import type { AddressInfo, Socket } from 'node:net';
import { KubeConfig, type V1ConfigMap, type V1Secret } from '@kubernetes/client-node';
import { render, toKubeObjects, type KubeObject } from '@sipflow/operator/render/index';
import type { Fields, Logger } from '@sipflow/operator/log';
import { FakeClock } from '../clock.js';
import { MediaMetrics } from '../observability/metrics.js';
import { ConfigStore } from './store.js';
import {
  KubeConfigSource, KubeNamespaceError, MANAGED_BY_SELECTOR, assembleFromObjects, lastUpdateTime, resolveKubeNamespace,
  type KubeConfigSourceOptions,
} from './kube-source.js';

const NS = 'sipflow-system';
/** Bound for tests that talk to the fake API server: a hang fails the test instead of the run. */
const NET = { timeout: 30_000 };
type Resource = 'configmaps' | 'secrets';
type Obj = KubeObject & { metadata: { name: string; namespace?: string; resourceVersion?: string; labels?: Record<string, string>; managedFields?: unknown[] } };

interface LogRecord { level: string; msg: string; fields: Fields }
function recordingLogger(out: LogRecord[] = [], base: Fields = {}): Logger & { records: LogRecord[] } {
  const w = (level: string) => (msg: string, fields: Fields = {}) => { out.push({ level, msg, fields: { ...base, ...fields } }); };
  return { records: out, debug: w('debug'), info: w('info'), warn: w('warn'), error: w('error'), child: (f) => recordingLogger(out, { ...base, ...f }) };
}

/** Serves list and watch for configmaps and secrets of any namespace; records every request. */
class FakeApiServer extends EventEmitter<{ request: [url: URL]; watch: [resource: Resource] }> {
  private server = http.createServer((req, res) => this.handle(req, res));
  private sockets = new Set<Socket>();
  private watches = new Set<{ resource: Resource; ns: string; res: http.ServerResponse }>();
  private objects: Record<Resource, Map<string, Obj>> = { configmaps: new Map(), secrets: new Map() };
  private history: { rv: number; resource: Resource; type: string; obj: Obj }[] = [];
  private rv = 100;
  /** Watches from an older resourceVersion get 410 Gone, as after an etcd compaction. */
  private compactedRv = 0;
  readonly requests: URL[] = [];
  port = 0;

  async start(port = 0): Promise<void> {
    this.server = http.createServer((req, res) => this.handle(req, res));
    this.server.on('connection', (s) => { this.sockets.add(s); s.on('close', () => this.sockets.delete(s)); });
    this.server.listen(port, '127.0.0.1');
    await once(this.server, 'listening');
    this.port = (this.server.address() as AddressInfo).port;
  }

  kubeConfig(): KubeConfig {
    const kc = new KubeConfig();
    kc.loadFromOptions({
      clusters: [{ name: 'fake', server: `http://127.0.0.1:${this.port}`, skipTLSVerify: true }],
      users: [{ name: 'u' }],
      contexts: [{ name: 'fake', cluster: 'fake', user: 'u' }],
      currentContext: 'fake',
    });
    return kc;
  }

  put(obj: KubeObject, mutate?: (o: Obj) => void): void {
    const o = structuredClone(obj) as Obj;
    mutate?.(o);
    const resource: Resource = o.kind === 'Secret' ? 'secrets' : 'configmaps';
    o.metadata.namespace ??= NS;
    o.metadata.resourceVersion = String(++this.rv);
    o.metadata.managedFields = [{ manager: 'sipflow-operator', operation: 'Apply', apiVersion: 'v1', time: new Date().toISOString().replace(/\.\d+Z$/, 'Z') }];
    const key = `${o.metadata.namespace}/${o.metadata.name}`;
    const type = this.objects[resource].has(key) ? 'MODIFIED' : 'ADDED';
    this.objects[resource].set(key, o);
    this.history.push({ rv: this.rv, resource, type, obj: o });
    for (const w of this.watches) if (w.resource === resource && w.ns === o.metadata.namespace && this.selected(o)) w.res.write(JSON.stringify({ type, object: o }) + '\n');
  }

  compact(): void { this.compactedRv = this.rv + 1; }

  /** Ends every open watch cleanly (as an API server does at its request timeout). */
  closeWatches(): void {
    for (const w of this.watches) w.res.end();
    this.watches.clear();
  }

  /** Drops every connection and stops listening: clients get ECONNREFUSED until comeBack(). */
  async goAway(): Promise<void> {
    this.closeWatches();
    const closed = new Promise((r) => this.server.close(r));
    for (const s of this.sockets) s.destroy();
    await closed;
  }

  async comeBack(): Promise<void> { await this.start(this.port); }

  async stop(): Promise<void> {
    if (!this.server.listening) return;
    await this.goAway();
  }

  private selected(o: Obj): boolean { return o.metadata.labels?.['app.kubernetes.io/managed-by'] === 'sipflow-operator'; }

  private handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    const url = new URL(req.url ?? '/', 'http://x');
    this.requests.push(url);
    this.emit('request', url);
    const m = /^\/api\/v1\/namespaces\/([^/]+)\/(configmaps|secrets)$/.exec(url.pathname);
    if (!m || req.method !== 'GET') {
      res.writeHead(404, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ kind: 'Status', apiVersion: 'v1', status: 'Failure', code: 404 }));
      return;
    }
    const ns = m[1]!;
    const resource = m[2] as Resource;
    // Honour only the selector the source must send; anything else would hide a bug.
    const filter = url.searchParams.get('labelSelector') === MANAGED_BY_SELECTOR ? (o: Obj) => this.selected(o) : () => true;
    const items = [...this.objects[resource].values()].filter((o) => o.metadata.namespace === ns && filter(o));
    if (url.searchParams.get('watch') !== 'true') {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ kind: resource === 'secrets' ? 'SecretList' : 'ConfigMapList', apiVersion: 'v1', metadata: { resourceVersion: String(this.rv) }, items }));
      return;
    }
    res.writeHead(200, { 'content-type': 'application/json' });
    res.flushHeaders();
    const from = Number(url.searchParams.get('resourceVersion') ?? '0');
    if (from < this.compactedRv) {
      res.end(JSON.stringify({ type: 'ERROR', object: { kind: 'Status', apiVersion: 'v1', status: 'Failure', code: 410, reason: 'Expired', message: 'too old resource version' } }) + '\n');
      return;
    }
    for (const h of this.history) {
      if (h.rv > from && h.resource === resource && h.obj.metadata.namespace === ns && filter(h.obj)) res.write(JSON.stringify({ type: h.type, object: h.obj }) + '\n');
    }
    const w = { resource, ns, res };
    this.watches.add(w);
    res.on('close', () => this.watches.delete(w));
    this.emit('watch', resource);
  }
}

/** Operator-rendered contract objects for `apps` (IpAcl apps, plus one digest app so a Secret shard exists). */
function contract(apps: string[]): { objects: KubeObject[]; generation: string } {
  const docs: unknown[] = [
    { apiVersion: 'sipflow.io/v1alpha1', kind: 'IpAcl', metadata: { name: 'lo', namespace: 'default' }, spec: { entries: [{ ip: '127.0.0.0', cidrPrefix: 8 }] } },
    { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'pw', namespace: 'default' }, stringData: { password: 'Correct-Horse-Battery-9' } },
    { apiVersion: 'sipflow.io/v1alpha1', kind: 'SipCredential', metadata: { name: 'agent', namespace: 'default' }, spec: { username: 'agent', passwordSecretRef: { name: 'pw', key: 'password' } } },
    { apiVersion: 'sipflow.io/v1alpha1', kind: 'SipApplication', metadata: { name: 'digest-app', namespace: 'default' }, spec: { appId: 'digest-app', answerUrl: 'http://127.0.0.1:9/answer', sipAuth: { type: 'Credential', credentialRefs: [{ name: 'agent' }] } } },
    ...apps.map((a) => ({
      apiVersion: 'sipflow.io/v1alpha1', kind: 'SipApplication', metadata: { name: a, namespace: 'default' },
      spec: { appId: a, answerUrl: 'http://127.0.0.1:9/answer', sipAuth: { type: 'IpAcl', ipAclRefs: [{ name: 'lo' }] } },
    })),
  ];
  const r = render({ objects: docs, sipDomain: 'sip.test' });
  assert.equal(r.index.appCount, apps.length + 1, JSON.stringify(r.results));
  return { objects: toKubeObjects(r, NS), generation: r.index.generation };
}

const byName = (objs: KubeObject[], name: string): KubeObject => {
  const o = objs.find((x) => (x.metadata as { name?: string } | undefined)?.name === name);
  assert.ok(o, `no object ${name}`);
  return o;
};

interface Harness {
  api: FakeApiServer;
  store: ConfigStore;
  metrics: MediaMetrics;
  log: LogRecord[];
  source: KubeConfigSource;
  close(): Promise<void>;
}

async function harness(opts: Partial<KubeConfigSourceOptions> = {}, seed: KubeObject[] = []): Promise<Harness> {
  const api = new FakeApiServer();
  await api.start();
  for (const o of seed) api.put(o);
  const logger = recordingLogger();
  const metrics = new MediaMetrics({ defaultMetrics: false });
  const store = new ConfigStore(logger.child({ subsystem: 'store' }), metrics);
  const source = new KubeConfigSource({
    store, metrics, logger, kubeConfig: api.kubeConfig(), namespace: NS,
    backoff: { initialMs: 10, maxMs: 100 }, partialGraceMs: 60_000, random: () => 0.5, ...opts,
  });
  return {
    api, store, metrics, log: logger.records, source,
    close: async () => { await source.stop(); await api.stop(); },
  };
}

/** Resolves with the next applied config whose generation is `generation`. */
function appliedGeneration(store: ConfigStore, generation: string): Promise<void> {
  if (store.current()?.generation === generation) return Promise.resolve();
  return new Promise((resolve) => {
    const on = (c: { generation: string }): void => { if (c.generation === generation) { store.off('applied', on); resolve(); } };
    store.on('applied', on);
  });
}

/** Polls a condition the source exposes no event for; bounded so a broken build fails instead of hanging. */
async function waitFor(what: string, cond: () => boolean): Promise<void> {
  for (let i = 0; i < 2000; i++) {
    if (cond()) return;
    await new Promise((r) => setTimeout(r, 5));
  }
  assert.fail(`gave up waiting for ${what}`);
}

async function metricValue(metrics: MediaMetrics, name: string, labels: Record<string, string> = {}): Promise<number> {
  const m = metrics.registry.getSingleMetric(name);
  assert.ok(m, `no metric ${name}`);
  const data = await m.get();
  let sum = 0;
  for (const v of data.values) {
    const l = v.labels as Record<string, string | number>;
    if (Object.entries(labels).every(([k, want]) => String(l[k]) === want)) sum += v.value;
  }
  return sum;
}

test('resolveKubeNamespace: flag, then POD_NAMESPACE, then the service account file, else a typed error', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sipflow-ns-'));
  try {
    const file = path.join(dir, 'namespace');
    fs.writeFileSync(file, 'from-file\n');
    assert.equal(resolveKubeNamespace('flag', { POD_NAMESPACE: 'env' }, file), 'flag');
    assert.equal(resolveKubeNamespace(undefined, { POD_NAMESPACE: 'env' }, file), 'env');
    assert.equal(resolveKubeNamespace('  ', { POD_NAMESPACE: '' }, file), 'from-file');
    assert.throws(() => resolveKubeNamespace(undefined, {}, path.join(dir, 'absent')), KubeNamespaceError);
    assert.throws(() => resolveKubeNamespace('Not_A_Namespace', {}, file), /not a valid namespace/);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('assembleFromObjects: missing index or shard and stale shards are pending; a bad index is a refusal', () => {
  const { objects, generation } = contract(['a1']);
  const view = (objs: KubeObject[]) => ({
    configMap: (n: string) => objs.find((o) => o.kind === 'ConfigMap' && (o.metadata as { name: string }).name === n) as V1ConfigMap | undefined,
    secret: (n: string) => objs.find((o) => o.kind === 'Secret' && (o.metadata as { name: string }).name === n) as V1Secret | undefined,
  });
  const full = assembleFromObjects(view(objects));
  assert.equal(full.state, 'complete');
  assert.ok(full.state === 'complete' && full.result.ok && full.result.config.generation === generation);

  const noIndex = assembleFromObjects(view(objects.filter((o) => (o.metadata as { name: string }).name !== 'sipflow-routing-index')));
  assert.deepEqual(noIndex.state, 'pending');

  const noSecret = assembleFromObjects(view(objects.filter((o) => o.kind !== 'Secret')));
  assert.ok(noSecret.state === 'pending' && /credential shard Secret sipflow-credentials-\d+ .*not there/.test(noSecret.reason));

  const stale = structuredClone(objects);
  const shard = stale.find((o) => o.kind === 'ConfigMap' && (o.metadata as { name: string }).name !== 'sipflow-routing-index') as V1ConfigMap;
  shard.data = { 'routing.json': shard.data!['routing.json']!.replace('a1', 'zz') };
  const s = assembleFromObjects(view(stale));
  assert.ok(s.state === 'pending' && /does not match the index sha256/.test(s.reason));

  const badIndex = structuredClone(objects);
  const idx = badIndex.find((o) => (o.metadata as { name: string }).name === 'sipflow-routing-index') as V1ConfigMap;
  idx.data = { 'index.json': idx.data!['index.json']!.replace(/"appCount": \d+/, '"appCount": 7') };
  const b = assembleFromObjects(view(badIndex));
  assert.ok(b.state === 'complete' && !b.result.ok && /appCount 7/.test(b.result.error));
});

test('lastUpdateTime takes the newest managedFields time, as Date (listed) or string (watched)', () => {
  assert.equal(lastUpdateTime(undefined), undefined);
  assert.equal(lastUpdateTime({ managedFields: [
    { time: new Date('2026-01-01T00:00:05Z') }, { time: '2026-01-01T00:00:09Z' as unknown as Date }, {},
  ] }), Date.parse('2026-01-01T00:00:09Z'));
});

test('initial list assembles and offers a config; only the namespace and label selector are queried', NET, async (t) => {
  const { objects, generation } = contract(['a1', 'a2']);
  const unlabelled = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'sipflow-routing-index', namespace: 'other' }, data: { 'index.json': '{' } };
  const h = await harness({}, [...objects, unlabelled]);
  t.after(() => h.close());
  const connected = once(h.source, 'connection');
  h.source.start();
  await appliedGeneration(h.store, generation);
  assert.deepEqual(await connected, [true]);
  assert.equal(h.source.connected, true);
  const cfg = h.store.current()!;
  assert.deepEqual([...cfg.appsById.keys()].sort(), ['a1', 'a2', 'digest-app']);
  assert.equal(cfg.credentials.size, 1, 'credential shard decoded from the Secret');
  for (const u of h.api.requests) {
    assert.match(u.pathname, new RegExp(`^/api/v1/namespaces/${NS}/(configmaps|secrets)$`));
    assert.equal(u.searchParams.get('labelSelector'), MANAGED_BY_SELECTOR);
  }
  const applied = h.log.find((r) => r.msg === 'config applied');
  assert.equal(applied?.fields.origin, `kube:${NS}`);
  assert.equal(await metricValue(h.metrics, 'sipflow_config_kube_connected'), 1);
});

test('a watched new generation swaps the config and records its propagation time', NET, async (t) => {
  const g1 = contract(['a1']);
  const h = await harness({}, g1.objects);
  t.after(() => h.close());
  h.source.start();
  await appliedGeneration(h.store, g1.generation);
  const g2 = contract(['a1', 'b1', 'b2']);
  const applied = appliedGeneration(h.store, g2.generation);
  for (const o of g2.objects) h.api.put(o); // toKubeObjects order: shards first, index last
  await applied;
  assert.ok(h.store.current()!.appsById.has('b2'));
  const hist = await h.metrics.configPropagation.get();
  const count = hist.values.find((v) => v.metricName === 'sipflow_config_propagation_seconds_count')?.value ?? 0;
  assert.ok(count >= 1, 'propagation observed for a generation written while watching');
});

test('an index that arrives before its shard is not applied until the shard arrives', NET, async (t) => {
  const g1 = contract(['a1']);
  const h = await harness({}, g1.objects);
  t.after(() => h.close());
  h.source.start();
  await appliedGeneration(h.store, g1.generation);
  const refusals: string[] = [];
  h.store.on('refused', (e) => refusals.push(e));

  const g2 = contract(['a1', 'c1']);
  const routing = g2.objects.filter((o) => o.kind === 'ConfigMap' && (o.metadata as { name: string }).name !== 'sipflow-routing-index');
  const pending = once(h.source, 'pending');
  h.api.put(byName(g2.objects, 'sipflow-routing-index'));
  const [reason] = await pending as [string];
  assert.match(reason, /routing shard ConfigMap sipflow-routing-\d+ does not match the index sha256/);
  assert.equal(h.store.current()!.generation, g1.generation, 'old generation still served');

  const applied = appliedGeneration(h.store, g2.generation);
  for (const o of routing) h.api.put(o);
  await applied;
  assert.ok(h.store.current()!.appsById.has('c1'));
  assert.deepEqual(refusals, [], 'a transient partial state is not a refusal');
  assert.ok(h.log.some((r) => r.level === 'debug' && r.msg.startsWith('contract objects incomplete')));
  assert.ok(!h.log.some((r) => r.level === 'warn'), JSON.stringify(h.log.filter((r) => r.level === 'warn')));
});

test('a corrupted shard that stays corrupted is refused after the grace period and the old config kept', NET, async (t) => {
  const g1 = contract(['a1']);
  const h = await harness({ partialGraceMs: 30 }, g1.objects);
  t.after(() => h.close());
  h.source.start();
  await appliedGeneration(h.store, g1.generation);
  const secret = byName(g1.objects, 'sipflow-credentials-0');
  const refused = once(h.store, 'refused');
  h.api.put(secret, (o) => { (o as unknown as V1Secret).data = { 'credentials.json': Buffer.from('{"tampered":true}').toString('base64') }; });
  const [error] = await refused as [string];
  assert.match(error, /credential shard Secret sipflow-credentials-0 does not match the index sha256/);
  assert.equal(h.store.current()!.generation, g1.generation);
  assert.equal(h.store.refusal(), error);
  assert.equal(await metricValue(h.metrics, 'sipflow_config_reloads_total', { result: 'refused' }), 1);
  assert.ok(!JSON.stringify(h.log).includes('tampered'), 'shard contents never logged');

  // Repairing the shard serves the same generation again and clears the refusal.
  h.api.put(secret);
  await waitFor('the refusal to clear', () => h.store.refusal() === undefined);
  assert.equal(h.store.current()!.generation, g1.generation);
});

test('the API server going away keeps the config; the watch reconnects when it is back', NET, async (t) => {
  const g1 = contract(['a1']);
  const h = await harness({}, g1.objects);
  t.after(() => h.close());
  h.source.start();
  await appliedGeneration(h.store, g1.generation);
  if (!h.source.connected) await once(h.source, 'connection');

  const lost = once(h.source, 'connection');
  await h.api.goAway();
  assert.deepEqual(await lost, [false]);
  assert.equal(h.source.connected, false);
  assert.equal(h.store.current()!.generation, g1.generation, 'nothing cleared on disconnect');
  assert.equal(await metricValue(h.metrics, 'sipflow_config_kube_connected'), 0);
  assert.ok(await metricValue(h.metrics, 'sipflow_config_kube_watch_restarts_total', { reason: 'error' }) >= 1);

  const back = once(h.source, 'connection');
  await h.api.comeBack();
  assert.deepEqual(await back, [true]);
  const g2 = contract(['a1', 'd1']);
  const applied = appliedGeneration(h.store, g2.generation);
  for (const o of g2.objects) h.api.put(o);
  await applied;
  assert.ok(h.store.current()!.appsById.has('d1'));
  assert.ok(h.log.some((r) => r.level === 'warn' && r.msg.startsWith('lost the API server')));
});

test('failed lists retry with exponential backoff up to the cap, then recover (fake clock)', NET, async (t) => {
  const clock = new FakeClock();
  const g1 = contract(['a1']);
  const h = await harness({ clock, backoff: { initialMs: 10, maxMs: 50 } }, g1.objects);
  t.after(() => h.close());
  await h.api.goAway();
  const delays = () => h.log.filter((r) => r.msg.startsWith('watch failed') && r.fields.resource === 'configmaps').map((r) => r.fields.retryInMs);
  h.source.start();
  for (const expected of [[10], [10, 20], [10, 20, 40], [10, 20, 40, 50], [10, 20, 40, 50, 50]]) {
    await waitFor(`retry ${expected.length}`, () => delays().length === expected.length);
    assert.deepEqual(delays(), expected);
    clock.advance(expected[expected.length - 1]!);
  }
  assert.equal(h.store.current(), undefined);
  await h.api.comeBack();
  const up = once(h.source, 'connection');
  clock.advance(50);
  assert.deepEqual(await up, [true]);
  clock.advance(50); // debounce
  assert.equal(h.store.current()?.generation, g1.generation);
});

test('a cleanly closed watch resumes from its resourceVersion without a relist', NET, async (t) => {
  const g1 = contract(['a1']);
  const h = await harness({}, g1.objects);
  t.after(() => h.close());
  h.source.start();
  await appliedGeneration(h.store, g1.generation);
  const lists = () => h.api.requests.filter((u) => u.searchParams.get('watch') !== 'true').length;
  const listsBefore = lists();
  const rewatched = Promise.all([once(h.api, 'watch'), once(h.api, 'watch')]);
  h.api.closeWatches();
  await rewatched;
  const g2 = contract(['a1', 'e1']);
  const applied = appliedGeneration(h.store, g2.generation);
  for (const o of g2.objects) h.api.put(o);
  await applied;
  assert.equal(lists(), listsBefore);
  assert.equal(h.source.connected, true);
});

test('a watch resumed after compaction (410 Gone) relists and keeps going', NET, async (t) => {
  const g1 = contract(['a1']);
  const h = await harness({}, g1.objects);
  t.after(() => h.close());
  h.source.start();
  await appliedGeneration(h.store, g1.generation);
  const listed = new Set<string>();
  const relisted = new Promise<void>((resolve) => h.api.on('request', (u) => {
    if (u.searchParams.get('watch') !== 'true') listed.add(u.pathname);
    if (listed.size === 2) resolve();
  }));
  h.api.compact();
  h.api.closeWatches();
  await relisted;
  const g2 = contract(['a1', 'f1']);
  const applied = appliedGeneration(h.store, g2.generation);
  for (const o of g2.objects) h.api.put(o);
  await applied;
  assert.ok(!h.log.some((r) => r.level === 'warn'), JSON.stringify(h.log.filter((r) => r.level === 'warn')));
});

test('the watchdog restarts a silent watch (driven by a fake clock)', NET, async (t) => {
  const clock = new FakeClock();
  const g1 = contract(['a1']);
  const h = await harness({ clock, watchdogMs: 60_000 }, g1.objects);
  t.after(() => h.close());
  const both = once(h.source, 'connection');
  h.source.start();
  await both;
  const watchesBefore = h.api.requests.filter((u) => u.searchParams.get('watch') === 'true').length;
  assert.equal(watchesBefore, 2);
  const rewatched = Promise.all([once(h.api, 'watch'), once(h.api, 'watch')]);
  clock.advance(75_000); // > watchdogMs with nothing on either watch
  await rewatched;
  assert.equal(await metricValue(h.metrics, 'sipflow_config_kube_watch_restarts_total', { reason: 'silent' }), 2);
  // The debounce runs on the fake clock too; the cache survived the restart and still assembles.
  clock.advance(100);
  assert.equal(h.store.current()?.generation, g1.generation);
  assert.ok(!h.log.some((r) => r.msg.startsWith('watch failed')), 'the restart abort is not reported as a failure');
});

test('stop() ends both watches without reporting the abort as an error', NET, async (t) => {
  const g1 = contract(['a1']);
  const h = await harness({}, g1.objects);
  t.after(() => h.api.stop());
  h.source.start();
  await appliedGeneration(h.store, g1.generation);
  await h.source.stop();
  assert.equal(h.source.connected, false);
  assert.ok(!h.log.some((r) => r.level === 'warn' || r.level === 'error'), JSON.stringify(h.log.filter((r) => r.level !== 'debug' && r.level !== 'info')));
  // No watch is reopened after stop: put an object and check nothing is listening for it.
  const before = h.api.requests.length;
  h.api.put(byName(g1.objects, 'sipflow-routing-index'), (o) => { o.metadata.labels = { ...o.metadata.labels, touched: '1' }; });
  assert.equal(h.api.requests.length, before);
});

test('no index yet: the pod waits quietly, then refuses once with the reason', NET, async (t) => {
  const h = await harness({ partialGraceMs: 20 });
  t.after(() => h.close());
  const refused = once(h.store, 'refused');
  h.source.start();
  const [error] = await refused as [string];
  assert.match(error, /ConfigMap sipflow-routing-index \(key index.json\) not found/);
  assert.equal(h.store.current(), undefined);
});
