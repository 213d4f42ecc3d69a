// Checks the chart's Grafana dashboard and Prometheus alerts against the code: the dashboard JSON
// parses, and every PromQL expression names only metrics (and labels) that the media pod and the
// operator actually register, read out of their metrics modules.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { runCommand } from '../support/control-plane.js';
import { chartDir, root } from './chart-tools.js';

interface MetricDef {
  type: 'Counter' | 'Gauge' | 'Histogram' | 'Summary';
  labels: string[];
  file: string;
}

const METRIC_SOURCES = ['media-pod/src/observability/metrics.ts', 'operator/src/metrics.ts'];
/** Labels Prometheus adds when scraping (target labels), always allowed in matchers and grouping. */
const TARGET_LABELS = new Set(['namespace', 'pod', 'instance', 'job', 'service', 'container', 'endpoint']);
const PROMQL_WORDS = new Set([
  'by', 'without', 'on', 'ignoring', 'group_left', 'group_right', 'offset', 'bool', 'and', 'or', 'unless', 'inf', 'nan',
]);

/** Reads `new Counter|Gauge|Histogram|Summary({ name: '...', labelNames: [...] })` out of TypeScript source. */
export function metricDefinitions(source: string, file: string): Map<string, MetricDef> {
  const out = new Map<string, MetricDef>();
  const re = /new (Counter|Gauge|Histogram|Summary)\s*(?:<[^>]*>)?\(\s*\{/g;
  for (let m = re.exec(source); m; m = re.exec(source)) {
    let depth = 1;
    let i = re.lastIndex;
    for (; i < source.length && depth > 0; i++) {
      if (source[i] === '{') depth++;
      else if (source[i] === '}') depth--;
    }
    const body = source.slice(re.lastIndex, i);
    const name = /\bname:\s*'([a-zA-Z_:][a-zA-Z0-9_:]*)'/.exec(body)?.[1];
    if (!name) continue;
    const labels = /\blabelNames:\s*\[([^\]]*)\]/.exec(body)?.[1] ?? '';
    out.set(name, {
      type: m[1] as MetricDef['type'],
      labels: [...labels.matchAll(/'([^']+)'/g)].map((x) => x[1]!),
      file,
    });
  }
  return out;
}

function knownMetrics(): { metrics: Map<string, MetricDef>; missingSources: string[] } {
  const metrics = new Map<string, MetricDef>();
  const missingSources: string[] = [];
  for (const rel of METRIC_SOURCES) {
    const p = join(root, rel);
    if (!existsSync(p)) {
      missingSources.push(rel);
      continue;
    }
    for (const [name, def] of metricDefinitions(readFileSync(p, 'utf8'), rel)) {
      metrics.set(name, def);
      // What Prometheus exposes for histograms and summaries besides the base name.
      if (def.type === 'Histogram') metrics.set(`${name}_bucket`, { ...def, labels: [...def.labels, 'le'] });
      if (def.type === 'Histogram' || def.type === 'Summary') {
        metrics.set(`${name}_sum`, def);
        metrics.set(`${name}_count`, def);
      }
    }
  }
  return { metrics, missingSources };
}

export interface PromqlRefs {
  metrics: string[];
  /** Label names used in matchers of each metric. */
  matcherLabels: { metric: string; label: string }[];
  /** Label names in by/without/on/ignoring clauses. */
  groupingLabels: string[];
}

/** Pulls metric and label names out of a PromQL expression (enough PromQL for our own expressions). */
export function promqlRefs(expr: string): PromqlRefs {
  const matcherLabels: { metric: string; label: string }[] = [];
  const groupingLabels: string[] = [];
  let s = expr.replace(/\$\{?\w+\}?/g, '1m');
  // Matchers: metric{a="x", b=~"y"} — record the labels, then drop the braces.
  s = s.replace(/([a-zA-Z_:][a-zA-Z0-9_:]*)?\s*\{([^}]*)\}/g, (_all, metric: string | undefined, body: string) => {
    for (const m of body.matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*"(?:[^"\\]|\\.)*"/g)) {
      matcherLabels.push({ metric: metric ?? '', label: m[1]! });
    }
    return metric ?? '';
  });
  s = s.replace(/"(?:[^"\\]|\\.)*"/g, '""');
  s = s.replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\(([^)]*)\)/g, (_all, _kw: string, labels: string) => {
    for (const l of labels.split(',').map((x) => x.trim()).filter(Boolean)) groupingLabels.push(l);
    return ' ';
  });
  s = s.replace(/\[[^\]]*\]/g, ' ');
  const metrics = new Set<string>();
  for (const m of s.matchAll(/([a-zA-Z_:][a-zA-Z0-9_:]*)(\s*\()?/g)) {
    const word = m[1]!;
    if (m[2]) continue; // a function or aggregation
    if (PROMQL_WORDS.has(word.toLowerCase())) continue;
    const before = s.slice(0, m.index);
    if (/[0-9.]$/.test(before) || /^\d/.test(word)) continue; // part of a number such as 1e3 or 5m
    metrics.add(word);
  }
  return { metrics: [...metrics], matcherLabels, groupingLabels };
}

