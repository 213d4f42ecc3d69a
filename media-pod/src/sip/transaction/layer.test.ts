// Transaction behaviour driven by a FakeClock over the in-memory transport: retransmission
// absorption, response retransmit schedules, Timers G/H/I/J/E/F/K, CANCEL, 2xx until ACK, limits.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FakeClock } from '../../clock.js';
import { createLogger } from '@sipflow/operator/log';
import { createRequest, getHeader, parseVia, type SipResponse } from '../message/index.js';
import { FakeSipTransport, type SipSource } from '../transport/index.js';
import { TransactionLayer } from './layer.js';
import type { InviteServerTransaction, NonInviteServerTransaction } from './server.js';
import { SipTransactionTimeoutError } from './errors.js';

const UDP: SipSource = { transport: 'udp', address: '198.51.100.7', port: 5062, family: 'IPv4' };
const TCP: SipSource = { transport: 'tcp', address: '198.51.100.7', port: 40001, family: 'IPv4', connectionId: 'tcp-1' };
const quiet = createLogger('test', 'error');

function req(method: string, opts: { branch?: string; cseq?: string; callId?: string; toTag?: string; transport?: string } = {}): string {
  return [
    `${method} sip:app1@sip.example.com SIP/2.0`,
    `Via: SIP/2.0/${opts.transport ?? 'UDP'} 198.51.100.7:5062;branch=${opts.branch ?? 'z9hG4bKinv1'};rport`,
    'Max-Forwards: 70', 'From: <sip:alice@example.org>;tag=a1',
    `To: <sip:app1@sip.example.com>${opts.toTag ? ';tag=' + opts.toTag : ''}`,
    `Call-ID: ${opts.callId ?? 'call-1'}`, `CSeq: ${opts.cseq ?? '1 ' + method}`, 'Content-Length: 0', '', '',
  ].join('\n');
}

function setup(extra: { maxTransactions?: number } = {}) {
  const clock = new FakeClock();
  const transport = new FakeSipTransport();
  const layer = new TransactionLayer(transport, { clock, logger: quiet, ...extra });
  const statuses = () => transport.take().map((s) => s.message.kind === 'response' ? s.message.status : s.message.method);
  return { clock, transport, layer, statuses };
}

function nextInvite(layer: TransactionLayer): Promise<InviteServerTransaction> {
  return new Promise((r) => layer.once('invite', r));
}

test('INVITE: 100 Trying at once, retransmissions absorbed and answered with the last provisional', async () => {
  const { transport, layer, statuses } = setup();
  const p = nextInvite(layer);
  transport.inject(req('INVITE'), UDP);
  const tx = await p;
  assert.deepEqual(statuses(), [100]);
  assert.equal(tx.source, UDP);
  let invites = 1;
  layer.on('invite', () => invites++);
  transport.inject(req('INVITE'), UDP);
  assert.deepEqual(statuses(), [100]);
  tx.respond(180);
  const sent = transport.take();
  assert.equal(sent.length, 1);
  const ringing = sent[0]!.message as SipResponse;
  assert.equal(ringing.status, 180);
  assert.equal(getHeader(ringing, 'To'), `<sip:app1@sip.example.com>;tag=${tx.toTag}`);
  assert.deepEqual(sent[0]!.dest, { transport: 'udp', address: '198.51.100.7', port: 5062 }, 'received+rport routing');
  transport.inject(req('INVITE'), UDP);
  assert.deepEqual(statuses(), [180]);
  assert.equal(invites, 1, 'the TU saw the INVITE once');
});

test('INVITE non-2xx final: Timer G schedule over UDP, ACK stops it, Timer I ends the transaction', async () => {
  const { clock, transport, layer, statuses } = setup();
  const p = nextInvite(layer);
  transport.inject(req('INVITE'), UDP);
  const tx = await p;
  tx.respond(486);
  assert.deepEqual(statuses(), [100, 486]);
  const at: number[] = [];
  for (let t = 0; t < 8000; t += 100) { clock.advance(100); if (statuses().length) at.push(clock.now()); }
  assert.deepEqual(at, [500, 1500, 3500, 7500], 'T1 doubling');
  clock.advance(4000);
  assert.deepEqual(statuses(), [486], 'capped at T2');
  transport.inject(req('INVITE'), UDP);
  assert.deepEqual(statuses(), [486], 'retransmitted INVITE gets the final again');
  let acks = 0;
  layer.on('ack', () => acks++);
  transport.inject(req('ACK', { cseq: '1 ACK', toTag: tx.toTag }), UDP);
  assert.equal(tx.state, 'confirmed');
  assert.equal(acks, 0, 'ACK for a non-2xx stays in the transaction');
  clock.advance(10_000);
  assert.deepEqual(statuses(), []);
  assert.equal(tx.state, 'terminated');
  assert.equal(layer.size, 0);
});

