/**
 * No secret leaves where it belongs: after a representative flow (digest calls with right and
 * wrong passwords, MD5 and SHA-256, a replay, a lockout, an app whose auth token signs its
 * callbacks and its stream upgrade), every captured log line, the pod's /metrics, the operator's
 * render output (contract files, ConfigMaps, condition/Event text) and what the callback and
 * WebSocket servers received are scanned for the passwords, their HA1 digests, every digest
 * response seen on the wire and the auth token.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseAllDocuments } from 'yaml';
import { COMMANDS } from '@sipflow/operator/cli/commands';
import { parseManifestText, render, toKubeObjects } from '@sipflow/operator/render/index';
import { startTestAnswerServer, type TestAnswerServer } from '../support/answer-server.js';
import { capturedLogs, startTestPod, type TestPod } from '../support/pod.js';
import { describeFindings, numbered, SecretScanner, type SecretFinding } from '../support/secret-scan.js';
import { buildAckForFailure, buildInvite, digestAuthorization, requestUri, UdpSipPeer, type SipReply } from '../support/sip-peer.js';
import { runSipp, type SippResult } from '../support/sipp.js';
import { startWsAgent, type WsAgent } from '../support/ws-agent.js';
import { TestUac } from '../media/uac.js';

const REALM = 'sip.test';
const USERS = { sam: 'Sam-Secret-Passw0rd-81', tina: 'Tina-Secret-Passw0rd-27' } as const;
const TOKEN = 'scan-auth-token-0f1e2d3c4b5a69788796a5b4';

let answer: TestAnswerServer;
let agent: WsAgent;
let pod: TestPod;
let manifests = '';
const traces: string[] = [];
const sentAuthorizations: string[] = [];

before(async () => {
  answer = await startTestAnswerServer();
  agent = await startWsAgent();
  answer.route('/cred/answer', '<Response><DTMF>1</DTMF><Wait length="5"/></Response>');
  answer.route('/signed/answer', `<Response><Stream bidirectional="true" keepCallAlive="true" contentType="audio/x-mulaw;rate=8000" statusCallbackUrl="${answer.url}/signed/status">${agent.baseUrl}/agent?token=none</Stream></Response>`);
  manifests = `
apiVersion: sipflow.io/v1alpha1
kind: IpAcl
metadata: { name: loopback, namespace: default }
spec: { entries: [{ ip: 127.0.0.0, cidrPrefix: 8 }] }
---
apiVersion: v1
kind: Secret
metadata: { name: sip-passwords, namespace: default }
type: Opaque
stringData: { sam: ${USERS.sam}, tina: ${USERS.tina} }
---
apiVersion: v1
kind: Secret
metadata: { name: signing, namespace: default }
type: Opaque
stringData: { auth-token: ${TOKEN} }
---
apiVersion: sipflow.io/v1alpha1
kind: SipCredential
metadata: { name: sam, namespace: default }
spec: { username: sam, passwordSecretRef: { name: sip-passwords, key: sam } }
---
apiVersion: sipflow.io/v1alpha1
kind: SipCredential
metadata: { name: tina, namespace: default }
spec: { username: tina, passwordSecretRef: { name: sip-passwords, key: tina } }
---
apiVersion: sipflow.io/v1alpha1
kind: SipApplication
metadata: { name: cred, namespace: default }
spec:
  answerUrl: ${answer.url}/cred/answer
  hangupUrl: ${answer.url}/cred/hangup
  authTokenSecretRef: { name: signing, key: auth-token }
  sipAuth: { type: IpAclAndCredential, ipAclRefs: [{ name: loopback }], credentialRefs: [{ name: sam }, { name: tina }] }
---
apiVersion: sipflow.io/v1alpha1
kind: SipApplication
metadata: { name: signed, namespace: default }
spec:
  answerUrl: ${answer.url}/signed/answer
  hangupUrl: ${answer.url}/signed/hangup
  authTokenSecretRef: { name: signing, key: auth-token }
  sipAuth: { type: IpAcl, ipAclRefs: [{ name: loopback }] }
`;
  pod = await startTestPod({ manifests, extraArgs: ['--lockout-threshold', '3'] });
});

after(async () => {
  await pod.stop();
  await agent.close();
  await answer.close();
});

function sipp(scenario: string, user: keyof typeof USERS, password: string, calls = 1): Promise<SippResult> {
  return runSipp({
    scenario, service: 'cred', target: `127.0.0.1:${pod.sipPort}`, calls, rate: 10, timeoutSec: 20, traceMessages: true,
    args: ['-l', '1', '-au', user, '-ap', password, '-auth_uri', `cred@127.0.0.1:${pod.sipPort}`, '-d', '300'],
  });
}

/** A challenge, then one digest answer with `algorithm`, from `peer`. */
async function rawDigest(peer: UdpSipPeer, user: string, password: string, algorithm: 'MD5' | 'SHA-256'): Promise<SipReply> {
  const send = async (auth?: string): Promise<SipReply> => {
    const inv = buildInvite({ user: 'cred', podPort: pod.sipPort, localAddress: peer.address, localPort: peer.port, ...(auth ? { proxyAuthorization: auth } : {}) });
    await peer.send(inv.text, pod.sipPort);
    const r = await peer.waitFor(inv.callId, undefined, 10_000);
    await peer.send(buildAckForFailure({ user: 'cred', podPort: pod.sipPort, localAddress: peer.address, localPort: peer.port, callId: inv.callId, branch: inv.branch, fromTag: inv.fromTag, toHeader: r.headers.get('to') ?? '' }), pod.sipPort);
    return r;
  };
  const challenge = await send();
  const offer = challenge.challenges.find((c) => c.includes(`algorithm=${algorithm}`));
  assert.ok(offer, `a ${algorithm} challenge`);
  const ha1 = createHash(algorithm === 'MD5' ? 'md5' : 'sha256').update(`${user}:${REALM}:${password}`).digest('hex');
  const { header } = digestAuthorization({ challenge: offer, username: user, ha1, uri: requestUri('cred', pod.sipPort) });
  sentAuthorizations.push(header);
  return send(header);
}

