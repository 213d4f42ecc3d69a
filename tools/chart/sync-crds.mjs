#!/usr/bin/env node
// Generates charts/sipflow/templates/crds/*.yaml from crds/ (the single source of truth): each CRD
// is wrapped in `crds.enabled` and gets the `helm.sh/resource-policy: keep` annotation behind
// `crds.keep`. Nothing else changes, so test/src/chart/crds-sync.test.ts can prove byte equality.
// Usage: node tools/chart/sync-crds.mjs [--check]   (--check: exit 1 if the templates are stale)
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const srcDir = join(root, 'crds');
const outDir = join(root, 'charts', 'sipflow', 'templates', 'crds');

// The exact lines added around and inside each source; the sync test strips these same lines.
export const OPEN = '{{- if .Values.crds.enabled }}';
export const CLOSE = '{{- end }}';
export const KEEP_BLOCK = ['{{- if .Values.crds.keep }}', '  annotations:', '    helm.sh/resource-policy: keep', '{{- end }}'];
export const generatedNote = (file) => `# Generated from crds/${file} by tools/chart/sync-crds.mjs; edit the source, then re-run it.`;

export function wrapCrd(file, source) {
  if (source.includes('{{')) throw new Error(`crds/${file}: contains "{{", which Helm would treat as a template action`);
  if (!source.endsWith('\n')) throw new Error(`crds/${file}: must end with a newline`);
  const lines = source.slice(0, -1).split('\n');
  const meta = lines.indexOf('metadata:');
  if (meta < 0) throw new Error(`crds/${file}: no top-level "metadata:" line`);
  if (lines.some((l) => l === '  annotations:')) {
    throw new Error(`crds/${file}: already has metadata.annotations; teach sync-crds.mjs to merge the keep annotation`);
  }
  if (lines.some((l) => l === '---')) throw new Error(`crds/${file}: one CRD per file is expected`);
  const out = [OPEN, generatedNote(file), ...lines.slice(0, meta + 1), ...KEEP_BLOCK, ...lines.slice(meta + 1), CLOSE];
  return out.join('\n') + '\n';
}

function main() {
  const check = process.argv.includes('--check');
  const files = readdirSync(srcDir).filter((f) => f.endsWith('.yaml')).sort();
  if (files.length === 0) throw new Error(`no CRDs in ${srcDir}`);
  const stale = [];
  mkdirSync(outDir, { recursive: true });
  const wanted = new Set(files);
  for (const f of readdirSync(outDir)) {
    if (!wanted.has(f)) {
      stale.push(`${f} (no source)`);
      if (!check) rmSync(join(outDir, f));
    }
  }
  for (const f of files) {
    const text = wrapCrd(f, readFileSync(join(srcDir, f), 'utf8'));
    const target = join(outDir, f);
    if (existsSync(target) && readFileSync(target, 'utf8') === text) continue;
    stale.push(f);
    if (!check) writeFileSync(target, text);
  }
  if (check && stale.length > 0) {
    process.stderr.write(`charts/sipflow/templates/crds is stale: ${stale.join(', ')}; run node tools/chart/sync-crds.mjs\n`);
    process.exit(1);
  }
  process.stdout.write(`${check ? 'checked' : 'synced'} ${files.length} CRDs into ${outDir}${!check && stale.length ? ` (updated: ${stale.join(', ')})` : ''}\n`);
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) main();