test('INVITE: Timer H fires at 64*T1 without ACK; over TCP no retransmissions', async () => {
  const { clock, transport, layer, statuses } = setup();
  const p = nextInvite(layer);
  transport.inject(req('INVITE'), UDP);
  const tx = await p;
  let timedOut = false;
  tx.on('timeout', () => { timedOut = true; });
  tx.respond(603);
  statuses();
  clock.advance(31_999);
  assert.equal(statuses().length, 10, 'retransmits at 0.5,1.5,3.5,7.5,11.5,...,31.5 s');
  assert.equal(timedOut, false);
  clock.advance(1);
  assert.ok(timedOut);
  assert.equal(tx.state, 'terminated');
  assert.equal(layer.size, 0);

  const p2 = nextInvite(layer);
  transport.inject(req('INVITE', { branch: 'z9hG4bKtcp', transport: 'TCP' }), TCP);
  const t2 = await p2;
  t2.respond(486);
  assert.deepEqual(transport.take().map((s) => s.dest.connectionId), ['tcp-1', 'tcp-1']);
  clock.advance(40_000);
  assert.deepEqual(statuses(), []);
  assert.equal(t2.state, 'terminated');
});

test('CANCEL: 200 to CANCEL, cancel event, TU answers 487, ACK absorbed; unmatched CANCEL gets 481', async () => {
  const { transport, layer, statuses } = setup();
  const p = nextInvite(layer);
  transport.inject(req('INVITE'), UDP);
  const tx = await p;
  statuses();
  const cancelled = new Promise<[InviteServerTransaction, NonInviteServerTransaction]>((r) => layer.once('cancel', (a, b) => r([a, b])));
  transport.inject(req('CANCEL', { cseq: '1 CANCEL' }), UDP);
  const [inv, cancelTx] = await cancelled;
  assert.equal(inv, tx);
  assert.ok(tx.cancelled);
  assert.equal(cancelTx.lastResponse?.status, 200);
  inv.respond(487);
  const sent = transport.take().map((s) => s.message as SipResponse);
  assert.deepEqual(sent.map((r) => [r.status, getHeader(r, 'CSeq')]), [[200, '1 CANCEL'], [487, '1 INVITE']]);
  transport.inject(req('CANCEL', { cseq: '1 CANCEL' }), UDP);
  assert.deepEqual(statuses(), [200], 'retransmitted CANCEL gets the same 200');
  transport.inject(req('ACK', { cseq: '1 ACK', toTag: tx.toTag }), UDP);
  assert.equal(tx.state, 'confirmed');
  transport.inject(req('CANCEL', { branch: 'z9hG4bKnone', cseq: '1 CANCEL' }), UDP);
  assert.deepEqual(statuses(), [481]);
});

test('2xx retransmitted from T1 doubling until the ACK (new branch) arrives; ACK goes to the TU', async () => {
  const { clock, transport, layer, statuses } = setup();
  const p = nextInvite(layer);
  transport.inject(req('INVITE', { cseq: '7 INVITE' }), UDP);
  const tx = await p;
  tx.respond(200, 'OK', { body: 'v=0\r\n', contentType: 'application/sdp' });
  assert.deepEqual(statuses(), [100, 200]);
  const at: number[] = [];
  for (let t = 0; t < 8000; t += 100) { clock.advance(100); if (statuses().length) at.push(clock.now()); }
  assert.deepEqual(at, [500, 1500, 3500, 7500]);
  transport.inject(req('INVITE', { cseq: '7 INVITE' }), UDP);
  assert.deepEqual(statuses(), [], 'retransmitted INVITE absorbed in Accepted');
  const acked = new Promise((r) => layer.once('ack', r));
  transport.inject(req('ACK', { branch: 'z9hG4bKack2', cseq: '7 ACK', toTag: tx.toTag }), UDP);
  await acked;
  assert.equal(await tx.waitForAck(), 'acked');
  clock.advance(20_000);
  assert.deepEqual(statuses(), [], 'no more 2xx after the ACK');
  clock.advance(20_000);
  assert.equal(layer.size, 0, 'Timer L ended the transaction');
});

