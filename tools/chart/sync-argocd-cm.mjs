#!/usr/bin/env node
// Writes argocd/argocd-cm-patch.yaml from argocd/health/sipflow.io/*/health.lua, so the health
// checks Argo CD runs are the ones test/src/argocd/health.test.ts runs.
// Usage: node tools/chart/sync-argocd-cm.mjs [--check]
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const healthDir = join(root, 'argocd', 'health', 'sipflow.io');
const out = join(root, 'argocd', 'argocd-cm-patch.yaml');

const lines = [
  '# Adds the sipflow health checks to Argo CD (argocd-cm). Generated from',
  '# argocd/health/sipflow.io/*/health.lua by tools/chart/sync-argocd-cm.mjs; edit those files.',
  '# Apply: kubectl patch configmap argocd-cm -n argocd --type merge --patch-file argocd/argocd-cm-patch.yaml',
  'data:',
];
for (const kind of readdirSync(healthDir).sort()) {
  const script = readFileSync(join(healthDir, kind, 'health.lua'), 'utf8');
  lines.push(`  resource.customizations.health.sipflow.io_${kind}: |`);
  for (const l of script.replace(/\n$/, '').split('\n')) lines.push(l === '' ? '' : `    ${l}`);
}
const text = lines.join('\n') + '\n';
if (process.argv.includes('--check')) {
  if (readFileSync(out, 'utf8') !== text) { process.stderr.write(`${out} is stale; run node tools/chart/sync-argocd-cm.mjs\n`); process.exit(1); }
} else {
  writeFileSync(out, text);
  process.stdout.write(`wrote ${out}\n`);
}
