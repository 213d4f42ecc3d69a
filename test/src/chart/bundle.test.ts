// The kubectl bundle deploy/sipflow.yaml must be exactly what tools/chart/render-bundle.sh renders
// from the chart today, and hold what a kubectl user needs (Namespace first, CRDs, no Helm-only bits).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { runCommand } from '../support/control-plane.js';
import { chartTools, dig, find, mustFind, parseManifests, root, type Tools } from './chart-tools.js';

const toolsOrReason = await chartTools();
const skip = typeof toolsOrReason === 'string' ? toolsOrReason : false;
const bundlePath = join(root, 'deploy', 'sipflow.yaml');

describe('kubectl bundle', () => {
  it('deploy/sipflow.yaml is up to date with the chart', { skip }, async () => {
    const tools = toolsOrReason as Tools;
    const res = await runCommand(join(root, 'tools', 'chart', 'render-bundle.sh'), ['-'], {
      env: { ...process.env, HELM: tools.helm },
      timeoutMs: 120_000,
    });
    assert.equal(res.code, 0, res.stderr);
    assert.ok(res.stdout === readFileSync(bundlePath, 'utf8'), 'deploy/sipflow.yaml is stale: run tools/chart/render-bundle.sh');
  });

  it('starts with its Namespace, holds the CRDs and both workloads, and nothing claims a Helm release', () => {
    const text = readFileSync(bundlePath, 'utf8');
    const objects = parseManifests(text, 'deploy/sipflow.yaml');
    assert.equal(objects[0]?.kind, 'Namespace');
    assert.equal(objects[0]?.metadata.name, 'sipflow-system');
    assert.equal(objects.filter((o) => o.kind === 'CustomResourceDefinition').length, 3);
    mustFind(objects, 'Deployment', 'sipflow-operator');
    mustFind(objects, 'Deployment', 'sipflow-media');
    assert.doesNotMatch(text, /managed-by: Helm/);
    // No random key in a checked-in file: the pods read the nonce Secret optionally.
    assert.equal(find(objects, 'Secret'), undefined);
    const media = mustFind(objects, 'Deployment', 'sipflow-media');
    const env = dig(media, 'spec', 'template', 'spec', 'containers', 0, 'env') as { name: string; valueFrom?: unknown }[];
    assert.equal(dig(env.find((e) => e.name === 'SIPFLOW_NONCE_KEY'), 'valueFrom', 'secretKeyRef', 'optional'), true);
    for (const o of objects) {
      if (o.kind !== 'Namespace' && !o.kind.startsWith('Cluster') && o.kind !== 'CustomResourceDefinition') {
        assert.equal(o.metadata.namespace, 'sipflow-system', `${o.kind}/${o.metadata.name}`);
      }
    }
  });
});