test('2xx never ACKed: ackTimeout at 64*T1 so the call can be torn down', async () => {
  const { clock, transport, layer, statuses } = setup();
  const p = nextInvite(layer);
  transport.inject(req('INVITE'), UDP);
  const tx = await p;
  let ackTimeout = false;
  tx.on('ackTimeout', () => { ackTimeout = true; });
  tx.respond(200);
  clock.advance(31_999);
  assert.equal(ackTimeout, false);
  assert.equal(statuses().length, 2 + 10);
  clock.advance(1);
  assert.equal(await tx.waitForAck(), 'timeout');
  assert.ok(ackTimeout);
});

test('non-INVITE server: absorbed while trying, last response repeated, Timer J (UDP) / immediate (TCP)', async () => {
  const { clock, transport, layer, statuses } = setup();
  const got = new Promise<NonInviteServerTransaction>((r) => layer.once('request', r));
  transport.inject(req('BYE', { toTag: 'x' }), UDP);
  const tx = await got;
  transport.inject(req('BYE', { toTag: 'x' }), UDP);
  assert.deepEqual(statuses(), [], 'no automatic 100 for non-INVITE');
  tx.respond(200);
  transport.inject(req('BYE', { toTag: 'x' }), UDP);
  assert.deepEqual(statuses(), [200, 200]);
  assert.equal(tx.respond(500), undefined);
  assert.deepEqual(statuses(), [], 'a second final is refused');
  clock.advance(31_999);
  assert.equal(tx.state, 'completed');
  clock.advance(1);
  assert.equal(tx.state, 'terminated');

  const got2 = new Promise<NonInviteServerTransaction>((r) => layer.once('request', r));
  transport.inject(req('OPTIONS', { branch: 'z9hG4bKopt', transport: 'TCP' }), TCP);
  const t2 = await got2;
  t2.respond(200);
  clock.advance(0);
  assert.equal(t2.state, 'terminated');
  assert.equal(layer.size, 0);
});

test('client non-INVITE: Via added, Timer E retransmits, final response resolves, Timer F times out', async () => {
  const { clock, transport, layer } = setup();
  const bye = createRequest({ method: 'BYE', uri: 'sip:alice@198.51.100.7:5062', headers: [
    ['From', '<sip:app1@sip.example.com>;tag=srv'], ['To', '<sip:alice@example.org>;tag=a1'], ['Call-ID', 'call-1'], ['CSeq', '2 BYE'],
  ] });
  const dest = { transport: 'udp' as const, address: '198.51.100.7', port: 5062 };
  const done = layer.sendRequest(bye, dest);
  const first = transport.take();
  assert.equal(first.length, 1);
  const via = parseVia(getHeader(first[0]!.message, 'Via')!)!;
  assert.equal(`${via.host}:${via.port}`, '192.0.2.1:5060', 'advertised address');
  assert.ok(via.branch?.startsWith('z9hG4bK') && via.hasRport);
  assert.equal(getHeader(first[0]!.message, 'Max-Forwards'), '70');
  const at: number[] = [];
  for (let t = 0; t < 4000; t += 100) { clock.advance(100); if (transport.take().length) at.push(clock.now()); }
  assert.deepEqual(at, [500, 1500, 3500]);
  transport.inject([
    'SIP/2.0 200 OK', `Via: SIP/2.0/UDP 192.0.2.1:5060;branch=${via.branch};rport=5060`,
    'From: <sip:app1@sip.example.com>;tag=srv', 'To: <sip:alice@example.org>;tag=a1', 'Call-ID: call-1', 'CSeq: 2 BYE', 'Content-Length: 0', '', '',
  ].join('\n'), UDP);
  assert.equal((await done).status, 200);
  clock.advance(10_000);
  assert.equal(transport.take().length, 0);
  assert.equal(layer.size, 0, 'Timer K ended it');

  const opt = createRequest({ method: 'OPTIONS', uri: 'sip:198.51.100.7', headers: [
    ['From', '<sip:p@sip.example.com>;tag=o'], ['To', '<sip:198.51.100.7>'], ['Call-ID', 'opt-1'], ['CSeq', '1 OPTIONS'],
  ] });
  const timeout = layer.sendRequest(opt, dest);
  clock.advance(32_000);
  await assert.rejects(timeout, SipTransactionTimeoutError);
  assert.equal(transport.take().length, 1 + 10);
  assert.equal(layer.size, 0);
});

