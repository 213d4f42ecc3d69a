import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ReferencedSecrets } from './secrets.js';

const secret = (name: string): Record<string, unknown> => ({
  apiVersion: 'v1', kind: 'Secret', type: 'Opaque',
  metadata: {
    name, namespace: 'team', resourceVersion: '9', uid: `uid-${name}`,
    labels: { app: 'x' }, annotations: { 'kubectl.kubernetes.io/last-applied-configuration': '{"big":"copy"}' },
  },
  data: { password: 'cGFzc3dvcmQ=' },
});

describe('ReferencedSecrets.transform', () => {
  it('keeps identity, type and data of a referenced Secret and nothing else', () => {
    const refs = new ReferencedSecrets();
    refs.update(['team/pw']);
    const out = refs.transform(secret('pw'));
    assert.deepEqual(out, {
      apiVersion: 'v1', kind: 'Secret', type: 'Opaque',
      metadata: { name: 'pw', namespace: 'team', resourceVersion: '9', uid: 'uid-pw' },
      data: { password: 'cGFzc3dvcmQ=' },
    });
    assert.equal(refs.isBare(out), false);
  });

  it('keeps only the identity of an unreferenced Secret, and marks it bare', () => {
    const refs = new ReferencedSecrets();
    refs.update(['team/pw']);
    const out = refs.transform(secret('helm-release'));
    assert.deepEqual(out, { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'helm-release', namespace: 'team', resourceVersion: '9', uid: 'uid-helm-release' } });
    assert.equal(refs.isBare(out), true);
  });
});
