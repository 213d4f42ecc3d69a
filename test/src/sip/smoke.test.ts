import { test } from 'node:test';
import assert from 'node:assert/strict';
import plivo from 'plivo';
import { startTestAnswerServer } from '../support/answer-server.js';
import { startTestPod } from '../support/pod.js';
import { runSipp } from '../support/sipp.js';
import { loopbackAppManifests } from '../support/manifests.js';

test('an IP-ACL application answers a sipp call, and the answer and hangup callbacks carry Plivo parameters', async () => {
  const answer = await startTestAnswerServer();
  const r = plivo.Response();
  r.addSpeak('Hello from the test');
  r.addHangup();
  answer.route('/answer', r.toXML());
  const t = await startTestPod({ manifests: loopbackAppManifests('smoke', `${answer.url}/answer`, `${answer.url}/hangup`) });
  try {
    const res = await runSipp({ scenario: 'builtin:uac', service: 'smoke', target: `127.0.0.1:${t.sipPort}`, args: ['-d', '100'] , timeoutSec: 20 });
    const ans = await answer.waitFor('/answer');
    assert.equal(ans.params.Event, 'StartApp');
    assert.equal(ans.params.CallStatus, 'ringing');
    assert.equal(ans.params.Direction, 'inbound');
    assert.equal(ans.params.SIPAuthType, 'ip_acl');
    assert.equal(ans.params.SIPSourceIP, '127.0.0.1');
    const hang = await answer.waitFor('/hangup');
    assert.equal(hang.params.CallUUID, ans.params.CallUUID);
    assert.equal(hang.params.Event, 'Hangup');
    assert.ok(['4000', '4010'].includes(hang.params.HangupCauseCode ?? ''), `cause ${hang.params.HangupCauseCode}`);
    assert.equal(res.failed, 0, res.errors);
    assert.equal(res.successful, 1, res.stdout.slice(-2000));
  } finally {
    await t.stop();
    await answer.close();
  }
});
