import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { validateV3Signature } from 'plivo/dist/utils/v3Security.js';
import { FakeClock } from '../clock.js';
import { AnswerUrlClient } from './answerUrlClient.js';
import { parseUrlTimeouts } from './transport.js';

const XML = '<?xml version="1.0" encoding="UTF-8"?><Response><Speak>hi</Speak></Response>';
const PARAMS = { CallUUID: 'c0a8-1', From: '14155551234', To: 'sip:bot@example.com', CallerName: 'Zoë +1', 'X-PH-Tenant': 'a1' };
const TOKEN = 'test-token-0123456789';

interface Seen { method: string; url: string; headers: http.IncomingHttpHeaders; body: string }
type Handler = (req: http.IncomingMessage, res: http.ServerResponse, body: string, n: number) => void;

/** A loopback HTTP server the test controls; records every request it sees. */
async function withServer(handler: Handler, fn: (base: string, seen: Seen[]) => Promise<void>): Promise<void> {
  const seen: Seen[] = [];
  const server = http.createServer((req, res) => {
    res.on('error', () => { /* client aborted */ });
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString();
      seen.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body });
      handler(req, res, body, seen.length);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  try {
    await fn(`http://127.0.0.1:${port}`, seen);
  } finally {
    server.closeAllConnections();
    await new Promise<void>((r) => server.close(() => r()));
  }
}

const xmlReply: Handler = (_q, res) => { res.writeHead(200, { 'Content-Type': 'text/xml' }); res.end(`\n  ${XML}\n`); };

test('parseUrlTimeouts: defaults, clamping, fragment stripped', () => {
  assert.deepEqual(parseUrlTimeouts('https://x/a'), { url: 'https://x/a', timeouts: { connectMs: 2000, readMs: 40000 } });
  assert.deepEqual(parseUrlTimeouts('https://x/a?q=1#ct=500&rt=1500'), { url: 'https://x/a?q=1', timeouts: { connectMs: 500, readMs: 1500 } });
  assert.deepEqual(parseUrlTimeouts('https://x/a#ct=5&rt=99999').timeouts, { connectMs: 100, readMs: 40000 });
  assert.deepEqual(parseUrlTimeouts('https://x/a#ct=abc&tt=3').timeouts, { connectMs: 2000, readMs: 40000 });
});

test('GET: params in the query string, fragment stripped, signature valid for Plivo SDK', async () => {
  await withServer(xmlReply, async (base, seen) => {
    const client = new AnswerUrlClient();
    try {
      const r = await client.fetchXml({ url: `${base}/answer?app=demo#ct=1000&rt=5000`, method: 'GET', params: PARAMS, authToken: TOKEN, purpose: 'answer' });
      assert.equal(r.ok, true);
      assert.ok(r.ok && r.xml === XML && r.status === 200 && r.attempts === 1 && r.url === `${base}/answer?app=demo`);
      const s = seen[0]!;
      assert.equal(s.method, 'GET');
      assert.equal(s.body, '');
      const q = new URL(s.url, base).searchParams;
      assert.equal(q.get('app'), 'demo');
      for (const [k, v] of Object.entries(PARAMS)) assert.equal(q.get(k), v, k);
      assert.ok(!s.url.includes('#') && !s.url.includes('ct='));
      const sig = String(s.headers['x-plivo-signature-v3']);
      const nonce = String(s.headers['x-plivo-signature-v3-nonce']);
      assert.equal(validateV3Signature('GET', base + s.url, nonce, TOKEN, sig, {}), true);
      assert.equal(validateV3Signature('GET', base + s.url, nonce, 'other-token', sig, {}), false);
    } finally { client.close(); }
  });
});

test('POST: form-encoded body, signature valid for Plivo SDK, unsigned without a token', async () => {
  await withServer(xmlReply, async (base, seen) => {
    const client = new AnswerUrlClient();
    try {
      const r = await client.fetchXml({ url: `${base}/answer?v=2`, method: 'POST', params: PARAMS, authToken: TOKEN, purpose: 'answer' });
      assert.equal(r.ok, true);
      const s = seen[0]!;
      assert.equal(s.method, 'POST');
      assert.equal(s.headers['content-type'], 'application/x-www-form-urlencoded');
      const form = Object.fromEntries(new URLSearchParams(s.body));
      assert.deepEqual(form, PARAMS);
      assert.equal(s.url, '/answer?v=2');
      assert.equal(validateV3Signature('POST', base + s.url, String(s.headers['x-plivo-signature-v3-nonce']), TOKEN, String(s.headers['x-plivo-signature-v3']), form), true);
      await client.fetchXml({ url: `${base}/answer`, method: 'POST', params: PARAMS, purpose: 'answer' });
      assert.equal(seen[1]!.headers['x-plivo-signature-v3'], undefined);
    } finally { client.close(); }
  });
});

