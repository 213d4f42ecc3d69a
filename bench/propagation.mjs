#!/usr/bin/env node
// Issue #5 (a), propagation: how long after `kubectl apply` of a new SipApplication (IpAcl auth,
// loopback ACL) does a media pod in `--kube` mode accept the first call for it? The operator runs
// as `sipflow-operator run` and the pod as `sipflow-media --kube`, both child processes against a
// real kube-apiserver; a UDP probe sends an INVITE for the new appId every 20 ms until one gets
// 180 Ringing (routing and ACL passed) instead of 404.
//
// Baseline, interleaved in the same run: a `--config-dir` media pod whose files the harness
// writes directly (render done beforehand), the same probe — what a reader sees with zero API
// and operator latency. The mounted-ConfigMap path (kubelet sync, up to about a minute) is the
// reference the issue names; it is stated, not measured.
//
// usage: node bench/propagation.mjs [--iterations N] [--interval-ms MS] [--no-write]
// Needs `npx tsc -b` and the control-plane binaries (tools/k8s-bins/build.sh). Results:
// bench/out/operator-propagation.json and bench/RESULTS-operator.md; logs in bench/out/.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Watch } from '@kubernetes/client-node';
import {
  InviteProbe, OUTPUT_NAMESPACE, OUT_DIR, REPO_DIR, fmt, machineInfo, requireDist, sleep, startCluster,
  startHangupAnswerServer, startMediaPodProcess, startOperatorProcess, summarize, writeResultsFile,
} from './operator-lib.mjs';

const TARGET_P99_MS = 1000;
const APP_NS = 'bench';

const argv = process.argv.slice(2);
const arg = (name, dflt) => { const i = argv.indexOf(name); return i >= 0 ? Number(argv[i + 1]) : dflt; };
const iterations = arg('--iterations', 30);
const intervalMs = arg('--interval-ms', 20);
const noWrite = argv.includes('--no-write');
const command = `node bench/propagation.mjs${argv.length ? ' ' + argv.join(' ') : ''}`;

requireDist();
const { render, writeContractFiles } = await import(path.join(REPO_DIR, 'operator', 'dist', 'render', 'index.js'));

const log = (msg) => process.stderr.write(`[propagation] ${msg}\n`);

const ipAcl = {
  apiVersion: 'sipflow.io/v1alpha1', kind: 'IpAcl', metadata: { name: 'loopback', namespace: APP_NS },
  spec: { entries: [{ ip: '127.0.0.1', cidrPrefix: 32 }] },
};
const app = (name, answerUrl) => ({
  apiVersion: 'sipflow.io/v1alpha1', kind: 'SipApplication', metadata: { name, namespace: APP_NS },
  spec: { appId: name, answerUrl, sipAuth: { type: 'IpAcl', ipAclRefs: [{ name: 'loopback' }] } },
});

