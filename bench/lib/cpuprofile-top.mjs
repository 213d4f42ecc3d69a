#!/usr/bin/env node
// Summarises a V8 .cpuprofile (from `node --cpu-prof`): the functions with the most self time,
// and the most inclusive time, with their source location relative to the repository.
//
// usage: node cpuprofile-top.mjs FILE.cpuprofile [N]     (prints a Markdown table)
import fs from 'node:fs';

/**
 * Top functions of a profile. `fromUs`/`toUs` (CLOCK_MONOTONIC µs, as V8 stamps samples on
 * Linux and as lib/stamp.mjs monoUs() reads it) keep only the samples of a load step, so
 * start-up work does not crowd the table.
 */
export function summarizeProfile(file, n = 15, { fromUs = -Infinity, toUs = Infinity } = {}) {
  const prof = JSON.parse(fs.readFileSync(file, 'utf8'));
  const byId = new Map(prof.nodes.map((node) => [node.id, node]));
  const parent = new Map();
  for (const node of prof.nodes) for (const c of node.children ?? []) parent.set(c, node.id);
  const self = new Map();
  const dts = prof.timeDeltas ?? [];
  let at = prof.startTime;
  for (let i = 0; i < prof.samples.length; i++) {
    at += dts[i] ?? 0;
    if (at < fromUs || at > toUs) continue;
    const id = prof.samples[i];
    self.set(id, (self.get(id) ?? 0) + (dts[i] ?? 0));
  }
  const key = (node) => {
    const f = node.callFrame;
    const url = (f.url || '').replace(/^file:\/\//, '').replace(/^.*\/(media-pod|operator|node_modules)\//, '$1/');
    return { name: f.functionName || '(anonymous)', where: url ? `${url}:${f.lineNumber + 1}` : '' };
  };
  const selfBy = new Map();
  const totalBy = new Map();
  let all = 0;
  for (const [id, us] of self) {
    all += us;
    const node = byId.get(id);
    const k = key(node);
    const ks = `${k.name}\u0000${k.where}`;
    selfBy.set(ks, (selfBy.get(ks) ?? 0) + us);
    // Inclusive: each distinct function on the stack once per sample.
    const seen = new Set();
    for (let cur = id; cur !== undefined; cur = parent.get(cur)) {
      const kk = key(byId.get(cur));
      const kks = `${kk.name}\u0000${kk.where}`;
      if (seen.has(kks)) continue;
      seen.add(kks);
      totalBy.set(kks, (totalBy.get(kks) ?? 0) + us);
    }
  }
  const idle = [...selfBy.entries()].filter(([k]) => k.startsWith('(idle)')).reduce((sum, [, v]) => sum + v, 0);
  const busy = all - idle;
  // Percentages are of busy time (samples outside "(idle)"), so they read as shares of the CPU used.
  const rows = (m) => [...m.entries()]
    .filter(([k]) => !/^\((root|program|idle|garbage collector)\)/.test(k) || k.startsWith('(garbage') || k.startsWith('(program'))
    .sort((a, b) => b[1] - a[1]).slice(0, n)
    .map(([k, us]) => {
      const [name, where] = k.split('\u0000');
      return { name, where, ms: us / 1000, pct: (100 * us) / (busy || 1) };
    });
  return { totalMs: all / 1000, busyMs: busy / 1000, self: rows(selfBy).filter((r) => r.name !== '(idle)'), inclusive: rows(totalBy).filter((r) => !['(root)', '(idle)'].includes(r.name)) };
}

export function profileMarkdown(s, title = 'profile') {
  const lines = [`${title}: ${s.busyMs.toFixed(0)} ms busy of ${s.totalMs.toFixed(0)} ms sampled`, '', '| self ms | % of busy | function | where |', '|---:|---:|---|---|'];
  for (const r of s.self) lines.push(`| ${r.ms.toFixed(0)} | ${r.pct.toFixed(1)} | \`${r.name}\` | ${r.where} |`);
  lines.push('', '| inclusive ms | % of busy | function | where |', '|---:|---:|---|---|');
  for (const r of s.inclusive) lines.push(`| ${r.ms.toFixed(0)} | ${r.pct.toFixed(1)} | \`${r.name}\` | ${r.where} |`);
  return lines.join('\n');
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const file = process.argv[2];
  if (!file) { process.stderr.write('usage: cpuprofile-top.mjs FILE.cpuprofile [N]\n'); process.exit(2); }
  process.stdout.write(profileMarkdown(summarizeProfile(file, Number(process.argv[3] ?? 20)), file) + '\n');
}