interface Expression {
  where: string;
  expr: string;
}

function dashboardExpressions(dash: unknown): Expression[] {
  const out: Expression[] = [];
  const d = dash as {
    panels: { title: string; targets?: { expr: string }[] }[];
    templating: { list: { name: string; definition?: string }[] };
  };
  for (const p of d.panels) for (const t of p.targets ?? []) out.push({ where: `panel "${p.title}"`, expr: t.expr });
  for (const v of d.templating.list) {
    const m = /^label_values\(\s*([a-zA-Z_:][a-zA-Z0-9_:]*)\s*,\s*([a-zA-Z_]\w*)\s*\)$/.exec(v.definition ?? '');
    if (v.definition) {
      assert.ok(m, `variable ${v.name}: expected label_values(metric, label)`);
      out.push({ where: `variable ${v.name}`, expr: `sum by (${m[2]}) (${m[1]})` });
    }
  }
  return out;
}

function alertExpressions(): Expression[] {
  const rules = parseYaml(readFileSync(join(chartDir, 'files', 'alerts.yaml'), 'utf8')) as {
    groups: { name: string; rules: { alert: string; expr: string; for?: string }[] }[];
  };
  return rules.groups.flatMap((g) => g.rules.map((r) => ({ where: `alert ${r.alert}`, expr: r.expr })));
}

function checkExpressions(exprs: Expression[]): void {
  const { metrics, missingSources } = knownMetrics();
  assert.deepEqual(missingSources.filter((s) => s.startsWith('media-pod')), [], 'the media pod metrics module exists');
  const problems: string[] = [];
  for (const { where, expr } of exprs) {
    const refs = promqlRefs(expr);
    if (refs.metrics.length === 0) problems.push(`${where}: no metric in ${expr}`);
    const used = refs.metrics.map((m) => metrics.get(m));
    for (const [i, m] of refs.metrics.entries()) {
      if (!used[i]) problems.push(`${where}: metric ${m} is not registered in ${METRIC_SOURCES.join(' or ')}`);
    }
    const allowed = new Set([...TARGET_LABELS, ...used.flatMap((d) => d?.labels ?? [])]);
    for (const { metric, label } of refs.matcherLabels) {
      const def = metrics.get(metric);
      if (def && !TARGET_LABELS.has(label) && !def.labels.includes(label)) problems.push(`${where}: ${metric} has no label ${label}`);
    }
    for (const l of refs.groupingLabels) if (!allowed.has(l)) problems.push(`${where}: grouping label ${l} is on none of ${refs.metrics.join(', ')}`);
  }
  assert.deepEqual(problems, []);
}