test('read timeout from the fragment: a server that never answers → read_timeout after one retry', async () => {
  await withServer(() => { /* never respond */ }, async (base, seen) => {
    const client = new AnswerUrlClient();
    try {
      const r = await client.fetchXml({ url: `${base}/slow#rt=200`, method: 'POST', params: PARAMS, purpose: 'answer' });
      assert.equal(r.ok, false);
      assert.ok(!r.ok && r.cause === 'read_timeout' && r.attempts === 2 && r.retriedAfter === 'read_timeout');
      assert.equal(seen.length, 2);
    } finally { client.close(); }
  });
});

test('closed port → refused', async () => {
  const s = http.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const { port } = s.address() as AddressInfo;
  await new Promise<void>((r) => s.close(() => r()));
  const client = new AnswerUrlClient();
  try {
    const r = await client.fetchXml({ url: `http://127.0.0.1:${port}/answer`, method: 'GET', params: PARAMS, purpose: 'answer' });
    assert.ok(!r.ok && r.cause === 'refused' && r.attempts === 2, JSON.stringify(r));
  } finally { client.close(); }
});

test('connect timeout (driven by a fake clock) is retried once', async () => {
  await withServer(xmlReply, async (base) => {
    const clock = new FakeClock();
    const client = new AnswerUrlClient({ clock });
    try {
      const p = client.fetchXml({ url: `${base}/answer#ct=300`, method: 'GET', params: PARAMS, purpose: 'answer' });
      // The first attempt's connect timer exists synchronously; firing it before any I/O is a connect timeout.
      clock.advance(300);
      const r = await p;
      assert.ok(r.ok && r.attempts === 2 && r.retriedAfter === 'connect_timeout', JSON.stringify(r));
    } finally { client.close(); }
  });
});

test('one retry: a server that fails once then succeeds', async () => {
  await withServer((_q, res, _b, n) => {
    if (n === 1) { res.writeHead(503); res.end('busy'); } else xmlReply(_q, res, _b, n);
  }, async (base, seen) => {
    const client = new AnswerUrlClient();
    try {
      const r = await client.fetchXml({ url: `${base}/answer`, method: 'POST', params: PARAMS, purpose: 'answer' });
      assert.ok(r.ok && r.attempts === 2 && r.retriedAfter === 'http_status');
      assert.equal(seen.length, 2);
    } finally { client.close(); }
  });
});

test('500 twice → http_status; 404 is not retried', async () => {
  await withServer((q, res) => { res.writeHead(q.url?.startsWith('/missing') ? 404 : 500); res.end(); }, async (base, seen) => {
    const client = new AnswerUrlClient();
    try {
      const r = await client.fetchXml({ url: `${base}/boom`, method: 'POST', params: PARAMS, purpose: 'answer' });
      assert.ok(!r.ok && r.cause === 'http_status' && r.status === 500 && r.attempts === 2);
      const m = await client.fetchXml({ url: `${base}/missing`, method: 'POST', params: PARAMS, purpose: 'answer' });
      assert.ok(!m.ok && m.cause === 'http_status' && m.status === 404 && m.attempts === 1);
      assert.equal(seen.length, 3);
    } finally { client.close(); }
  });
});

test('10 MB body → too_large (declared and chunked)', async () => {
  const chunk = Buffer.alloc(64 * 1024, 0x61);
  await withServer((q, res) => {
    const declared = q.url === '/declared';
    res.writeHead(200, declared ? { 'Content-Type': 'text/xml', 'Content-Length': String(160 * chunk.length) } : { 'Content-Type': 'text/xml' });
    let i = 0;
    const write = (): void => {
      while (i < 160 && !res.destroyed) { i++; if (!res.write(chunk)) { res.once('drain', write); return; } }
      if (!res.destroyed) res.end();
    };
    write();
  }, async (base) => {
    const client = new AnswerUrlClient();
    try {
      for (const path of ['/declared', '/chunked']) {
        const r = await client.fetchXml({ url: `${base}${path}`, method: 'GET', params: {}, purpose: 'answer' });
        assert.ok(!r.ok && r.cause === 'too_large' && r.attempts === 1, `${path}: ${JSON.stringify(r)}`);
      }
    } finally { client.close(); }
  });
});

