/**
 * A call that has ended must not stay in memory. Its INVITE transaction rightly lives on for
 * Timer L (32 s) to absorb retransmitted INVITEs and ACKs, so anything the transaction holds of
 * the call keeps the whole call (RTP session, stream bridge, playback queue, buffers) alive that
 * long: at 100 calls/s that is 3,200 dead calls per pod. Real pod, real caller, real agent; the
 * call objects are watched through WeakRefs and the collector is run until they go.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import plivo from 'plivo';
import { APP_ID, SILENCE_FRAME, openStreamCall, startMediaRig, type MediaRig } from './harness.js';

let rig: MediaRig;
before(async () => { rig = await startMediaRig(); });
after(async () => { await rig.close(); });

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

/** The pod's live calls (the ingress keeps them by dialog; read here only to watch them). */
function liveCalls(): object[] {
  const ingress = rig.pod.pod.ingress as unknown as { dialogs: Map<string, object> };
  return [...ingress.dialogs.values()];
}

/** Runs the collector until every ref is cleared (or 4 s pass); returns how many are still alive. */
async function collect(refs: Array<WeakRef<object>>): Promise<number> {
  let alive = refs.length;
  for (let i = 0; i < 40 && alive > 0; i++) {
    await new Promise((res) => setTimeout(res, 100));
    gc();
    alive = refs.filter((w) => w.deref() !== undefined).length;
  }
  return alive;
}

async function noActiveCalls(): Promise<void> {
  for (let i = 0; i < 50 && rig.pod.pod.ingress.activeCalls > 0; i++) await new Promise((res) => setTimeout(res, 100));
  assert.equal(rig.pod.pod.ingress.activeCalls, 0);
}

test('an ended call is collected while its INVITE transaction still lives', async () => {
  const r = plivo.Response();
  r.addStream(`${rig.agent.baseUrl}/agent`, { bidirectional: true, keepCallAlive: true, contentType: 'audio/x-mulaw;rate=8000' });
  const calls = [await openStreamCall(rig, r.toXML()), await openStreamCall(rig, r.toXML())];
  // Agent audio in the playback queue and RTP both ways, so every part of the call is in use.
  for (const c of calls) c.conn.playAudio(Buffer.alloc(1600, 0x55));
  await new Promise((res) => setTimeout(res, 300));
  const refs = liveCalls().map((c) => new WeakRef(c));
  assert.equal(refs.length, 2);

  for (const c of calls) {
    const res = await c.uac.bye();
    assert.equal(res.status, 200);
    await c.conn.waitForEvent('stop', 5000).catch(() => undefined);
  }
  await noActiveCalls();
  // The transactions of those calls are still there (Timer L has 32 s to run).
  const transactions = (rig.pod.pod.ingress as unknown as { transactions: { size: number } }).transactions;
  assert.ok(transactions.size >= 2, `transactions alive: ${transactions.size}`);

  // Let pending callbacks, stream closes and port quarantines settle, collecting as we go.
  const alive = await collect(refs);
  assert.equal(alive, 0, `${alive} of ${refs.length} ended calls are still reachable`);
});

test('calls cut off in the middle of a prompt, and calls the pod hangs up, are collected too', async () => {
  const refs: Array<WeakRef<object>> = [];
  // The caller hangs up while <Speak> is playing (speech engine, prompt cache, playback in use).
  rig.answer.route('/answer', '<Response><Speak>This sentence is long enough to be cut off by the caller before it ends.</Speak><Wait length="30"/></Response>');
  const a = await rig.caller();
  assert.equal((await a.invite(rig.pod.sipPort, APP_ID)).status, 200);
  a.startSending(() => SILENCE_FRAME);
  await new Promise((res) => setTimeout(res, 600));
  refs.push(...liveCalls().map((c) => new WeakRef(c)));
  assert.equal((await a.bye()).status, 200);
  // The pod ends the call itself after a digit collection that times out.
  rig.answer.route('/answer', '<Response><GetDigits timeout="1" numDigits="1" retries="1"><Speak>Press a key.</Speak></GetDigits><Hangup/></Response>');
  const b = await rig.caller();
  assert.equal((await b.invite(rig.pod.sipPort, APP_ID)).status, 200);
  b.startSending(() => SILENCE_FRAME);
  refs.push(...liveCalls().map((c) => new WeakRef(c)));
  await b.byeFromPod(15_000);
  assert.equal(refs.length, 2);
  await noActiveCalls();
  const alive = await collect(refs);
  assert.equal(alive, 0, `${alive} of ${refs.length} ended calls are still reachable`);
});
