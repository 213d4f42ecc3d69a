// Proves the chart's CRD templates are the CRDs in crds/ byte for byte: the test removes exactly the
// lines tools/chart/sync-crds.mjs adds (the crds.enabled wrapper, the generated-from note and the
// crds.keep annotation block) and compares what remains with the source file.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { runCommand } from '../support/control-plane.js';
import { chartDir, root } from './chart-tools.js';

const srcDir = join(root, 'crds');
const tplDir = join(chartDir, 'templates', 'crds');
const KEEP_BLOCK = ['{{- if .Values.crds.keep }}', '  annotations:', '    helm.sh/resource-policy: keep', '{{- end }}'];

/** Undoes the generator's additions, failing on anything that is not exactly where it should be. */
function unwrap(file: string, text: string): string {
  assert.ok(text.endsWith('\n'), `${file}: no final newline`);
  const lines = text.slice(0, -1).split('\n');
  assert.equal(lines[0], '{{- if .Values.crds.enabled }}', `${file}: first line`);
  assert.equal(lines[1], `# Generated from crds/${file} by tools/chart/sync-crds.mjs; edit the source, then re-run it.`, `${file}: second line`);
  assert.equal(lines[lines.length - 1], '{{- end }}', `${file}: last line`);
  const body = lines.slice(2, -1);
  const meta = body.indexOf('metadata:');
  assert.ok(meta >= 0, `${file}: no metadata: line`);
  assert.deepEqual(body.slice(meta + 1, meta + 1 + KEEP_BLOCK.length), KEEP_BLOCK, `${file}: keep block right after metadata:`);
  body.splice(meta + 1, KEEP_BLOCK.length);
  assert.ok(!body.some((l) => l.includes('{{')), `${file}: template actions beyond the wrapper and keep block`);
  return body.join('\n') + '\n';
}

describe('chart CRD templates', () => {
  const sources = readdirSync(srcDir).filter((f) => f.endsWith('.yaml')).sort();

  it('has one template per CRD in crds/ and nothing else', () => {
    assert.ok(sources.length >= 3, 'crds/ holds the three CRDs');
    assert.deepEqual(readdirSync(tplDir).sort(), sources);
  });

  for (const file of sources) {
    it(`${file} equals crds/${file} byte for byte apart from the wrapper`, () => {
      const unwrapped = unwrap(file, readFileSync(join(tplDir, file), 'utf8'));
      assert.ok(Buffer.from(unwrapped).equals(readFileSync(join(srcDir, file))), `charts/sipflow/templates/crds/${file} differs from crds/${file}; run node tools/chart/sync-crds.mjs`);
    });
  }

  it('sync-crds.mjs --check agrees (the generator and this test strip the same lines)', async () => {
    const res = await runCommand(process.execPath, [join(root, 'tools', 'chart', 'sync-crds.mjs'), '--check']);
    assert.equal(res.code, 0, res.stderr);
  });

  it('the unwrap check catches a one-byte drift', () => {
    const file = sources[0]!;
    const text = readFileSync(join(tplDir, file), 'utf8').replace('spec:\n', 'spec: \n');
    assert.ok(!Buffer.from(unwrap(file, text)).equals(readFileSync(join(srcDir, file))));
  });
});
