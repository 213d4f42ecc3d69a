// The informers' list calls against a fake API server: custom resources are read page by page
// (the raw JSON's `continue` token is followed), and API requests share one keep-alive agent.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KubeConfig, RequestContext } from '@kubernetes/client-node';
import { createLogger, setLogSink } from '../log.js';
import { systemClock } from './clock.js';
import { Informer } from './informer.js';
import { loadKubeConfig } from './kubeconfig.js';
import { customResource } from './resources.js';

setLogSink(() => {});

const CRD = { group: 'sipflow.io', version: 'v1alpha1', plural: 'ipacls', kind: 'IpAcl' };

function acl(i: number): unknown {
  return { apiVersion: 'sipflow.io/v1alpha1', kind: 'IpAcl', metadata: { name: `acl-${i}`, namespace: 'ns', resourceVersion: String(10 + i) }, spec: { entries: [] } };
}

describe('custom resource lists', () => {
  let server: Server;
  let url = '';
  const lists: URLSearchParams[] = [];
  const ITEMS = 7;

  before(async () => {
    server = createServer((req, res) => {
      const u = new URL(req.url ?? '/', 'http://x');
      if (u.searchParams.get('watch') === 'true') {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.flushHeaders();
        return; // held open until the informer stops
      }
      lists.push(u.searchParams);
      const limit = Number(u.searchParams.get('limit') ?? ITEMS);
      const from = Number(u.searchParams.get('continue') ?? 0);
      const to = Math.min(ITEMS, from + limit);
      const items = Array.from({ length: to - from }, (_, k) => acl(from + k));
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ apiVersion: 'sipflow.io/v1alpha1', kind: 'IpAclList', metadata: { resourceVersion: '99', ...(to < ITEMS ? { continue: String(to) } : {}) }, items }));
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(async () => {
    server.closeAllConnections();
    await new Promise<void>((r) => server.close(() => r()));
  });

  function kubeConfig(): KubeConfig {
    const kc = new KubeConfig();
    kc.loadFromOptions({
      clusters: [{ name: 'fake', server: url, skipTLSVerify: true }],
      users: [{ name: 'u' }],
      contexts: [{ name: 'c', cluster: 'fake', user: 'u' }],
      currentContext: 'c',
    });
    return kc;
  }

  it('hands the pager the continue token of the raw JSON list', async () => {
    const res = await customResource(kubeConfig(), CRD).list({ limit: 3 });
    assert.equal(res.items.length, 3);
    assert.equal(res.metadata?._continue, '3');
    const next = await customResource(kubeConfig(), CRD).list({ limit: 3, continueToken: '3' });
    assert.equal(lists.at(-1)?.get('continue'), '3');
    assert.deepEqual(next.items.map((o) => o.metadata?.name), ['acl-3', 'acl-4', 'acl-5']);
  });

  it('an informer with a small page size caches every object, not just the first page', async () => {
    const kc = kubeConfig();
    const inf = new Informer(kc, { resource: customResource(kc, CRD), logger: createLogger('test'), clock: systemClock, pageSize: 2 });
    inf.start();
    try {
      await inf.synced;
      assert.deepEqual(inf.list().map((o) => o.metadata?.name).sort(), Array.from({ length: ITEMS }, (_, i) => `acl-${i}`).sort());
    } finally {
      await inf.stop();
    }
  });
});

describe('loadKubeConfig', () => {
  let dir = '';
  before(() => { dir = mkdtempSync(join(tmpdir(), 'sipflow-kc-')); });
  after(() => rmSync(dir, { recursive: true, force: true }));

  function write(name: string, server: string, token: string): string {
    const p = join(dir, name);
    writeFileSync(p, JSON.stringify({
      apiVersion: 'v1', kind: 'Config', 'current-context': 'c',
      clusters: [{ name: 'k', cluster: { server, 'insecure-skip-tls-verify': true } }],
      users: [{ name: 'u', user: { token } }],
      contexts: [{ name: 'c', context: { cluster: 'k', user: 'u' } }],
    }));
    return p;
  }

  it('gives every request of one identity the same keep-alive agent', async () => {
    const kc = loadKubeConfig(write('a.json', 'https://127.0.0.1:6443', 'token-a'));
    const ctx = (): RequestContext => new RequestContext('https://127.0.0.1:6443/api', 'GET' as never);
    const a = ctx();
    const b = ctx();
    await kc.applySecurityAuthentication(a);
    await kc.applySecurityAuthentication(b);
    const agent = a.getAgent();
    assert.ok(agent instanceof https.Agent);
    assert.equal(b.getAgent(), agent, 'the second request reuses the first one\'s agent');
    assert.equal((agent as https.Agent & { keepAlive?: boolean }).keepAlive, true);
    assert.equal(a.getHeaders().Authorization, 'Bearer token-a', 'authentication headers are still set per request');
  });
});
