import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { ObjectResult } from '../render/render.js';
import { metaTime, planStatus } from './conditions.js';

const T0 = Date.UTC(2026, 0, 1, 12, 0, 0, 345);
const T1 = T0 + 60_000;

function result(over: Partial<ObjectResult> = {}): ObjectResult {
  return { kind: 'SipApplication', namespace: 'ns', name: 'a', generation: 3, ready: true, reason: 'Ready', message: 'serving sip:a@d', sipUri: 'sip:a@d', ...over };
}

describe('planStatus', () => {
  it('first visit: sets Ready, observedGeneration, sipUri and reports the transition', () => {
    const p = planStatus('SipApplication', undefined, result(), T0);
    assert.equal(p.changed, true);
    assert.deepEqual(p.transition, { from: undefined, to: 'True' });
    assert.deepEqual(p.status, {
      observedGeneration: 3,
      sipUri: 'sip:a@d',
      conditions: [{ type: 'Ready', status: 'True', reason: 'Ready', message: 'serving sip:a@d', observedGeneration: 3, lastTransitionTime: '2026-01-01T12:00:00Z' }],
    });
  });

  it('no change: nothing to write, no transition', () => {
    const first = planStatus('SipApplication', undefined, result(), T0);
    const again = planStatus('SipApplication', first.status, result(), T1);
    assert.equal(again.changed, false);
    assert.equal(again.transition, undefined);
  });

  it('keeps lastTransitionTime when only the message or generation changes', () => {
    const first = planStatus('SipApplication', undefined, result(), T0);
    const next = planStatus('SipApplication', first.status, result({ generation: 4, message: 'serving sip:a@d (auth IpAcl)' }), T1);
    assert.equal(next.changed, true);
    assert.equal(next.transition, undefined);
    const c = (next.status.conditions as { lastTransitionTime: string; observedGeneration: number }[])[0];
    assert.equal(c?.lastTransitionTime, metaTime(T0));
    assert.equal(c?.observedGeneration, 4);
    assert.equal(next.status.observedGeneration, 4);
  });

  it('moves lastTransitionTime and drops sipUri when Ready turns False', () => {
    const first = planStatus('SipApplication', undefined, result(), T0);
    const failing = result({ ready: false, reason: 'IpAclNotFound', message: 'IpAcl ns/x not found', sipUri: undefined });
    delete failing.sipUri;
    const next = planStatus('SipApplication', first.status, failing, T1);
    assert.deepEqual(next.transition, { from: 'True', to: 'False' });
    assert.equal(next.status.sipUri, undefined);
    assert.equal(next.patch.sipUri, null, 'the merge patch removes it explicitly');
    const c = (next.status.conditions as { lastTransitionTime: string; reason: string }[])[0];
    assert.equal(c?.lastTransitionTime, metaTime(T1));
    assert.equal(c?.reason, 'IpAclNotFound');
    // A reason change while staying False is a write but not a transition.
    const other = planStatus('SipApplication', next.status, { ...failing, reason: 'SecretNotFound', message: 'Secret ns/s not found' }, T1 + 5000);
    assert.equal(other.changed, true);
    assert.equal(other.transition, undefined);
    assert.equal((other.status.conditions as { lastTransitionTime: string }[])[0]?.lastTransitionTime, metaTime(T1));
  });

  it('sets entryCount for IpAcls and notices when someone else changed it', () => {
    const r: ObjectResult = { kind: 'IpAcl', namespace: 'ns', name: 'acl', generation: 1, ready: true, reason: 'Resolved', message: '2 entries', entryCount: 2 };
    const p = planStatus('IpAcl', undefined, r, T0);
    assert.equal(p.status.entryCount, 2);
    assert.equal(planStatus('IpAcl', p.status, r, T1).changed, false);
    assert.equal(planStatus('IpAcl', { ...p.status, entryCount: 7 }, r, T1).changed, true);
  });

  it('leaves other conditions alone: the merge patch carries the whole list, Ready replaced in place', () => {
    const argo = { type: 'Argo', status: 'True', reason: 'X', message: '', lastTransitionTime: 'x' };
    const current = { observedGeneration: 3, conditions: [argo] };
    const p = planStatus('SipApplication', current, result(), T0);
    assert.deepEqual((p.status.conditions as { type: string }[]).map((c) => c.type), ['Ready']);
    assert.deepEqual((p.patch.conditions as { type: string }[]).map((c) => c.type), ['Argo', 'Ready']);
    assert.deepEqual(p.transition, { from: undefined, to: 'True' });
    const stale = { type: 'Ready', status: 'False', reason: 'IpAclNotFound', message: 'x', lastTransitionTime: 'y' };
    const q = planStatus('SipApplication', { conditions: [stale, argo] }, result(), T1);
    assert.deepEqual((q.patch.conditions as { type: string; status: string }[]).map((c) => `${c.type}=${c.status}`), ['Ready=True', 'Argo=True']);
    assert.deepEqual(q.patch.conditions, [{ ...(q.status.conditions as unknown[])[0] as object }, argo]);
    assert.equal(q.patch.sipUri, 'sip:a@d');
    assert.equal('entryCount' in q.patch, false, 'fields nobody set are not touched');
  });
});