const machine = machineInfo();
const started = new Date();
let cluster;
let operator;
let kubePod;
let dirPod;
let answer;
let probe;
let indexWatch;
const configDir = fs.mkdtempSync(path.join(os.tmpdir(), 'sipflow-bench-propagation-'));
try {
  log('starting the control plane');
  cluster = await startCluster([OUTPUT_NAMESPACE, APP_NS]);
  const { cp, kubectlOk } = cluster;
  answer = await startHangupAnswerServer();
  const answerUrl = `${answer.url}/answer`;
  const apply = (objs) => kubectlOk(['apply', '-f', '-'], JSON.stringify({ apiVersion: 'v1', kind: 'List', items: objs }));

  await apply([ipAcl, app('seed', answerUrl)]);
  log('starting the operator and the --kube media pod');
  operator = await startOperatorProcess({ kubeconfig: cp.kubeconfigPath, sipDomain: 'sip.bench', logFile: path.join(OUT_DIR, 'operator-propagation-operator.log') });
  const rtpBase = 40000 + (process.pid % 40) * 200;
  kubePod = await startMediaPodProcess({ source: 'kube', kubeconfig: cp.kubeconfigPath, logFile: path.join(OUT_DIR, 'operator-propagation-kube-pod.log'), rtpPorts: `${rtpBase}-${rtpBase + 99}` });

  // Baseline pod: the same objects rendered offline, written as the --config-dir layout.
  const dirObjects = [ipAcl, app('seed', answerUrl)];
  writeContractFiles(configDir, render({ objects: dirObjects, sipDomain: 'sip.bench' }));
  dirPod = await startMediaPodProcess({ source: 'config-dir', configDir, logFile: path.join(OUT_DIR, 'operator-propagation-dir-pod.log'), rtpPorts: `${rtpBase + 100}-${rtpBase + 199}` });

  // When the index the operator wrote reaches a watcher (this process): the breakdown's middle step.
  const indexSeen = [];
  const { loadKubeConfig } = await import(path.join(REPO_DIR, 'operator', 'dist', 'runtime', 'kubeconfig.js'));
  const watch = new Watch(loadKubeConfig(cp.kubeconfigPath));
  indexWatch = await watch.watch(`/api/v1/namespaces/${OUTPUT_NAMESPACE}/configmaps`, { fieldSelector: 'metadata.name=sipflow-routing-index' },
    (type, obj) => {
      if (type !== 'ADDED' && type !== 'MODIFIED') return;
      try { indexSeen.push({ at: performance.now(), appCount: JSON.parse(obj.data['index.json']).appCount }); } catch { /* not an index */ }
      if (indexSeen.length > 1000) indexSeen.splice(0, 500);
    }, (err) => { if (err && err.name !== 'AbortError') log(`index watch ended: ${err.message ?? err}`); });

  probe = await InviteProbe.open();
  const kubeTarget = { host: '127.0.0.1', port: kubePod.sipPort };
  const dirTarget = { host: '127.0.0.1', port: dirPod.sipPort };
  await probe.untilAccepted(kubeTarget, 'seed', { intervalMs, timeoutMs: 60_000 });
  await probe.untilAccepted(dirTarget, 'seed', { intervalMs, timeoutMs: 30_000 });
  log('both pods serve the seed app; measuring');

  const kube = [];
  const dir = [];
  let kubeApps = 1;
  const runKube = async (i) => {
    const name = `prop-k-${i}`;
    const manifest = JSON.stringify({ apiVersion: 'v1', kind: 'List', items: [app(name, answerUrl)] });
    kubeApps++;
    const t0 = performance.now();
    const accepted = probe.untilAccepted(kubeTarget, name, { intervalMs, timeoutMs: 30_000 });
    const applied = cp.kubectl(['apply', '-f', '-'], { input: manifest }).then((r) => {
      if (r.code !== 0) throw new Error(`kubectl apply ${name}: ${r.stderr}`);
      return performance.now();
    });
    const [a, appliedAt] = await Promise.all([accepted, applied]);
    const seen = indexSeen.find((e) => e.at >= t0 && e.appCount >= kubeApps);
    return { app: name, totalMs: a.acceptedAt - t0, applyReturnedMs: appliedAt - t0, indexSeenMs: seen ? seen.at - t0 : NaN, invites: a.invites, statuses: a.statuses };
  };
  const runDir = async (i) => {
    const name = `prop-d-${i}`;
    dirObjects.push(app(name, answerUrl));
    const r0 = performance.now();
    const rendered = render({ objects: dirObjects, sipDomain: 'sip.bench' });
    const renderMs = performance.now() - r0;
    const t0 = performance.now();
    const accepted = probe.untilAccepted(dirTarget, name, { intervalMs, timeoutMs: 30_000 });
    writeContractFiles(configDir, rendered);
    const written = performance.now();
    const a = await accepted;
    return { app: name, totalMs: a.acceptedAt - t0, writeMs: written - t0, renderMs, invites: a.invites, statuses: a.statuses };
  };

  // One warm-up round each (kubectl's discovery cache, first shard split), then interleaved rounds.
  await runKube('warmup');
  await runDir('warmup');
  for (let i = 0; i < iterations; i++) {
    const pair = i % 2 === 0 ? [runKube, runDir] : [runDir, runKube];
    for (const run of pair) {
      const r = await run(i);
      (run === runKube ? kube : dir).push(r);
      // Let status writes and Events of the last change settle; jitter so nothing phase-locks.
      await sleep(400 + Math.random() * 400);
    }
    if ((i + 1) % 10 === 0) log(`${i + 1}/${iterations}: last --kube ${fmt(kube.at(-1).totalMs)} ms, --config-dir ${fmt(dir.at(-1).totalMs)} ms`);
  }

  const k = summarize(kube.map((r) => r.totalMs));
  const d = summarize(dir.map((r) => r.totalMs));
  const kApply = summarize(kube.map((r) => r.applyReturnedMs));
  const kIndex = summarize(kube.map((r) => r.indexSeenMs).filter(Number.isFinite));
  const kAfterIndex = summarize(kube.filter((r) => Number.isFinite(r.indexSeenMs)).map((r) => r.totalMs - r.indexSeenMs));
  const ratio = (a, b) => (Number.isFinite(a) && Number.isFinite(b) && b > 0 ? `${(a / b).toFixed(2)}×` : 'n/a');
  const rows = [
    [`Propagation p50: \`kubectl apply\` of a new IpAcl SipApplication → first INVITE accepted (180) by a \`--kube\` media pod (ms, n=${k.n}; baseline: \`--config-dir\` pod, files written by the harness)`, fmt(k.p50), fmt(d.p50), ratio(k.p50, d.p50), '', ''],
    ['Propagation p99 (ms)', fmt(k.p99), fmt(d.p99), ratio(k.p99, d.p99), `< ${TARGET_P99_MS}`, k.p99 < TARGET_P99_MS ? 'yes' : '**no**'],
    ['  of which `kubectl apply` returned, p50 (ms)', fmt(kApply.p50), '', '', '', ''],
    ['  of which the operator\'s new index reached a watcher, p50 (ms from apply)', fmt(kIndex.p50), '', '', '', ''],
    ['  index at a watcher → pod accepts, p50 / p99 (ms)', `${fmt(kAfterIndex.p50)} / ${fmt(kAfterIndex.p99)}`, '', '', '', ''],
    ['Reference (not measured): a pod reading a mounted ConfigMap volume', `${fmt(k.p99)} (p99)`, '≈ 60 000–90 000 (kubelet sync period 60 s + ConfigMap cache TTL)', ratio(k.p99, 60_000) + ' of 60 s', '', ''],
  ];
  const result = {
    date: started.toISOString(), machine, command, iterations, intervalMs,
    kube: { summary: k, applyReturned: kApply, indexSeen: kIndex, afterIndex: kAfterIndex, runs: kube },
    configDir: { summary: d, runs: dir },
    rows,
    notes: [
      `Each round: one new SipApplication (\`sipAuth.type: IpAcl\`, ACL 127.0.0.1/32) per mode; ${iterations} rounds, the two modes interleaved (order alternating), 0.4–0.8 s pause after each; one warm-up round each not counted. Probe: a fresh UDP INVITE every ${intervalMs} ms (resolution ${intervalMs} ms, the same for both modes); "accepted" = 180 Ringing, sent by the pod only after routing and the IP ACL passed; the probe then CANCELs.`,
      '`--kube`: `kubectl apply` (a new process each time, discovery cached) → kube-apiserver → `sipflow-operator run` (informer, render, server-side apply of the changed routing shard, then the index) → the pod\'s informers (50 ms debounce) → config swap. Control plane, operator, pod and probe share the machine.',
      '`--config-dir` baseline: the harness renders beforehand (not timed) and writes the files (`writeContractFiles`: shards, then index.json by rename); the pod notices via fs.watch and debounces 150 ms before reloading — that debounce is most of the baseline, so it is not a hard floor below which `--kube` cannot go.',
      'Mounted ConfigMap reference: a pod reading a ConfigMap volume sees a change only after the kubelet\'s next sync of the pod (default `--sync-frequency` 1 min) plus its ConfigMap cache TTL, i.e. up to about 60–90 s; the issue names it as the figure to beat. Not measured here (no kubelet in the test control plane).',
    ],
  };
  fs.writeFileSync(path.join(OUT_DIR, 'operator-propagation.json'), JSON.stringify(result, null, 2));
  if (!noWrite) writeResultsFile();
  process.stdout.write(JSON.stringify({ kube: k, configDir: d, applyReturned: kApply, indexSeen: kIndex, afterIndex: kAfterIndex }, null, 2) + '\n');
} finally {
  indexWatch?.abort();
  probe?.close();
  await kubePod?.stop('SIGINT');
  await dirPod?.stop('SIGINT');
  await operator?.stop('SIGTERM');
  await answer?.close();
  await cluster?.cp.stop();
  fs.rmSync(configDir, { recursive: true, force: true });
}
