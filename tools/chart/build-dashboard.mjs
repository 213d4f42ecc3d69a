#!/usr/bin/env node
// Writes charts/sipflow/files/dashboard.json (the Grafana dashboard the chart ships) from the panel
// list below, so panel layout and ids stay consistent. Usage: node tools/chart/build-dashboard.mjs [--check]
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const out = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'charts', 'sipflow', 'files', 'dashboard.json');
const ns = 'namespace=~"$namespace"';
const rate = (metric, extra = '') => `rate(${metric}{${ns}${extra}}[$__rate_interval])`;

/** [title, type, unit, [[expr, legend]...], width] — rows of 24 columns, laid out in order. */
const rows = [
  ['Calls', [
    ['Active calls', 'stat', 'short', [[`sum(sipflow_calls_active{${ns}})`, 'active']], 4],
    ['Active streams', 'stat', 'short', [[`sum(sipflow_streams_active{${ns}})`, 'streams']], 4],
    ['Draining pods', 'stat', 'short', [[`sum(sipflow_draining{${ns}})`, 'draining']], 4],
    ['Active calls by pod', 'timeseries', 'short', [[`sum by (pod) (sipflow_calls_active{${ns}})`, '{{pod}}']], 12],
    ['INVITEs by outcome', 'timeseries', 'reqps', [[`sum by (outcome) (${rate('sipflow_sip_invites_total')})`, '{{outcome}}']], 12],
    ['Answered vs rejected', 'timeseries', 'percentunit', [
      [`sum(${rate('sipflow_sip_invites_total', ',outcome="answered"')}) / sum(${rate('sipflow_sip_invites_total')})`, 'answered'],
      [`sum(${rate('sipflow_sip_invites_total', ',outcome="rejected"')}) / sum(${rate('sipflow_sip_invites_total')})`, 'rejected'],
    ], 12],
    ['Rejections by cause', 'timeseries', 'reqps', [[`sum by (cause) (${rate('sipflow_sip_rejections_total')})`, '{{cause}}']], 12],
    ['Calls ended by hangup cause', 'timeseries', 'short', [[`sum by (cause_code) (increase(sipflow_calls_ended_total{${ns}}[$__rate_interval]))`, '{{cause_code}}']], 12],
  ]],
  ['Authentication', [
    ['Auth failures by cause', 'timeseries', 'reqps', [[`sum by (cause) (${rate('sipflow_auth_failures_total')})`, '{{cause}}']], 8],
    ['Lockouts', 'timeseries', 'short', [[`sum(increase(sipflow_auth_lockouts_total{${ns}}[$__rate_interval]))`, 'new lockouts']], 8],
    ['Locked-out sources', 'timeseries', 'short', [[`sum by (pod) (sipflow_auth_locked_sources{${ns}})`, '{{pod}}']], 8],
  ]],
  ['Answer URL', [
    ['Answer URL latency', 'timeseries', 's', [
      [`histogram_quantile(0.5, sum by (le) (${rate('sipflow_answer_url_duration_seconds_bucket', ',purpose="answer"')}))`, 'p50'],
      [`histogram_quantile(0.99, sum by (le) (${rate('sipflow_answer_url_duration_seconds_bucket', ',purpose="answer"')}))`, 'p99'],
    ], 12],
    ['Callback fetches by purpose and result', 'timeseries', 'reqps', [[`sum by (purpose, result) (${rate('sipflow_answer_url_duration_seconds_count')})`, '{{purpose}} {{result}}']], 12],
  ]],
  ['Streams and media', [
    ['Stream events', 'timeseries', 'short', [[`sum by (event) (increase(sipflow_stream_events_total{${ns}}[$__rate_interval]))`, '{{event}}']], 12],
    ['SIP messages by transport and kind', 'timeseries', 'reqps', [[`sum by (transport, kind) (${rate('sipflow_sip_messages_total')})`, '{{transport}} {{kind}}']], 12],
    ['SIP TCP/TLS connections closed by reason', 'timeseries', 'short', [[`sum by (transport, reason) (increase(sipflow_sip_connections_closed_total{${ns}}[$__rate_interval]))`, '{{transport}} {{reason}}']], 12],
    ['RTP packets of ended calls by kind (srtp_rejected: failed SRTP authentication)', 'timeseries', 'pps', [[`sum by (kind) (${rate('sipflow_rtp_packets_total')})`, '{{kind}}']], 12],
    ['Answered calls that got no RTP from the caller', 'timeseries', 'short', [[`sum by (pod) (increase(sipflow_calls_without_inbound_rtp_total{${ns}}[$__rate_interval]))`, '{{pod}}']], 12],
    ['Loss callers report on our audio (RTCP)', 'timeseries', 'percentunit', [
      [`histogram_quantile(0.5, sum by (le) (${rate('sipflow_call_far_end_loss_ratio_bucket')}))`, 'p50'],
      [`histogram_quantile(0.95, sum by (le) (${rate('sipflow_call_far_end_loss_ratio_bucket')}))`, 'p95'],
    ], 12],
    ['Media round-trip time (RTCP)', 'timeseries', 's', [
      [`histogram_quantile(0.5, sum by (le) (${rate('sipflow_call_rtt_seconds_bucket')}))`, 'p50'],
      [`histogram_quantile(0.95, sum by (le) (${rate('sipflow_call_rtt_seconds_bucket')}))`, 'p95'],
    ], 12],
    ['Audio gaps after media pacer stalls, by pod (ticks missed; frames of speech dropped)', 'timeseries', 'short', [
      [`sum by (pod) (increase(sipflow_media_frames_skipped_total{${ns}}[$__rate_interval]))`, '{{pod}} missed'],
      [`sum by (pod) (increase(sipflow_media_frames_dropped_total{${ns}}[$__rate_interval]))`, '{{pod}} dropped'],
    ], 12],
    ['Recordings by outcome', 'timeseries', 'short', [[`sum by (outcome) (increase(sipflow_recordings_total{${ns}}[$__rate_interval]))`, '{{outcome}}']], 12],
  ]],
  ['Config and operator', [
    ['Config refused (serving older config)', 'timeseries', 'short', [[`max by (pod) (sipflow_config_refused{${ns}})`, '{{pod}}']], 8],
    ['Applications served', 'timeseries', 'short', [[`max by (pod) (sipflow_config_applications{${ns}})`, '{{pod}}']], 8],
    ['Config reloads by result', 'timeseries', 'short', [[`sum by (result) (increase(sipflow_config_reloads_total{${ns}}[$__rate_interval]))`, '{{result}}']], 8],
    ['Reconciles by controller and result', 'timeseries', 'ops', [[`sum by (controller, result) (${rate('controller_runtime_reconcile_total')})`, '{{controller}} {{result}}']], 8],
    ['Reconcile errors', 'timeseries', 'ops', [[`sum by (controller) (${rate('controller_runtime_reconcile_errors_total')})`, '{{controller}}']], 8],
    ['Work queue depth and leader', 'timeseries', 'short', [
      [`sum(workqueue_depth{${ns}})`, 'queue depth'],
      [`sum(sipflow_operator_leader{${ns}})`, 'leaders'],
    ], 8],
  ]],
];