test('representative flow: right and wrong passwords, MD5 and SHA-256, a lockout, a signed app with a stream', async () => {
  const good = await sipp('uac-auth-call.xml', 'sam', USERS.sam, 2);
  assert.equal(good.successful, 2, good.errors);
  traces.push(good.messages);
  const bad = await sipp('uac-auth-rejected.xml', 'tina', 'Not-Tinas-Passw0rd', 2);
  assert.equal(bad.successful, 2, bad.errors);
  traces.push(bad.messages);

  const peer = await UdpSipPeer.bind('127.0.0.7');
  try {
    // SHA-256 with a wrong password, then three wrong MD5 answers: the third locks 127.0.0.7 out.
    assert.equal((await rawDigest(peer, 'tina', 'Wrong-Sha-Passw0rd', 'SHA-256')).status, 403);
    assert.equal((await rawDigest(peer, 'sam', 'Wrong-Md5-Passw0rd', 'MD5')).reason, 'Forbidden - Bad Credentials');
    assert.equal((await rawDigest(peer, 'sam', 'Wrong-Md5-Passw0rd-2', 'MD5')).reason, 'Forbidden - Locked Out');
  } finally { peer.close(); }
  const peer2 = await UdpSipPeer.bind('127.0.0.8');
  try {
    // The right password over SHA-256: past auth (the call is then answered and left to the pod's shutdown).
    const ok = await rawDigest(peer2, 'tina', USERS.tina, 'SHA-256');
    assert.equal(ok.status, 200);
  } finally { peer2.close(); }

  const uac = await TestUac.start();
  try {
    const connecting = agent.nextConnection(15_000);
    assert.equal((await uac.invite(pod.sipPort, 'signed')).status, 200);
    uac.startSending(() => Buffer.alloc(160, 0xff));
    const conn = await connecting;
    assert.ok(conn.headers['x-plivo-signature-v3'], 'the stream upgrade is signed');
    await conn.waitForEvent('start');
    conn.close(1000, 'done');
    await uac.byeFromPod(15_000);
  } finally { uac.close(); }
  const hang = await answer.waitFor('/signed/hangup');
  assert.ok(hang.headers['x-plivo-signature-v3'], 'the hangup callback is signed');
  await answer.waitFor('/signed/status', (r) => r.params.Event === 'StopStream');
});