test('live transactions are capped: beyond the cap a stateless 503 with Retry-After', async () => {
  const { transport, layer } = setup({ maxTransactions: 1 });
  let overloads = 0;
  layer.on('overload', () => overloads++);
  layer.on('invite', () => undefined);
  transport.inject(req('INVITE'), UDP);
  transport.inject(req('INVITE', { branch: 'z9hG4bKsecond', callId: 'call-2' }), UDP);
  const sent = transport.take().map((s) => s.message as SipResponse);
  assert.deepEqual(sent.map((r) => r.status), [100, 503]);
  assert.equal(getHeader(sent[1]!, 'Retry-After'), '5');
  assert.equal(overloads, 1);
  layer.close();
  assert.equal(layer.size, 0);
});

test('release(): an ACKed INVITE keeps only its identifying headers and no 2xx, yet still absorbs retransmissions and CANCELs until Timer L', async () => {
  const { clock, transport, layer, statuses } = setup();
  const p = nextInvite(layer);
  transport.inject(req('INVITE').replace('Content-Length: 0', 'Contact: <sip:alice@198.51.100.7:5062>\nUser-Agent: carrier\nContent-Length: 0'), UDP);
  const tx = await p;
  tx.respond(200, 'OK', { body: Buffer.from('v=0\r\n'), headers: [['Content-Type', 'application/sdp']] });
  transport.inject(req('ACK', { cseq: '1 ACK', toTag: tx.toTag }), UDP);
  await tx.waitForAck();
  statuses();
  tx.release();
  assert.deepEqual(tx.request.headers.map((h) => h.name.toLowerCase()).sort(), ['call-id', 'cseq', 'from', 'to', 'via']);
  assert.equal(tx.request.body.length, 0);
  assert.equal(tx.lastResponse, undefined, 'the ACKed 2xx is let go');
  assert.equal(tx.reliable2xxRetransmitter, undefined);
  assert.equal(tx.callId, 'call-1');
  assert.equal(tx.method, 'INVITE');
  let invites = 0;
  layer.on('invite', () => invites++);
  transport.inject(req('INVITE'), UDP);
  assert.deepEqual(statuses(), [], 'a retransmitted INVITE is absorbed, nothing sent');
  assert.equal(invites, 0);
  transport.inject(req('CANCEL', { cseq: '1 CANCEL' }), UDP);
  const cancelOk = transport.take();
  assert.equal((cancelOk[0]!.message as SipResponse).status, 200);
  assert.match(getHeader(cancelOk[0]!.message, 'To') ?? '', new RegExp(`tag=${tx.toTag}`));
  assert.equal(tx.state, 'accepted');
  clock.advance(32_000);
  assert.equal(tx.state, 'terminated');
  assert.equal(layer.size, 0);
});

test('release(): a 2xx not yet ACKed and a non-2xx final are kept and still retransmitted', async () => {
  {
    const { clock, transport, layer, statuses } = setup();
    const p = nextInvite(layer);
    transport.inject(req('INVITE'), UDP);
    const tx = await p;
    tx.respond(200);
    statuses();
    tx.release();
    assert.equal(tx.lastResponse?.status, 200);
    clock.advance(500);
    assert.deepEqual(statuses(), [200], 'the 2xx is retransmitted at T1 after release');
  }
  {
    const { transport, layer, statuses } = setup();
    const p = nextInvite(layer);
    transport.inject(req('INVITE', { branch: 'z9hG4bKinv2' }), UDP);
    const tx = await p;
    tx.respond(486);
    statuses();
    tx.release();
    transport.inject(req('INVITE', { branch: 'z9hG4bKinv2' }), UDP);
    assert.deepEqual(statuses(), [486], 'a retransmitted INVITE gets the final again');
  }
  {
    const { transport, layer, statuses } = setup();
    const p = new Promise<NonInviteServerTransaction>((r) => layer.once('request', r));
    transport.inject(req('BYE', { branch: 'z9hG4bKbye1', toTag: 't1' }), UDP);
    const tx = await p;
    tx.respond(200);
    statuses();
    tx.release();
    transport.inject(req('BYE', { branch: 'z9hG4bKbye1', toTag: 't1' }), UDP);
    assert.deepEqual(statuses(), [200], 'a retransmitted BYE gets the 200 again');
  }
});
