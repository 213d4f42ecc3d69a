/**
 * The parser fuzz corpora replayed through a REAL media pod over the network: every SIP corpus
 * message sent over UDP and over TCP (one connection each), every XML corpus document served as
 * a call's answer XML. The pod must refuse what the corpus says to refuse, with the status the
 * corpus expects, and stay up: it still answers OPTIONS on both transports afterwards.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import net, { type AddressInfo } from 'node:net';
import path from 'node:path';
import { startTestAnswerServer, type TestAnswerServer } from '../support/answer-server.js';
import { startTestPod, type TestPod } from '../support/pod.js';
import { repoRoot } from '../support/repo.js';
import { buildOptions, parseReply, UdpSipPeer } from '../support/sip-peer.js';
import { metricValue } from '../support/sip-trace.js';
import { TestUac } from '../media/uac.js';
import { loopbackAppManifests } from '../support/manifests.js';

const SIP_DIR = path.join(repoRoot(), 'media-pod', 'testdata', 'sip-corpus');
const XML_DIR = path.join(repoRoot(), 'media-pod', 'testdata', 'xml-corpus');
/** The largest UDP payload IPv4 can carry; bigger corpus files cannot even be sent. */
const MAX_UDP_PAYLOAD = 65_507;

interface SipExpectation { verdict: 'ok' | 'respond' | 'drop'; status?: number }
interface XmlEntry { file: string; verdict: 'ok' | 'error'; stringVerdict?: 'ok' | 'error' }

const sipExpected = JSON.parse(fs.readFileSync(path.join(SIP_DIR, 'expected.json'), 'utf8')) as Record<string, SipExpectation>;
const sipFiles = fs.readdirSync(SIP_DIR).filter((f) => f.endsWith('.sip')).sort();
const xmlManifest = JSON.parse(fs.readFileSync(path.join(XML_DIR, 'manifest.json'), 'utf8')) as XmlEntry[];

let answer: TestAnswerServer;
let docs: { url: string; serve(body: Buffer): void; close(): Promise<void> };
let pod: TestPod;
let deadPort = 0;