/** The operator's offline render of the same manifests: CLI output lines, contract files, objects.yaml. */
async function operatorRender(): Promise<{ texts: Array<[string, string]>; credentialShardTexts: string[] }> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sipflow-scan-'));
  const input = path.join(dir, 'in');
  const out = path.join(dir, 'out');
  fs.mkdirSync(input);
  fs.writeFileSync(path.join(input, 'manifests.yaml'), manifests);
  const lines: string[] = [];
  const renderCmd = COMMANDS.render;
  assert.ok(renderCmd);
  const code = await renderCmd.run(['--manifests', input, '--out', out, '--sip-domain', REALM], { out: (l) => lines.push(l), err: (l) => lines.push(l) });
  assert.equal(code, 0, lines.join('\n'));
  const texts: Array<[string, string]> = numbered('operator render output line', lines);
  const credentialShardTexts: string[] = [];
  for (const f of fs.readdirSync(out)) {
    const text = fs.readFileSync(path.join(out, f), 'utf8');
    if (/^sipflow-credentials-\d+\.json$/.test(f)) { credentialShardTexts.push(text); continue; }
    if (f === 'objects.yaml') {
      for (const doc of parseAllDocuments(text)) {
        const o = doc.toJS() as { kind?: string; metadata?: unknown; data?: Record<string, string> };
        // The credential Secret's data is the HA1 shard by design; its metadata and every ConfigMap are not secret.
        texts.push([`objects.yaml ${o.kind} metadata`, JSON.stringify(o.metadata)]);
        if (o.kind === 'ConfigMap') texts.push([`objects.yaml ConfigMap data`, JSON.stringify(o.data)]);
      }
      continue;
    }
    texts.push([`contract file ${f}`, text]);
  }
  fs.rmSync(dir, { recursive: true, force: true });

  // The same through the library: ConfigMaps as applied, and the per-object messages conditions and Events carry.
  const set = parseManifestText(manifests, 'manifests.yaml');
  const result = render({ objects: set.docs.map((d) => d.object), sipDomain: REALM });
  for (const o of toKubeObjects(result, 'sipflow-system')) {
    if (o.kind === 'ConfigMap') texts.push([`ConfigMap ${o.metadata.name}`, JSON.stringify(o)]);
    else texts.push([`${o.kind} ${o.metadata.name} metadata`, JSON.stringify(o.metadata)]);
  }
  for (const r of result.results) texts.push([`condition/Event text of ${r.kind} ${r.name}`, `${r.reason}: ${r.message}`]);
  return { texts, credentialShardTexts };
}

test('no password, HA1, digest response or auth token in logs, /metrics, rendered ConfigMaps, condition/Event text or what peers received', async () => {
  const scanner = new SecretScanner();
  for (const [username, password] of Object.entries(USERS)) scanner.addPassword({ username, realm: REALM, password });
  for (const wrong of ['Not-Tinas-Passw0rd', 'Wrong-Sha-Passw0rd', 'Wrong-Md5-Passw0rd', 'Wrong-Md5-Passw0rd-2']) scanner.add('a wrong password tried', wrong);
  scanner.addToken('of apps cred and signed', TOKEN);
  const responses = traces.reduce((n, t) => n + scanner.addDigestResponsesFrom(t, 'sipp digest response'), 0)
    + sentAuthorizations.reduce((n, a) => n + scanner.addDigestResponsesFrom(a, 'raw digest response'), 0);
  assert.ok(responses >= 6, `${responses} digest responses collected from the wire`);

  // The scanner works: it finds what is where it belongs.
  assert.ok(scanner.scan('sipp trace', traces[0]!).some((f) => f.secret.startsWith('sipp digest response')), 'positive control: responses are in the sipp trace');
  const rendered = await operatorRender();
  assert.ok(rendered.credentialShardTexts.some((t) => scanner.scan('credential shard', t).some((f) => f.secret.startsWith('HA1 MD5 of sam'))), 'positive control: the HA1 is in the credential shard');
  assert.ok(rendered.credentialShardTexts.every((t) => scanner.scan('credential shard', t).every((f) => !f.secret.startsWith('password'))), 'the credential shard holds digests, never a password');

  const logs = capturedLogs();
  // The flow was logged (refusals, the lockout, the stream), so there is something to scan.
  const msgs = new Set(pod.logs().map((l) => l.msg));
  for (const m of ['challenge sent', 'request rejected', 'source locked out', 'call accepted', 'stream started', 'call ended']) assert.ok(msgs.has(m), `a "${m}" line was logged`);
  const metrics = await (await fetch(`http://127.0.0.1:${pod.httpPort}/metrics`)).text();
  assert.match(metrics, /sipflow_auth_failures_total/);
  const peersSaw: Array<[string, string]> = [
    ...answer.requests.map((r, i): [string, string] => [`callback request ${i + 1} (${r.path})`, JSON.stringify({ params: r.params, headers: r.headers })]),
    ...agent.connections.map((c, i): [string, string] => [`stream upgrade ${i + 1}`, JSON.stringify({ path: c.path, headers: c.headers, frames: c.messages.map((m) => m.raw) })]),
  ];
  const findings: SecretFinding[] = scanner.scanAll([
    ...numbered('log line', logs),
    ['/metrics', metrics],
    ...rendered.texts,
    ...peersSaw,
  ]);
  assert.equal(findings.length, 0, `secrets found:\n${describeFindings(findings)}`);
});