describe('dashboards and alerts', () => {
  it('the PromQL reader finds metrics and labels', () => {
    const r = promqlRefs('histogram_quantile(0.99, sum by (le) (rate(a_bucket{purpose="answer",result!="ok"}[5m]))) / on(pod) b > 2e3');
    assert.deepEqual(r.metrics.sort(), ['a_bucket', 'b']);
    assert.deepEqual(r.matcherLabels, [{ metric: 'a_bucket', label: 'purpose' }, { metric: 'a_bucket', label: 'result' }]);
    assert.deepEqual(r.groupingLabels, ['le', 'pod']);
  });

  it('the metric reader sees both declaration styles', () => {
    const defs = metricDefinitions(
      "readonly a = new Counter({\n name: 'x_total',\n labelNames: ['cause'] as const,\n});\nthis.b = new Histogram({ name: 'y_seconds', help: 'h', labelNames: ['c', 'd'], registers });",
      't.ts',
    );
    assert.deepEqual(defs.get('x_total'), { type: 'Counter', labels: ['cause'], file: 't.ts' });
    assert.deepEqual(defs.get('y_seconds')?.labels, ['c', 'd']);
  });

  it('the checker rejects an unknown metric and an unknown label', () => {
    assert.throws(() => checkExpressions([{ where: 'x', expr: 'sum(sipflow_no_such_metric)' }]));
    assert.throws(() => checkExpressions([{ where: 'x', expr: 'sum(sipflow_calls_active{cause="x"})' }]));
    assert.throws(() => checkExpressions([{ where: 'x', expr: 'sum by (outcome) (sipflow_calls_active)' }]));
  });

  it('the dashboard JSON parses, is current, and covers what operators watch', async () => {
    const text = readFileSync(join(chartDir, 'files', 'dashboard.json'), 'utf8');
    const dash = JSON.parse(text) as { uid: string; panels: { id: number; title: string; type: string }[] };
    assert.equal(dash.uid, 'sipflow-overview');
    const ids = dash.panels.map((p) => p.id);
    assert.equal(new Set(ids).size, ids.length, 'unique panel ids');
    const titles = dash.panels.map((p) => p.title).join('\n');
    for (const t of ['Active calls', 'Answered vs rejected', 'Auth failures by cause', 'Lockouts', 'Answer URL latency', 'Stream events', 'Reconcile errors', 'Config refused']) {
      assert.ok(titles.includes(t), `a panel "${t}"`);
    }
    const res = await runCommand(process.execPath, [join(root, 'tools', 'chart', 'build-dashboard.mjs'), '--check']);
    assert.equal(res.code, 0, res.stderr);
  });

  it('every dashboard expression names registered metrics and labels', () => {
    const exprs = dashboardExpressions(JSON.parse(readFileSync(join(chartDir, 'files', 'dashboard.json'), 'utf8')));
    assert.ok(exprs.length >= 20);
    checkExpressions(exprs);
  });

  it('every alert expression names registered metrics and labels; the required alerts exist', () => {
    const exprs = alertExpressions();
    const names = exprs.map((e) => e.where);
    for (const a of ['SipflowLockoutStorm', 'SipflowAnswerUrlFailing', 'SipflowReconcileErrors', 'SipflowConfigRefused', 'SipflowMediaStalls']) {
      assert.ok(names.includes(`alert ${a}`), a);
    }
    checkExpressions(exprs);
    const refused = parseYaml(readFileSync(join(chartDir, 'files', 'alerts.yaml'), 'utf8')) as {
      groups: { rules: { alert: string; expr: string; for?: string }[] }[];
    };
    const rule = refused.groups.flatMap((g) => g.rules).find((r) => r.alert === 'SipflowConfigRefused');
    assert.match(rule?.expr ?? '', /sipflow_config_refused\)? == 1/);
    assert.equal(rule?.for, '5m');
  });
});