test('redirects: followed (302 turns POST into GET with params), loops reported', async () => {
  await withServer((q, res) => {
    if (q.url?.startsWith('/loop')) { res.writeHead(302, { Location: '/loop' }); res.end(); return; }
    if (q.url?.startsWith('/old')) { res.writeHead(302, { Location: '/new?x=1' }); res.end(); return; }
    if (q.url?.startsWith('/keep')) { res.writeHead(307, { Location: '/new' }); res.end(); return; }
    xmlReply(q, res, '', 0);
  }, async (base, seen) => {
    const client = new AnswerUrlClient({ maxRedirects: 5 });
    try {
      const r = await client.fetchXml({ url: `${base}/old`, method: 'POST', params: PARAMS, authToken: TOKEN, purpose: 'redirect' });
      assert.ok(r.ok && r.url === `${base}/new?x=1`);
      const hop = seen[1]!;
      assert.equal(hop.method, 'GET');
      assert.equal(new URL(hop.url, base).searchParams.get('CallUUID'), PARAMS.CallUUID);
      assert.equal(validateV3Signature('GET', base + hop.url, String(hop.headers['x-plivo-signature-v3-nonce']), TOKEN, String(hop.headers['x-plivo-signature-v3']), {}), true);
      const k = await client.fetchXml({ url: `${base}/keep`, method: 'POST', params: PARAMS, purpose: 'redirect' });
      assert.ok(k.ok);
      assert.equal(seen[3]!.method, 'POST');
      assert.deepEqual(Object.fromEntries(new URLSearchParams(seen[3]!.body)), PARAMS);
      const before = seen.length;
      const l = await client.fetchXml({ url: `${base}/loop`, method: 'GET', params: {}, purpose: 'answer' });
      assert.ok(!l.ok && l.cause === 'redirect_loop' && l.attempts === 1);
      assert.equal(seen.length - before, 6, 'initial request + 5 followed redirects');
    } finally { client.close(); }
  });
});

test('non-XML and empty bodies → bad_content; bad URLs → bad_url', async () => {
  await withServer((q, res) => { res.writeHead(200, { 'Content-Type': 'text/html' }); res.end(q.url === '/empty' ? '  ' : 'hello'); }, async (base) => {
    const client = new AnswerUrlClient();
    try {
      const a = await client.fetchXml({ url: `${base}/text`, method: 'GET', params: {}, purpose: 'answer' });
      assert.ok(!a.ok && a.cause === 'bad_content');
      const b = await client.fetchXml({ url: `${base}/empty`, method: 'GET', params: {}, purpose: 'answer' });
      assert.ok(!b.ok && b.cause === 'bad_content');
      const c = await client.fetchXml({ url: 'ftp://127.0.0.1/x', method: 'GET', params: {}, purpose: 'answer' });
      assert.ok(!c.ok && c.cause === 'bad_url');
      const d = await client.fetchXml({ url: 'not a url', method: 'GET', params: {}, purpose: 'answer' });
      assert.ok(!d.ok && d.cause === 'bad_url');
    } finally { client.close(); }
  });
});

test('fetchAnswer: fallback with the same params; both failing → 7011; invalid XML → 8011', async () => {
  await withServer((q, res, body) => {
    if (q.url?.startsWith('/down')) { res.writeHead(500); res.end(); return; }
    if (q.url?.startsWith('/bad')) { res.writeHead(200); res.end('<Response><Oops/></Response>'); return; }
    void body;
    xmlReply(q, res, '', 0);
  }, async (base, seen) => {
    const client = new AnswerUrlClient();
    const app = (answerUrl: string, fallbackAnswerUrl?: string) => ({
      appId: 'app1', answerUrl: `${base}${answerUrl}`, answerMethod: 'POST' as const, fallbackMethod: 'GET' as const,
      ...(fallbackAnswerUrl ? { fallbackAnswerUrl: `${base}${fallbackAnswerUrl}` } : {}),
    });
    const validateXml = (x: string): string | undefined => (x.includes('<Oops/>') ? 'unknown element Oops' : undefined);
    try {
      const ok = await client.fetchAnswer(app('/down', '/fb'), PARAMS, { validateXml });
      assert.ok(ok.ok && ok.source === 'fallback' && ok.primaryFailure?.cause === 'http_status');
      const fb = seen.find((s) => s.url.startsWith('/fb'))!;
      assert.equal(fb.method, 'GET');
      assert.deepEqual(Object.fromEntries(new URL(fb.url, base).searchParams), PARAMS);

      const both = await client.fetchAnswer(app('/down', '/down2'), PARAMS);
      assert.ok(!both.ok && both.hangupCauseCode === 7011 && both.primary.cause === 'http_status' && both.fallback?.cause === 'http_status');

      const none = await client.fetchAnswer(app('/down'), PARAMS);
      assert.ok(!none.ok && none.hangupCauseCode === 7011 && none.fallback === undefined);

      const invalid = await client.fetchAnswer(app('/bad', '/bad2'), PARAMS, { validateXml });
      assert.ok(!invalid.ok && invalid.hangupCauseCode === 8011 && invalid.cause === 'invalid_xml');

      const rescued = await client.fetchAnswer(app('/bad', '/good'), PARAMS, { validateXml });
      assert.ok(rescued.ok && rescued.source === 'fallback' && rescued.primaryFailure?.cause === 'invalid_xml');
    } finally { client.close(); }
  });
});
