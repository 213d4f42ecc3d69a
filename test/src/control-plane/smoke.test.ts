// Smoke test of the real test control plane: the API answers, and kube-controller-manager's
// garbage collector and namespace controller act as in a cluster; stopping leaves no process behind.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import {
  controlPlaneSkipReason,
  isProcessRunning,
  pinnedKubernetesVersion,
  pollUntil,
  startControlPlane,
  type ControlPlane,
} from '../support/control-plane.js';

const skip = await controlPlaneSkipReason();

function ok(res: { code: number; stdout: string; stderr: string }, what: string): string {
  assert.equal(res.code, 0, `${what} failed: ${res.stderr}`);
  return res.stdout;
}

describe('test control plane (etcd + kube-apiserver + kube-controller-manager)', { skip }, () => {
  let cp: ControlPlane;
  let pids: Record<string, number> = {};
  const ns = `smoke-${randomBytes(4).toString('hex')}`;

  before(async () => {
    cp = await startControlPlane();
    pids = await cp.pids();
  });
  after(async () => {
    await cp?.stop();
  });

  it('records a running process for each component', () => {
    for (const name of ['etcd', 'apiserver', 'kube-controller-manager', 'watchdog']) {
      const pid = pids[name];
      assert.ok(pid !== undefined, `no pid file for ${name}`);
      assert.ok(isProcessRunning(pid), `${name} (pid ${pid}) is not running`);
    }
  });

  it('serves the pinned Kubernetes version to kubectl', async () => {
    const out = ok(await cp.kubectl(['version', '-o', 'json']), 'kubectl version');
    const v = JSON.parse(out) as { clientVersion?: { gitVersion?: string }; serverVersion?: { gitVersion?: string } };
    assert.equal(v.serverVersion?.gitVersion, pinnedKubernetesVersion());
    assert.equal(v.clientVersion?.gitVersion, 'v1.35.2');
  });

  it('creates a namespace that becomes Active and gets a default ServiceAccount', async () => {
    ok(await cp.kubectl(['create', 'namespace', ns]), 'create namespace');
    const phase = ok(await cp.kubectl(['get', 'namespace', ns, '-o', 'jsonpath={.status.phase}']), 'get namespace');
    assert.equal(phase, 'Active');
    // Only the serviceaccount controller (in kube-controller-manager) creates it.
    await pollUntil(`ServiceAccount default in ${ns}`, async () =>
      (await cp.kubectl(['get', 'serviceaccount', 'default', '-n', ns])).code === 0 ? true : undefined,
    );
  });

  it('garbage-collects a ConfigMap whose owner ConfigMap was deleted', async () => {
    ok(await cp.kubectl(['create', 'configmap', 'owner', '-n', ns, '--from-literal=role=owner']), 'create owner');
    const uid = ok(await cp.kubectl(['get', 'configmap', 'owner', '-n', ns, '-o', 'jsonpath={.metadata.uid}']), 'get owner uid');
    assert.match(uid, /^[0-9a-f-]{36}$/);
    const dependent = {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: {
        name: 'dependent',
        namespace: ns,
        ownerReferences: [{ apiVersion: 'v1', kind: 'ConfigMap', name: 'owner', uid }],
      },
      data: { role: 'dependent' },
    };
    ok(await cp.kubectl(['apply', '-f', '-'], { input: JSON.stringify(dependent) }), 'apply dependent');
    const ownerName = ok(
      await cp.kubectl(['get', 'configmap', 'dependent', '-n', ns, '-o', 'jsonpath={.metadata.ownerReferences[0].name}']),
      'get dependent',
    );
    assert.equal(ownerName, 'owner');

    ok(await cp.kubectl(['delete', 'configmap', 'owner', '-n', ns, '--wait=true']), 'delete owner');
    const gone = await pollUntil('garbage collection of ConfigMap dependent', async () => {
      const res = await cp.kubectl(['get', 'configmap', 'dependent', '-n', ns, '-o', 'name']);
      if (res.code === 0) return undefined;
      return res.stderr;
    });
    assert.match(gone, /NotFound|not found/);
  });

  it('finishes deleting a namespace (namespace controller)', async () => {
    ok(await cp.kubectl(['delete', 'namespace', ns, '--wait=false']), 'delete namespace');
    const gone = await pollUntil(`deletion of namespace ${ns}`, async () => {
      const res = await cp.kubectl(['get', 'namespace', ns, '-o', 'name']);
      return res.code === 0 ? undefined : res.stderr;
    });
    assert.match(gone, /NotFound|not found/);
  });

  it('stops every process it started and removes its working dir', async () => {
    const dir = cp.dir;
    assert.equal(Object.keys(pids).length, 4);
    await cp.stop();
    for (const [name, pid] of Object.entries(pids)) {
      assert.equal(isProcessRunning(pid), false, `${name} (pid ${pid}) still running after stop()`);
    }
    assert.equal(existsSync(dir), false);
  });
});

describe('test control plane watchdog', { skip }, () => {
  it('stops the control plane and removes its dir when the owning process dies', async (t) => {
    // A stand-in owner, so the test can kill "the test process" without killing itself.
    const owner = spawn('sleep', ['600'], { stdio: 'ignore' });
    t.after(() => owner.kill('SIGKILL'));
    assert.ok(owner.pid !== undefined);
    const cp = await startControlPlane({ ownerPid: owner.pid });
    t.after(() => cp.stop());
    const pids = await cp.pids();
    assert.ok(Object.values(pids).every(isProcessRunning), 'control plane not fully running');

    owner.kill('SIGKILL');
    await pollUntil('the watchdog to stop the control plane', async () =>
      Object.values(pids).some(isProcessRunning) || existsSync(cp.dir) ? undefined : true,
    );
    for (const [name, pid] of Object.entries(pids)) {
      assert.equal(isProcessRunning(pid), false, `${name} (pid ${pid}) survived its owner`);
    }
  });
});
