import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type ServerResponse, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { KubeConfig } from '@kubernetes/client-node';
import { createLogger, setLogSink } from '../log.js';
import { FakeClock } from './clock.js';
import { Informer, LAST_APPLIED_ANNOTATION, stripForCache, type InformerEvent } from './informer.js';
import { coreResource } from './resources.js';

setLogSink(() => {});

/** A fake API server for one ConfigMap collection: scripted lists, watches held open. */
class FakeCollection {
  server: Server | undefined;
  url = '';
  lists: URLSearchParams[] = [];
  watches: { query: URLSearchParams; res: ServerResponse; closed: boolean }[] = [];
  listReplies: { status: number; items: unknown[]; rv: string }[] = [];

  async start(): Promise<void> {
    this.server = createServer((req, res) => {
      const u = new URL(req.url ?? '/', 'http://x');
      if (u.searchParams.get('watch') === 'true') {
        const w = { query: u.searchParams, res, closed: false };
        res.on('close', () => { w.closed = true; });
        res.writeHead(200, { 'content-type': 'application/json' });
        res.flushHeaders();
        this.watches.push(w);
        return;
      }
      this.lists.push(u.searchParams);
      const reply = this.listReplies.shift() ?? { status: 500, items: [], rv: '0' };
      res.writeHead(reply.status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(reply.status === 200
        ? { apiVersion: 'v1', kind: 'ConfigMapList', metadata: { resourceVersion: reply.rv }, items: reply.items }
        : { kind: 'Status', apiVersion: 'v1', status: 'Failure', code: reply.status, message: 'scripted' }));
    });
    await new Promise<void>((r) => this.server?.listen(0, '127.0.0.1', r));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }
  async stop(): Promise<void> {
    for (const w of this.watches) w.res.destroy();
    await new Promise<void>((r) => {
      this.server?.close(() => r());
      this.server?.closeAllConnections();
    });
  }
  openWatch(): { query: URLSearchParams; res: ServerResponse; closed: boolean } | undefined {
    return this.watches.filter((w) => !w.closed).at(-1);
  }
  send(type: string, object: unknown): void {
    const w = this.openWatch();
    assert.ok(w, 'a watch is open');
    w.res.write(`${JSON.stringify({ type, object })}\n`);
  }
}

function cm(name: string, rv: string): unknown {
  return { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name, namespace: 'ns', resourceVersion: rv }, data: { k: rv } };
}

/** Waits (bounded) for I/O the test cannot drive with the fake clock. */
async function until(what: string, cond: () => boolean): Promise<void> {
  for (let i = 0; i < 1000; i++) {
    if (cond()) return;
    await new Promise((r) => setTimeout(r, 5));
  }
  throw new Error(`gave up waiting for ${what}`);
}