function build() {
  const panels = [];
  let id = 1;
  let y = 0;
  for (const [rowTitle, row] of rows) {
    panels.push({ id: id++, type: 'row', title: rowTitle, collapsed: false, gridPos: { h: 1, w: 24, x: 0, y }, panels: [] });
    y += 1;
    let x = 0;
    for (const [title, type, unit, targets, w] of row) {
      if (x + w > 24) { x = 0; y += 8; }
      panels.push({
        id: id++,
        type,
        title,
        datasource: { type: 'prometheus', uid: '${datasource}' },
        gridPos: { h: type === 'stat' ? 4 : 8, w, x, y },
        fieldConfig: { defaults: { unit }, overrides: [] },
        options: type === 'stat' ? { reduceOptions: { calcs: ['lastNotNull'] } } : { legend: { displayMode: 'list', placement: 'bottom' } },
        targets: targets.map(([expr, legendFormat], i) => ({ refId: String.fromCharCode(65 + i), expr, legendFormat })),
      });
      x += w;
    }
    y += 8;
  }
  return {
    title: 'sipflow',
    uid: 'sipflow-overview',
    description: 'sipflow media pods and operator: calls, authentication, answer URL, streams, config.',
    tags: ['sipflow', 'sip', 'voice'],
    editable: true,
    schemaVersion: 39,
    version: 1,
    refresh: '30s',
    time: { from: 'now-6h', to: 'now' },
    templating: {
      list: [
        { name: 'datasource', type: 'datasource', query: 'prometheus', label: 'Data source' },
        {
          name: 'namespace', type: 'query', label: 'Namespace', multi: true, includeAll: true,
          datasource: { type: 'prometheus', uid: '${datasource}' },
          query: { query: 'label_values(sipflow_calls_active, namespace)', refId: 'namespace' },
          definition: 'label_values(sipflow_calls_active, namespace)', refresh: 2,
        },
      ],
    },
    panels,
  };
}

const text = JSON.stringify(build(), null, 2) + '\n';
if (process.argv.includes('--check')) {
  if (readFileSync(out, 'utf8') !== text) { process.stderr.write(`${out} is stale; run node tools/chart/build-dashboard.mjs\n`); process.exit(1); }
} else {
  writeFileSync(out, text);
  process.stdout.write(`wrote ${out}\n`);
}