/** Serves one document's exact bytes at /doc (the answer server works in strings). */
async function startDocServer(): Promise<typeof docs> {
  let current: Buffer = Buffer.alloc(0);
  const server = http.createServer((req, res) => {
    req.resume();
    res.writeHead(200, { 'content-type': 'application/xml', 'content-length': current.length });
    res.end(current);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    serve(body) { current = body; },
    close: () => new Promise((resolve) => { server.closeAllConnections(); server.close(() => resolve()); }),
  };
}

before(async () => {
  answer = await startTestAnswerServer();
  docs = await startDocServer();
  deadPort = await new Promise<number>((resolve) => {
    const s = net.createServer();
    s.listen(0, '127.0.0.1', () => { const p = (s.address() as AddressInfo).port; s.close(() => resolve(p)); });
  });
  pod = await startTestPod({ manifests: loopbackAppManifests('corpus', `${docs.url}/doc`, `${answer.url}/hangup`) });
});

after(async () => {
  await pod.stop();
  await docs.close();
  await answer.close();
});

async function optionsOverUdp(): Promise<number> {
  const peer = await UdpSipPeer.bind('127.0.0.1');
  try {
    const callId = `options-${Date.now()}-${Math.random()}`;
    await peer.send(buildOptions({ podPort: pod.sipPort, localAddress: '127.0.0.1', localPort: peer.port, callId }), pod.sipPort);
    return (await peer.waitFor(callId)).status;
  } finally { peer.close(); }
}

/** Writes `bytes` on a fresh TCP connection; resolves with the responses read before `quietMs` of silence or the close. */
function overTcp(bytes: Buffer, quietMs = 1500): Promise<{ statuses: number[]; closedByPod: boolean }> {
  return new Promise((resolve) => {
    const sock = net.connect(pod.sipPort, '127.0.0.1');
    let data = '';
    let closedByPod = false;
    let timer = setTimeout(finish, quietMs);
    function finish(): void {
      clearTimeout(timer);
      sock.destroy();
      const statuses = data.split(/(?=SIP\/2\.0 \d{3} )/).map((m) => parseReply(m)?.status).filter((s): s is number => s !== undefined);
      resolve({ statuses, closedByPod });
    }
    sock.on('connect', () => sock.write(bytes));
    sock.on('data', (d: Buffer) => { data += d.toString('latin1'); clearTimeout(timer); timer = setTimeout(finish, 300); });
    sock.on('end', () => { closedByPod = true; finish(); });
    sock.on('close', () => { closedByPod = true; finish(); });
    sock.on('error', () => { /* close follows */ });
  });
}

test('the SIP corpus over UDP: every message sent, the malformed ones counted, the pod still answers OPTIONS', async () => {
  assert.ok(sipFiles.length >= 50, `corpus has ${sipFiles.length} messages`);
  const before = await pod.metrics();
  const peer = await UdpSipPeer.bind('127.0.0.1');
  let sent = 0;
  const tooBig: string[] = [];
  try {
    for (const f of sipFiles) {
      const bytes = fs.readFileSync(path.join(SIP_DIR, f));
      if (bytes.length > MAX_UDP_PAYLOAD) {
        await assert.rejects(peer.send(bytes, pod.sipPort), /EMSGSIZE/, `${f} cannot go in one datagram`);
        tooBig.push(f);
        continue;
      }
      await peer.send(bytes, pod.sipPort);
      sent++;
    }
  } finally { peer.close(); }
  assert.deepEqual(tooBig, ['drop-too-large.sip']);
  assert.equal(await optionsOverUdp(), 200);
  const refused = sipFiles.filter((f) => !tooBig.includes(f) && sipExpected[f] && sipExpected[f].verdict !== 'ok').length;
  const malformed = metricValue(await pod.metrics(), 'sipflow_sip_rejections_total', { cause: 'malformed' }) - metricValue(before, 'sipflow_sip_rejections_total', { cause: 'malformed' });
  // Empty and CRLF-only datagrams are keep-alives, not messages: not counted.
  assert.ok(malformed >= refused - 2 && malformed <= sent, `${malformed} counted malformed of ${refused} refusals expected (${sent} sent)`);
  assert.ok(pod.logs().filter((l) => l.msg === 'malformed SIP message' && l.transport === 'udp').length >= refused - 2);
});

test('the SIP corpus over TCP: each refusal gets the status the corpus expects on its own connection, the oversized one is cut', async () => {
  const results = await Promise.all(sipFiles.map(async (f) => ({ f, r: await overTcp(fs.readFileSync(path.join(SIP_DIR, f))) })));
  let matched = 0;
  for (const { f, r } of results) {
    const exp = sipExpected[f];
    if (!exp) continue;
    if (exp.verdict === 'respond' && r.statuses.length > 0) {
      assert.equal(r.statuses[0], exp.status, `${f}: got ${r.statuses.join(',')}`);
      matched++;
    }
    if (exp.verdict === 'drop') assert.ok(r.statuses.every((s) => s >= 400), `${f}: a dropped message got ${r.statuses.join(',')}`);
  }
  const respondable = Object.values(sipExpected).filter((e) => e.verdict === 'respond').length;
  // Over TCP a few refusals never complete a frame (a Content-Length beyond the bytes sent waits for the rest).
  assert.ok(matched >= respondable - 4, `${matched} of ${respondable} refusals answered with the expected status`);
  const huge = results.find((x) => x.f === 'drop-too-large.sip');
  assert.ok(huge?.r.closedByPod, 'the 70 KB message got its connection cut');
  assert.deepEqual(huge.r.statuses, []);
  const tcp = await overTcp(Buffer.from(buildOptions({ podPort: pod.sipPort, localAddress: '127.0.0.1', localPort: 5060, callId: 'tcp-options-after-corpus', transport: 'TCP' })));
  assert.deepEqual(tcp.statuses, [200]);
  assert.equal(await optionsOverUdp(), 200);
});

/** Corpus documents that are only wrong because of leading whitespace, which the answer-URL client trims. */
const TRIMMED_VALID = new Set(['xml-decl-not-first.xml']);

/** Points every absolute URL at a closed loopback port, so valid documents never reach beyond this machine. */
function loopbackOnly(xml: Buffer): Buffer {
  return Buffer.from(xml.toString('latin1').replace(/\b(wss?|https?):\/\/[A-Za-z0-9.-]+(?::\d+)?/g, `$1://127.0.0.1:${deadPort}`), 'latin1');
}

test('the XML corpus as answer XML: hostile documents end the call before answer with 500 and 8011, valid ones run, the pod stays up', async () => {
  assert.ok(xmlManifest.length >= 40);
  const uacs: TestUac[] = [];
  try {
    for (const entry of xmlManifest) {
      // The pod decodes the body as UTF-8 leniently before parsing (the corpus's stringVerdict), and
      // trims it as Plivo does, which makes a declaration after a blank first line legal again.
      const verdict = TRIMMED_VALID.has(entry.file) ? 'ok' : entry.stringVerdict ?? entry.verdict;
      const raw = fs.readFileSync(path.join(XML_DIR, entry.file));
      docs.serve(verdict === 'ok' ? loopbackOnly(raw) : raw);
      const uac = await TestUac.start();
      uacs.push(uac);
      const final = await uac.invite(pod.sipPort, 'corpus', { timeoutMs: 20_000 });
      const accepted = pod.logs().find((l) => l.msg === 'call accepted' && l.callId === uac.callId);
      assert.ok(accepted, `${entry.file}: call accepted`);
      const callUuid = String(accepted.callUuid);
      if (verdict === 'error') {
        assert.equal(final.status, 500, `${entry.file}: ${final.status} ${final.reason}`);
        assert.equal(final.reason, 'Invalid Answer XML', entry.file);
      } else {
        assert.ok(final.status === 200 || final.status === 480, `${entry.file}: ${final.status} ${final.reason}`);
        if (final.status === 200) await uac.bye().catch(() => undefined);
      }
      const hang = await answer.waitFor('/hangup', (r) => r.params.CallUUID === callUuid, 20_000);
      if (verdict === 'error') assert.equal(hang.params.HangupCauseCode, '8011', entry.file);
      else assert.notEqual(hang.params.HangupCauseCode, '8011', entry.file);
      uac.close();
    }
  } finally {
    for (const u of uacs) u.close();
  }
  assert.equal(await optionsOverUdp(), 200);
  assert.equal(metricValue(await pod.metrics(), 'sipflow_calls_active'), 0);
});
