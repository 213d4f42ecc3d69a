import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { OperatorMetrics, startProbeServer } from './metrics.js';
import { parseListen } from './cli/run.js';

describe('OperatorMetrics and the probe server', () => {
  it('serves controller-runtime and sipflow metrics, and the probes with their status codes', async () => {
    const m = new OperatorMetrics();
    m.reconciled('sipflow-config', 'success', 0.02);
    m.reconciled('sipflow-config', 'error', 0.5);
    m.add('sipflow-config');
    m.depth('sipflow-config', 3);
    m.retry('sipflow-config');
    m.setConfig({ generation: 'g1', applications: 2, bytes: 1234, routingShards: 1, credentialShards: 1 });
    m.setConfig({ generation: 'g2', applications: 3, bytes: 2345, routingShards: 2, credentialShards: 1 });
    m.setLeader(true);
    m.event('sent');
    m.event('dropped', 5);
    let ready = false;
    const srv = await startProbeServer({
      host: '127.0.0.1', port: 0, metrics: m,
      healthz: () => ({ ok: true, detail: 'informers connected' }),
      readyz: () => ({ ok: ready, detail: ready ? 'leading' : 'caches not synced yet' }),
    });
    try {
      const base = `http://${srv.address}`;
      const text = await (await fetch(`${base}/metrics`)).text();
      assert.match(text, /controller_runtime_reconcile_total\{controller="sipflow-config",result="success"\} 1/);
      assert.match(text, /controller_runtime_reconcile_errors_total\{controller="sipflow-config"\} 1/);
      assert.match(text, /controller_runtime_reconcile_time_seconds_count\{controller="sipflow-config"\} 2/);
      assert.match(text, /workqueue_depth\{name="sipflow-config"\} 3/);
      assert.match(text, /workqueue_retries_total\{name="sipflow-config"\} 1/);
      assert.match(text, /workqueue_adds_total\{name="sipflow-config"\} 1/);
      assert.match(text, /sipflow_operator_config_generation_info\{generation="g2"\} 1/);
      assert.doesNotMatch(text, /generation="g1"/, 'only the current generation is reported');
      assert.match(text, /sipflow_operator_config_applications 3/);
      assert.match(text, /sipflow_operator_config_shards\{kind="routing"\} 2/);
      assert.match(text, /sipflow_operator_leader 1/);
      assert.match(text, /sipflow_operator_events_total\{outcome="sent"\} 1/);
      assert.match(text, /sipflow_operator_events_total\{outcome="dropped"\} 5/);
      const h = await fetch(`${base}/healthz`);
      assert.equal(h.status, 200);
      const r1 = await fetch(`${base}/readyz`);
      assert.equal(r1.status, 503);
      assert.match(await r1.text(), /caches not synced/);
      ready = true;
      assert.equal((await fetch(`${base}/readyz`)).status, 200);
      assert.equal((await fetch(`${base}/nope`)).status, 404);
      assert.equal((await fetch(`${base}/metrics`, { method: 'POST' })).status, 405);
    } finally {
      await srv.close();
    }
  });

  it('parses --http-listen', () => {
    assert.deepEqual(parseListen('127.0.0.1:8080'), { host: '127.0.0.1', port: 8080 });
    assert.deepEqual(parseListen('[::1]:0'), { host: '::1', port: 0 });
    assert.deepEqual(parseListen(':9090'), { host: '0.0.0.0', port: 9090 });
    assert.throws(() => parseListen('8080'), /HOST:PORT/);
    assert.throws(() => parseListen('x:70000'), /HOST:PORT/);
  });
});