describe('Informer against a fake API server', () => {
  const api = new FakeCollection();
  before(() => api.start());
  after(() => api.stop());

  it('restarts after a failed list with backoff, resumes watches, relists on 410, and stays quiet when stopped', async () => {
    const kc = new KubeConfig();
    kc.loadFromOptions({
      clusters: [{ name: 'f', server: api.url, skipTLSVerify: true }], users: [{ name: 'u' }],
      contexts: [{ name: 'c', cluster: 'f', user: 'u' }], currentContext: 'c',
    });
    const clock = new FakeClock();
    const restarts: string[] = [];
    const events: string[] = [];
    const inf = new Informer(kc, {
      resource: coreResource(kc, 'ConfigMap', 'ns'), logger: createLogger('t'), clock,
      watchdogMs: 60_000, resyncMs: 600_000, initialBackoffMs: 1000,
    });
    inf.metrics = { restart: (_r, cause) => restarts.push(cause) };
    inf.on((ev: InformerEvent<{ metadata?: { name?: string } }>) => events.push(`${ev.type} ${ev.obj.metadata?.name}`));

    // 1. The first list fails: the informer waits for its backoff, then lists again.
    api.listReplies.push({ status: 500, items: [], rv: '0' }, { status: 200, items: [cm('a', '10'), cm('b', '11')], rv: '11' });
    inf.start();
    await until('the failed list', () => api.lists.length === 1 && !inf.connected);
    assert.equal(inf.hasSynced, false);
    assert.equal(inf.healthy(), true, 'restarting within the watchdog bound still counts as healthy');
    clock.advance(999);
    assert.deepEqual(restarts, []);
    clock.advance(1);
    assert.deepEqual(restarts, ['error']);
    await inf.synced;
    assert.deepEqual(inf.list().map((o) => o.metadata?.name).sort(), ['a', 'b']);
    assert.equal(api.lists[1]?.get('limit'), '500', 'lists are paged');
    await until('the watch', () => api.openWatch() !== undefined);
    assert.equal(api.openWatch()?.query.get('resourceVersion'), '11');
    assert.equal(api.openWatch()?.query.get('allowWatchBookmarks'), 'true');

    // 2. Watch events reach the cache and the handlers, with the old object on update.
    api.send('MODIFIED', cm('a', '12'));
    api.send('ADDED', cm('c', '13'));
    await until('the watch events', () => inf.get('c', 'ns') !== undefined);
    assert.equal((inf.get('a', 'ns') as { data?: { k?: string } }).data?.k, '12');
    assert.deepEqual(events, ['add a', 'add b', 'update a', 'add c']);

    // 3. A silent watch is restarted by the watchdog, resuming from the last resourceVersion (no relist).
    const first = api.openWatch();
    clock.advance(60_000 + 15_000);
    assert.deepEqual(restarts, ['error', 'watchdog']);
    await until('the replacement watch', () => first?.closed === true && api.openWatch() !== undefined && api.openWatch() !== first);
    assert.equal(api.openWatch()?.query.get('resourceVersion'), '13');
    assert.equal(api.lists.length, 2);

    // 4. 410 Gone: relist; an object missing from the new list is deleted from the cache.
    api.listReplies.push({ status: 200, items: [cm('a', '12'), cm('c', '13')], rv: '20' });
    api.send('ERROR', { kind: 'Status', code: 410, message: 'too old resource version' });
    api.openWatch()?.res.end();
    await until('the relist', () => api.lists.length === 3 && inf.get('b', 'ns') === undefined);
    assert.ok(events.includes('delete b'));
    assert.equal(events.filter((e) => e === 'update a').length, 1, 'unchanged objects do not fire updates on relist');

    // 5. Resync replays the cache.
    events.length = 0;
    clock.advance(600_000);
    assert.deepEqual(events.sort(), ['resync a', 'resync c']);

    // 6. stop(): the AbortError of the cut watch must not look like a failure.
    await until('the watch after relist', () => api.openWatch()?.query.get('resourceVersion') === '20');
    const restartsBefore = restarts.length;
    await inf.stop();
    await until('the server to see the watch closed', () => api.openWatch() === undefined);
    clock.advance(10 * 60_000);
    assert.equal(restarts.length, restartsBefore);
    assert.equal(api.lists.length, 3);
    assert.equal(inf.healthy(), false);
  });

  it('caches listed and watched objects without managedFields or the last-applied annotation', async () => {
    const kc = new KubeConfig();
    kc.loadFromOptions({
      clusters: [{ name: 'f', server: api.url, skipTLSVerify: true }], users: [{ name: 'u' }],
      contexts: [{ name: 'c', cluster: 'f', user: 'u' }], currentContext: 'c',
    });
    const heavy = (name: string, rv: string, annotations: Record<string, string>): unknown => ({
      apiVersion: 'v1', kind: 'ConfigMap',
      metadata: {
        name, namespace: 'ns', resourceVersion: rv, annotations,
        managedFields: [{ manager: 'kubectl', operation: 'Apply', fieldsV1: { 'f:data': { 'f:k': {} } } }],
      },
      data: { k: rv },
    });
    const lastApplied = { [LAST_APPLIED_ANNOTATION]: '{"apiVersion":"v1","kind":"ConfigMap"}' };
    api.listReplies.push({ status: 200, items: [heavy('x', '30', { ...lastApplied, team: 'voice' }), heavy('y', '31', lastApplied)], rv: '31' });
    const inf = new Informer(kc, { resource: coreResource(kc, 'ConfigMap', 'ns'), logger: createLogger('t'), clock: new FakeClock() });
    inf.start();
    try {
      await inf.synced;
      await until('the watch', () => api.openWatch()?.query.get('resourceVersion') === '31');
      api.send('ADDED', heavy('z', '32', lastApplied));
      await until('the watch event', () => inf.get('z', 'ns') !== undefined);
      type Meta = { metadata: { managedFields?: unknown; annotations?: Record<string, string> }; data?: Record<string, string> };
      const x = inf.get('x', 'ns') as unknown as Meta;
      assert.equal(x.metadata.managedFields, undefined);
      assert.deepEqual(x.metadata.annotations, { team: 'voice' }, 'other annotations stay');
      assert.equal(x.data?.k, '30');
      for (const n of ['y', 'z']) {
        const o = inf.get(n, 'ns') as unknown as Meta;
        assert.equal(o.metadata.managedFields, undefined);
        assert.equal(o.metadata.annotations, undefined, 'an annotation map left empty is dropped');
      }
    } finally {
      await inf.stop();
    }
    assert.deepEqual(stripForCache({ apiVersion: 'v1', kind: 'X' }), { apiVersion: 'v1', kind: 'X' }, 'objects without metadata pass');
  });

  it('keeps the cached spec object while the generation is unchanged (shareUnchangedSpec)', async () => {
    const kc = new KubeConfig();
    kc.loadFromOptions({
      clusters: [{ name: 'f', server: api.url, skipTLSVerify: true }], users: [{ name: 'u' }],
      contexts: [{ name: 'c', cluster: 'f', user: 'u' }], currentContext: 'c',
    });
    type Obj = { metadata: { name: string; uid?: string; generation?: number }; spec?: { answerUrl: string }; status?: { n: number } };
    const obj = (rv: string, uid: string, generation: number, answerUrl: string, n: number): unknown => ({
      apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'app', namespace: 'ns', uid, generation, resourceVersion: rv }, spec: { answerUrl }, status: { n },
    });
    api.listReplies.push({ status: 200, items: [], rv: '40' });
    const inf = new Informer(kc, { resource: coreResource(kc, 'ConfigMap', 'ns'), logger: createLogger('t'), clock: new FakeClock(), shareUnchangedSpec: true });
    const olds: (Obj | undefined)[] = [];
    inf.on((ev) => { if (ev.type === 'update') olds.push(ev.old as unknown as Obj); });
    inf.start();
    try {
      await inf.synced;
      await until('the watch', () => api.openWatch()?.query.get('resourceVersion') === '40');
      const get = (): Obj => inf.get('app', 'ns') as unknown as Obj;
      api.send('ADDED', obj('41', 'u1', 1, 'https://a/1', 0));
      await until('add', () => get()?.metadata !== undefined);
      const spec1 = get().spec;
      api.send('MODIFIED', obj('42', 'u1', 1, 'https://a/1', 1));
      await until('status update', () => get().status?.n === 1);
      assert.equal(get().spec, spec1, 'same generation: the cached spec object is kept');
      assert.equal(olds[0]?.status?.n, 0, 'the update still carries the old object');
      api.send('MODIFIED', obj('43', 'u1', 2, 'https://a/2', 1));
      await until('spec update', () => get().metadata.generation === 2);
      assert.notEqual(get().spec, spec1);
      assert.equal(get().spec?.answerUrl, 'https://a/2');
      // Re-created under the same name while the watch missed the delete: a new uid never inherits the old spec.
      api.send('MODIFIED', obj('45', 'u2', 2, 'https://b/2', 0));
      await until('re-create', () => get()?.metadata.uid === 'u2');
      assert.equal(get().spec?.answerUrl, 'https://b/2');
    } finally {
      await inf.stop();
    }
  });
});
